/** The terminal summary: cost per operation at the reference CPU count, and the sweep. */
import Table from 'cli-table3';
import type { BenchResults } from '../results.js';
import { eventList, num, phasesOf, rate, uniq } from './format.js';
import { PROPERTIES, scalingText, verdictRows } from './verdict.js';

const fig = (x: number | undefined) => (x === undefined ? '—' : num(x));

/** The verdict as a terminal table: the last thing a run prints. */
export function verdictTable(r: BenchResults): string {
  const t = new Table({
    head: [
      'mechanism',
      'wrAssign cycles',
      'page wrMemcpy cycles',
      'wrAssign cost vs CPUs',
      'IPI/TLBI/HVC per write',
      ...PROPERTIES.map((p) => p.short),
    ],
    colAligns: ['left', 'right', 'right', 'left', 'right', 'center', 'center', 'center', 'center'],
    wordWrap: true,
    colWidths: [26, 10, 10, 26, 12, 12, 10, 10, 10],
    style: { head: [], border: [] },
  });
  for (const v of verdictRows(r)) {
    t.push([
      v.variant,
      fig(v.assignCycles),
      fig(v.memcpyCycles),
      scalingText(v.scaling, num),
      `${fig(v.ipis)} / ${fig(v.tlbis)} / ${fig(v.hypercalls)}`,
      ...v.properties.map((p) => p.text),
    ]);
  }
  const source = r.security.source ? `security: ${r.security.source}` : 'security: not measured';
  return `Verdict: modeled cycles at ${r.referenceCpus} CPUs, ${r.clockGHz} GHz; ${source}\n${t.toString()}\n`;
}

export function terminalTable(r: BenchResults): string {
  const out: string[] = [];
  const full = r.rows.filter((x) => x.scale === 'full');
  const t = new Table({
    head: [
      'workload · phase',
      'variant',
      'cycles/op',
      'ns/op',
      'sys cycles/op',
      'events/op',
      'wall ops/s',
    ],
    colAligns: ['left', 'left', 'right', 'right', 'right', 'left', 'right'],
    wordWrap: true,
    colWidths: [26, 26, 11, 10, 13, 44, 12],
    style: { head: [], border: [] },
  });
  for (const { workload, phase } of phasesOf(full)) {
    for (const x of full.filter((y) => y.workload === workload && y.phase === phase)) {
      t.push([
        `${workload} · ${phase}`,
        x.variant,
        num(x.modeled.cyclesPerOp),
        num(x.modeled.nsPerOp),
        num(x.modeled.systemCyclesPerOp),
        eventList(x),
        rate(x.wall.opsPerSec),
      ]);
    }
  }
  out.push(`Modeled cost per operation at ${r.referenceCpus} CPUs, ${r.clockGHz} GHz (full size)`);
  out.push(t.toString());

  const sweep = r.rows.filter((x) => x.scale === 'sweep');
  if (sweep.length > 0) {
    const cpus = uniq(sweep.map((x) => x.cpus)).sort((a, b) => a - b);
    // One table per workload, its first phase: the terminal view; report.md has them all.
    for (const workload of uniq(sweep.map((x) => x.workload))) {
      const phase = sweep.find((x) => x.workload === workload)?.phase ?? '';
      const rows = sweep.filter((x) => x.workload === workload && x.phase === phase);
      const st = new Table({
        head: ['variant', ...cpus.map(String)],
        colAligns: ['left', ...cpus.map(() => 'right' as const)],
        style: { head: [], border: [] },
      });
      for (const v of uniq(rows.map((x) => x.variant))) {
        st.push([
          v,
          ...cpus.map((c) => {
            const x = rows.find((y) => y.variant === v && y.cpus === c);
            return x ? num(x.modeled.cyclesPerOp) : '—';
          }),
        ]);
      }
      out.push(`${workload} · ${phase}: cycles/op against CPU count`);
      out.push(st.toString());
    }
  }
  for (const s of r.skipped) out.push(`skipped ${s.what}: ${s.reason}`);
  for (const f of r.failures)
    out.push(`FAILED ${f.variant} ${f.workload} ×${f.cpus} (${f.scale}): ${f.error}`);
  return `${out.join('\n')}\n`;
}
