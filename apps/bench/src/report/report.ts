/**
 * Builds the report (Markdown and HTML share it) from results.json: the verdict first,
 * then a table of contents, the attack matrix, the charts, the details, and the
 * simulator's own speed in an appendix.
 */
import { NOT_MEASURED, SUMMARY_PROPERTIES } from '../attacks.js';
import type { BenchResults, LifecycleRow, ResultRow } from '../results.js';
import { barSpec, renderSvg, sweepSpec } from './charts.js';
import { type Block, type Cell, slug, type Tone } from './doc.js';
import { eventList, KEY_EVENTS, num, phasesOf, rate, uniq } from './format.js';
import { fragmentationBlocks } from './fragmentation.js';
import { lifecycleBlocks, RELOAD_TARGET_MS } from './lifecycle.js';
import { ASSIGN, MEMCPY, PROPERTIES, scalingFor, scalingText, verdictRows } from './verdict.js';

function fullRows(r: BenchResults, workload: string, phase: string): ResultRow[] {
  return r.rows.filter((x) => x.scale === 'full' && x.workload === workload && x.phase === phase);
}

function sweepRows(r: BenchResults, workload: string, phase: string): ResultRow[] {
  return r.rows.filter((x) => x.scale === 'sweep' && x.workload === workload && x.phase === phase);
}

/** The project's targets for the simulator itself, checked against this run's figures. */
export function targetLines(r: BenchResults): string[] {
  const lines = [
    `whole run: ${(r.durationMs / 1000).toFixed(1)} s (target for the default run: under 120 s)`,
  ];
  const assign = r.rows.find(
    (x) => x.scale === 'full' && x.workload === 'wr-assign' && x.variant === 'x86-64/alias-mm',
  );
  if (assign)
    lines.push(
      `wrAssign on x86-64/alias-mm: ${rate(assign.wall.opsPerSec)} of wall time (target ≥ 1 M/s: ${assign.wall.opsPerSec >= 1e6 ? 'met' : 'not met'})`,
    );
  const policy = r.rows.filter((x) => x.scale === 'full' && x.workload === 'policydb');
  for (const v of uniq(policy.map((x) => x.variant))) {
    const rows = policy.filter((x) => x.variant === v);
    const ms = rows.reduce((a, x) => a + x.wall.medianMs, 0);
    const n = rows.find((x) => x.phase === 'build')?.size.allocations ?? 0;
    lines.push(
      `policydb life cycle (${n.toLocaleString('en-US')} allocations) on ${v}: ${num(ms)} ms wall, sum of phase medians (target < 1 s: ${ms < 1000 ? 'met' : 'not met'})`,
    );
  }
  const life = (r.lifecycle ?? []).filter((x): x is LifecycleRow => 'reloadMs' in x);
  if (life.length > 0) {
    const worst = life.reduce((a, x) => (x.medianReloadMs > a.medianReloadMs ? x : a));
    const failed = (r.lifecycle ?? []).length - life.length;
    lines.push(
      `memory life cycle (${life[0].cycles.toLocaleString('en-US')} pool cycles, ${life[0].reloads} reloads of ${life[0].objects.toLocaleString('en-US')} objects): ${life.length} of ${life.length + failed} variants completed; slowest median reload ${num(worst.medianReloadMs)} ms on ${worst.variant} (target < ${RELOAD_TARGET_MS} ms: ${failed === 0 && worst.medianReloadMs < RELOAD_TARGET_MS ? 'met' : 'not met'})`,
    );
  }
  return lines;
}

export interface ReportOptions {
  /** Render SVG charts (HTML); off for Markdown-only output. */
  readonly charts: boolean;
}

/** The anchor of an attack × variant cell of the matrix. */
export const attackCellId = (attack: string, variant: string) =>
  `a-${slug(`${attack} ${variant}`)}`;
/** The anchor of a variant's column (its header cell) in the matrix. */
export const variantColumnId = (variant: string) => `col-${slug(variant)}`;

const OUTCOME_TONE: Record<string, Tone> = {
  stopped: 'good',
  detected: 'good',
  window: 'warn',
  unprotected: 'bad',
  succeeded: 'bad',
  'n/a': 'neutral',
  error: 'bad',
};

function backendOf(r: BenchResults, variant: string): string {
  const v = r.variants.find((x) => x.id === variant);
  if (!v) return variant.split('/')[0];
  return v.profile ? `${v.arch}[${v.profile}]` : v.arch;
}

function verdict(r: BenchResults): Block[] {
  const fig = (x: number | undefined) => (x === undefined ? '—' : num(x));
  const evidence = r.security.evidence ?? {};
  const rows: Cell[][] = verdictRows(r).map((v) => [
    `\`${v.variant}\``,
    fig(v.assignCycles),
    fig(v.memcpyCycles),
    scalingText(v.scaling, num),
    fig(v.ipis),
    fig(v.tlbis),
    fig(v.hypercalls),
    ...v.properties.map((p, i) => {
      const key = SUMMARY_PROPERTIES[i];
      const attacks = evidence[key] ?? [];
      const first = attacks[0];
      return {
        text: p.text,
        tone: p.tone === 'unmeasured' ? ('unmeasured' as const) : p.tone,
        href:
          p.tone === 'unmeasured'
            ? undefined
            : first
              ? `#${attackCellId(first, v.variant)}`
              : `#${variantColumnId(v.variant)}`,
        mdHref: p.tone === 'unmeasured' ? undefined : '#attack-matrix',
        title: attacks.length > 0 ? `evidence: ${attacks.join(', ')}` : undefined,
      };
    }),
  ]);
  return [
    {
      kind: 'table',
      headers: [
        'mechanism',
        'cycles per `wrAssign`',
        'cycles per page `wrMemcpy`',
        'cost against CPUs',
        'IPIs per write',
        'TLBIs per write',
        'HVCs per write',
        ...PROPERTIES.map((p) => `${p.label}?`),
      ],
      numeric: [1, 2, 4, 5, 6],
      rows,
    },
    {
      kind: 'para',
      text: `Cycles are modeled on the calling CPU at ${r.referenceCpus} CPUs and ${r.clockGHz} GHz (full-size runs); “cost against CPUs” fits the \`wrAssign\` sweep over ${r.cpus.join(', ')} CPUs (flat: under 5 % growth over the sweep; the slope is the least-squares fit). IPIs, broadcast TLBIs and hypercalls are counted per \`wrAssign\`. Security cells are measured by the attack suite (${r.security.source ?? NOT_MEASURED}): green is what a defender wants, red is not, grey is n/a; ✓/✗ say the same without colour. Each cell links to its evidence in the [attack matrix](#attack-matrix).`,
    },
  ];
}

function attackMatrix(r: BenchResults): Block[] {
  const variants = r.variants.map((v) => v.id);
  const measured = variants.filter((v) => r.security.byVariant[v]);
  if (measured.length === 0)
    return [
      {
        kind: 'para',
        text: `No attack-suite results: security properties are ${NOT_MEASURED} (run \`pnpm attacks\`, or let prmem-bench run the suite).`,
      },
    ];
  const attacks = uniq(
    measured.flatMap((v) => r.security.byVariant[v]?.outcomes.map((o) => o.attack) ?? []),
  );
  const rows: Cell[][] = attacks.map((a) => [
    `\`${a}\``,
    ...variants.map((v): Cell => {
      const o = r.security.byVariant[v]?.outcomes.find((x) => x.attack === a);
      if (!o) return { text: '—', tone: 'unmeasured' };
      return {
        text: o.outcome,
        tone: OUTCOME_TONE[o.outcome] ?? 'neutral',
        id: attackCellId(a, v),
        ...(o.detail ? { title: o.detail } : {}),
      };
    }),
  ]);
  return [
    {
      kind: 'para',
      text: `Every attack of the suite against every mechanism (${r.security.source}). **stopped**: refused, target unchanged; **detected**: refused and recorded as a security event; **window**: landed while a documented write window was open; **unprotected**: landed where the mechanism documents no protection; **succeeded**: landed where nothing documents an opening; **n/a**: does not apply. Hover a cell for what happened.`,
    },
    {
      kind: 'table',
      grid: true,
      headers: ['attack', ...variants.map((v): Cell => ({ text: v, id: variantColumnId(v) }))],
      rows,
    },
  ];
}

async function charts(r: BenchResults, opts: ReportOptions): Promise<Block[]> {
  const b: Block[] = [];
  const bars = async (at: { workload: string; phase: string }, what: string) => {
    const rows = fullRows(r, at.workload, at.phase);
    if (rows.length === 0 || !opts.charts) return;
    const title = `${what}: modeled cycles per operation at ${r.referenceCpus} CPUs`;
    b.push({
      kind: 'chart',
      title,
      svg: await renderSvg(
        barSpec(
          title,
          rows.map((x) => ({
            variant: x.variant,
            arch: backendOf(r, x.variant),
            cycles: x.modeled.cyclesPerOp,
          })),
        ),
      ),
    });
  };
  await bars(ASSIGN, 'wrAssign of 8 bytes');
  await bars(MEMCPY, 'page-sized wrMemcpy');
  if (r.cpus.length > 1) {
    for (const { workload, phase } of phasesOf(r.rows)) {
      const rows = sweepRows(r, workload, phase).filter((x) => x.modeled.cyclesPerOp > 0);
      if (rows.length === 0 || !opts.charts) continue;
      const title = `${workload} · ${phase}: cycles per operation against CPU count (log–log)`;
      b.push({
        kind: 'chart',
        title,
        svg: await renderSvg(
          sweepSpec(
            title,
            rows.map((x) => ({
              variant: x.variant,
              backend: backendOf(r, x.variant),
              mechanism: x.mechanism,
              cpus: x.cpus,
              cycles: x.modeled.cyclesPerOp,
            })),
          ),
        ),
      });
    }
  }
  if (!opts.charts) b.push({ kind: 'para', text: 'The charts are in report.html.' });
  return b;
}

export async function buildReport(r: BenchResults, opts: ReportOptions): Promise<Block[]> {
  const b: Block[] = [];
  const phases = phasesOf(r.rows);
  const full = r.rows.filter((x) => x.scale === 'full');
  b.push({ kind: 'heading', level: 1, text: 'prmem-bench: write-rare mechanisms compared' });
  b.push({
    kind: 'para',
    text: `${r.variants.length} backend × mechanism variants, ${r.workloads.length} workloads, CPUs ${r.cpus.join(', ')}; seed ${r.seed}${r.quick ? ', **quick sizes**' : ''}; run ${r.createdAt}.`,
  });
  b.push(...verdict(r));
  if (r.failures.length > 0) {
    b.push({
      kind: 'para',
      text: `**${r.failures.length} point(s) failed** — see [Failures](#failures); their figures are missing above.`,
    });
  }
  b.push({ kind: 'toc' });

  b.push({ kind: 'heading', level: 2, text: 'Attack matrix' });
  b.push(...attackMatrix(r));

  b.push({ kind: 'heading', level: 2, text: 'Charts' });
  b.push(...(await charts(r, opts)));

  b.push({
    kind: 'heading',
    level: 2,
    text: `Cost per operation at ${r.referenceCpus} CPUs (full size)`,
  });
  b.push({
    kind: 'para',
    text: 'Modeled figures come from the machines’ event counters and each backend’s cost table: the same seed gives identical figures. `cycles/op` is the calling CPU’s time per operation (including waiting for IPI acknowledgements); `system cycles/op` is the work done on every CPU (IPI handlers, remote flushes).',
  });
  for (const { workload, phase } of phases) {
    const rows = fullRows(r, workload, phase);
    if (rows.length === 0) continue;
    b.push({ kind: 'heading', level: 3, text: `${workload} · ${phase}: ${rows[0].op}` });
    b.push({
      kind: 'table',
      headers: ['variant', 'ops', 'cycles/op', 'ns/op', 'system cycles/op', 'events/op'],
      numeric: [1, 2, 3, 4],
      rows: rows.map((x) => [
        x.variant,
        String(x.ops),
        num(x.modeled.cyclesPerOp),
        num(x.modeled.nsPerOp),
        num(x.modeled.systemCyclesPerOp),
        eventList(x),
      ]),
    });
  }

  if (r.cpus.length > 1) {
    b.push({ kind: 'heading', level: 2, text: 'Cost against CPU count (sweep size)' });
    b.push({
      kind: 'para',
      text: 'Calling-CPU cycles per operation at each CPU count. A flat row is a mechanism whose cost does not depend on how many CPUs there are; a growing one pays per CPU (IPIs, remote flushes).',
    });
    for (const { workload, phase } of phases) {
      const rows = sweepRows(r, workload, phase);
      if (rows.length === 0) continue;
      const cpus = uniq(rows.map((x) => x.cpus)).sort((a, c) => a - c);
      const variants = uniq(rows.map((x) => x.variant));
      b.push({ kind: 'heading', level: 3, text: `${workload} · ${phase}` });
      b.push({
        kind: 'table',
        headers: ['variant', ...cpus.map((c) => `${c} CPUs`), 'growth'],
        numeric: cpus.map((_, i) => i + 1),
        rows: variants.map((v) => [
          v,
          ...cpus.map((c) => {
            const x = rows.find((y) => y.variant === v && y.cpus === c);
            return x ? num(x.modeled.cyclesPerOp) : '—';
          }),
          scalingText(scalingFor(r, v, { workload, phase }), num),
        ]),
      });
    }
  }

  b.push({
    kind: 'heading',
    level: 2,
    text: `Every counted event per operation (${r.referenceCpus} CPUs, full size)`,
  });
  for (const { workload, phase } of phases) {
    const rows = fullRows(r, workload, phase);
    if (rows.length === 0) continue;
    const cols = KEY_EVENTS.filter((e) => rows.some((x) => x.modeled.events[e] > 0));
    b.push({ kind: 'heading', level: 3, text: `${workload} · ${phase}` });
    b.push({
      kind: 'table',
      headers: ['variant', ...cols, 'memAccess', 'wrBytes'],
      numeric: [...cols.map((_, i) => i + 1), cols.length + 1, cols.length + 2],
      rows: rows.map((x) => [
        x.variant,
        ...cols.map((e) => num(x.modeled.events[e])),
        num(x.modeled.events.memAccess),
        num(x.modeled.events.wrBytes),
      ]),
    });
  }

  b.push(...fragmentationBlocks(r));
  b.push(...lifecycleBlocks(r));

  b.push({ kind: 'heading', level: 2, text: 'Mechanisms' });
  b.push({
    kind: 'table',
    headers: ['variant', 'TLB maintenance', 'mechanism (its own summary)'],
    rows: r.variants.map((v) => [v.id, v.tlbMaintenance, v.summary]),
  });

  b.push({ kind: 'heading', level: 2, text: 'Cost tables' });
  const seen = new Set<string>();
  for (const v of r.variants) {
    const key = v.profile ? `${v.arch}[${v.profile}]` : v.arch;
    if (seen.has(key)) continue;
    seen.add(key);
    b.push({ kind: 'heading', level: 3, text: key });
    b.push({
      kind: 'table',
      headers: ['event', 'cycles', 'source'],
      numeric: [1],
      rows: Object.entries(v.costs).map(([e, f]) => [
        e,
        num(f.cycles),
        `${f.estimate ? '(estimate) ' : ''}${f.source}`,
      ]),
    });
  }
  if (r.machine.costs) {
    b.push({
      kind: 'para',
      text: `Overridden by the config: ${Object.entries(r.machine.costs)
        .map(([k, c]) => `${k} = ${c}`)
        .join(', ')}.`,
    });
  }
  b.push({ kind: 'heading', level: 2, text: 'Workloads' });
  b.push({ kind: 'list', items: r.workloads.map((w) => `\`${w.name}\`: ${w.description}`) });

  if (r.skipped.length > 0) {
    b.push({ kind: 'heading', level: 2, text: 'Skipped' });
    b.push({ kind: 'list', items: r.skipped.map((s) => `${s.what}: ${s.reason}`) });
  }
  if (r.failures.length > 0) {
    b.push({ kind: 'heading', level: 2, text: 'Failures' });
    b.push({
      kind: 'list',
      items: r.failures.map(
        (f) => `${f.variant} · ${f.workload} · ${f.cpus} CPUs (${f.scale}): ${f.error}`,
      ),
    });
  }

  b.push({ kind: 'heading', level: 2, text: 'Appendix: the simulator’s own speed' });
  b.push({
    kind: 'para',
    text: '`wall ops/s` is the simulator’s speed on this host (median of repeated runs) and says nothing about the hardware being modeled.',
  });
  b.push({ kind: 'list', items: targetLines(r) });
  b.push({
    kind: 'list',
    items: [
      `host: Node ${r.host.node}, ${r.host.platform}/${r.host.arch}, ${r.host.hostCpus} CPUs, load average ${r.host.loadAverage.map((x) => x.toFixed(1)).join(' ')}`,
      `${r.rows.length} measured phases in ${(r.durationMs / 1000).toFixed(1)} s`,
      (r.host.jobs ?? 1) > 1
        ? `${r.host.jobs} worker threads ran points at once: each wall-clock figure was timed while the other threads ran other points, on ${r.host.hostCpus} host CPUs (\`--jobs 1\` times them one after another)`
        : 'points ran one after another in one thread (`--jobs 1`): no wall-clock figure was timed beside another point',
    ],
  });
  const cols = phasesOf(full);
  b.push({
    kind: 'table',
    headers: ['variant', ...cols.map((c) => `${c.workload} · ${c.phase}`)],
    numeric: cols.map((_, i) => i + 1),
    rows: r.variants.map((v) => [
      v.id,
      ...cols.map(({ workload, phase }) => {
        const x = full.find(
          (y) => y.variant === v.id && y.workload === workload && y.phase === phase,
        );
        return x ? `${rate(x.wall.opsPerSec)} (${num(x.wall.medianMs)} ms)` : '—';
      }),
    ]),
  });
  return b;
}
