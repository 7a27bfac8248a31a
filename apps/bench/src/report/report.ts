/** Builds the report (Markdown and HTML share it) from results.json. */
import { NOT_MEASURED } from '../attacks.js';
import type { BenchResults, ResultRow } from '../results.js';
import { barSpec, renderSvg, sweepSpec } from './charts.js';
import type { Block } from './doc.js';
import { eventList, KEY_EVENTS, num, phasesOf, rate, uniq } from './format.js';
import { fragmentationBlocks } from './fragmentation.js';

const yesNo = (b: boolean | null) => (b === null ? 'n/a' : b ? 'yes' : 'no');

function securityRows(r: BenchResults): string[][] {
  return r.variants.map((v) => {
    const s = r.security.byVariant[v.id];
    if (!s?.summary) {
      const measured = s && s.outcomes.length > 0;
      const detail = measured
        ? s.outcomes.map((o) => `${o.attack}: ${o.outcome}`).join(', ')
        : NOT_MEASURED;
      return [v.id, measured ? '—' : NOT_MEASURED, '', '', '', measured ? detail : ''];
    }
    return [
      v.id,
      yesNo(s.summary.windowVisibleToOtherCpus),
      yesNo(s.summary.writableAliasReachable),
      yesNo(s.summary.survivesPageTableAttack),
      yesNo(s.summary.windowOpensUnrelatedReadOnly),
      s.outcomes.map((o) => `${o.attack}: ${o.outcome}`).join(', '),
    ];
  });
}

function fullRows(r: BenchResults, workload: string, phase: string): ResultRow[] {
  return r.rows.filter((x) => x.scale === 'full' && x.workload === workload && x.phase === phase);
}

function sweepRows(r: BenchResults, workload: string, phase: string): ResultRow[] {
  return r.rows.filter((x) => x.scale === 'sweep' && x.workload === workload && x.phase === phase);
}

/** The project's targets (issue 9), checked against this run's own figures. */
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
  return lines;
}

export interface ReportOptions {
  /** Render SVG charts (HTML); off for Markdown-only output. */
  readonly charts: boolean;
}

export async function buildReport(r: BenchResults, opts: ReportOptions): Promise<Block[]> {
  const b: Block[] = [];
  const full = r.rows.filter((x) => x.scale === 'full');
  const phases = phasesOf(r.rows);
  b.push({ kind: 'heading', level: 1, text: 'prmem-bench: write-rare mechanisms compared' });
  b.push({
    kind: 'list',
    items: [
      `seed ${r.seed}, modeled clock ${r.clockGHz} GHz${r.quick ? ', **quick sizes**' : ''}`,
      `CPU counts swept: ${r.cpus.join(', ')}; full-size runs at ${r.referenceCpus} CPUs`,
      `${r.variants.length} backend × mechanism variants, ${r.workloads.length} workloads, ${r.rows.length} measured phases in ${(r.durationMs / 1000).toFixed(1)} s`,
      `host: Node ${r.host.node}, ${r.host.platform}/${r.host.arch}, ${r.host.hostCpus} CPUs, load average ${r.host.loadAverage.map((x) => x.toFixed(1)).join(' ')}`,
      `started ${r.createdAt}`,
    ],
  });
  b.push({
    kind: 'para',
    text: 'Modeled figures come from the machines’ event counters and each backend’s cost table: the same seed gives identical figures. `cycles/op` is the calling CPU’s time per operation (including waiting for IPI acknowledgements); `system cycles/op` is the work done on every CPU (IPI handlers, remote flushes). `wall ops/s` is the simulator’s own speed on this host (median of repeated runs) and says nothing about the hardware being modeled.',
  });
  b.push({ kind: 'heading', level: 2, text: 'Targets' });
  b.push({ kind: 'list', items: targetLines(r) });
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

  b.push({ kind: 'heading', level: 2, text: 'Mechanisms and their measured security properties' });
  b.push({
    kind: 'para',
    text: r.security.source
      ? `Security properties as measured by the attack suite (${r.security.source}).`
      : `No attack-suite results: security properties are ${NOT_MEASURED} (run pnpm attacks, or let prmem-bench run the suite).`,
  });
  b.push({
    kind: 'table',
    headers: ['variant', 'TLB maintenance', 'mechanism (its own summary)'],
    rows: r.variants.map((v) => [v.id, v.tlbMaintenance, v.summary]),
  });
  b.push({
    kind: 'table',
    headers: [
      'variant',
      'write window visible to other CPUs?',
      'writable alias reachable?',
      'survives a page-table attack?',
      'window opens unrelated read-only data?',
      'attack outcomes',
    ],
    rows: securityRows(r),
  });

  b.push({
    kind: 'heading',
    level: 2,
    text: `Cost per operation at ${r.referenceCpus} CPUs (full size)`,
  });
  for (const { workload, phase } of phases) {
    const rows = fullRows(r, workload, phase);
    if (rows.length === 0) continue;
    b.push({ kind: 'heading', level: 3, text: `${workload} · ${phase}: ${rows[0].op}` });
    b.push({
      kind: 'table',
      headers: [
        'variant',
        'ops',
        'cycles/op',
        'ns/op',
        'system cycles/op',
        'events/op',
        'wall ops/s',
      ],
      numeric: [1, 2, 3, 4, 6],
      rows: rows.map((x) => [
        x.variant,
        String(x.ops),
        num(x.modeled.cyclesPerOp),
        num(x.modeled.nsPerOp),
        num(x.modeled.systemCyclesPerOp),
        eventList(x),
        rate(x.wall.opsPerSec),
      ]),
    });
    if (opts.charts) {
      const title = `${workload} · ${phase}: cycles per operation (${r.referenceCpus} CPUs)`;
      b.push({
        kind: 'chart',
        title,
        svg: await renderSvg(
          barSpec(
            title,
            rows.map((x) => ({ variant: x.variant, arch: x.arch, cycles: x.modeled.cyclesPerOp })),
          ),
        ),
      });
    }
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
        headers: ['variant', ...cpus.map((c) => `${c} CPUs`)],
        numeric: cpus.map((_, i) => i + 1),
        rows: variants.map((v) => [
          v,
          ...cpus.map((c) => {
            const x = rows.find((y) => y.variant === v && y.cpus === c);
            return x ? num(x.modeled.cyclesPerOp) : '—';
          }),
        ]),
      });
      if (opts.charts) {
        const title = `${workload} · ${phase}: cycles per operation against CPU count`;
        b.push({
          kind: 'chart',
          title,
          svg: await renderSvg(
            sweepSpec(
              title,
              rows
                .filter((x) => x.modeled.cyclesPerOp > 0)
                .map((x) => ({ variant: x.variant, cpus: x.cpus, cycles: x.modeled.cyclesPerOp })),
            ),
          ),
        });
      }
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

  b.push({ kind: 'heading', level: 2, text: 'Simulator throughput (wall clock)' });
  b.push({
    kind: 'table',
    headers: ['variant', ...uniq(full.map((x) => `${x.workload} · ${x.phase}`))],
    numeric: uniq(full.map((x) => `${x.workload} · ${x.phase}`)).map((_, i) => i + 1),
    rows: r.variants.map((v) => [
      v.id,
      ...phasesOf(full).map(({ workload, phase }) => {
        const x = full.find(
          (y) => y.variant === v.id && y.workload === workload && y.phase === phase,
        );
        return x ? `${rate(x.wall.opsPerSec)} (${num(x.wall.medianMs)} ms)` : '—';
      }),
    ]),
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
  return b;
}
