/**
 * Direct-map fragmentation: how many large translations the direct map has left and how
 * many page-table pages the kernel mm uses, at boot and after each phase (collected by
 * measure.ts into `rows[].fragmentation`), rendered as one table of the report.
 */
import type { Machine } from '@prmem/core';
import type { BenchResults } from '../results.js';
import type { Block } from './doc.js';

export interface DirectMapShape {
  /** Leaves of the direct map larger than 4 KiB (as the walk reports them: what the TLB can cache as one entry). */
  readonly large: number;
  /** Page-table pages of the kernel mm. */
  readonly tablePages: number;
}

export function directMapShape(m: Machine): DirectMapShape {
  const start = m.layout.directMap;
  const end = start + m.phys.size;
  let large = 0;
  m.arch.pt.forEachLeaf(m.kernelMm, (va, _pa, _flags, level) => {
    if (va >= start && va < end && level > 1) large++;
  });
  return { large, tablePages: m.arch.pt.tableFrames(m.kernelMm).length };
}

/** One row per variant × workload of the full-size runs: the state after the last phase. */
export function fragmentationBlocks(r: BenchResults): Block[] {
  const rows: string[][] = [];
  const keys = new Set<string>();
  for (const x of r.rows)
    if (x.scale === 'full' && x.fragmentation) keys.add(`${x.variant}\u0000${x.workload}`);
  for (const key of keys) {
    const [variant, workload] = key.split('\u0000');
    const phases = r.rows.filter(
      (x) =>
        x.scale === 'full' && x.variant === variant && x.workload === workload && x.fragmentation,
    );
    const last = phases[phases.length - 1].fragmentation;
    if (!last) continue;
    const total = (e: 'cpaSplit' | 'tlbMiss') =>
      phases.reduce((a, x) => a + x.modeled.events[e] * x.ops, 0);
    rows.push([
      variant,
      workload,
      `${last.largeAtBoot} → ${last.large}`,
      `${last.tablePagesAtBoot} → ${last.tablePages}`,
      Math.round(total('cpaSplit')).toLocaleString('en-US'),
      Math.round(total('tlbMiss')).toLocaleString('en-US'),
    ]);
  }
  if (rows.length === 0) return [];
  return [
    { kind: 'heading', level: 2, text: 'Direct-map fragmentation (full size)' },
    {
      kind: 'para',
      text: 'What protection costs the direct map: large translations (2 MiB / 1 GiB pages the TLB caches as one entry) at boot and after the workload, the kernel mm’s page-table pages, the large pages split (`cpaSplit`) and the TLB misses during the measured phases (splits in the workload’s setup, e.g. the static sections protected at boot, show in the boot → end columns only).',
    },
    {
      kind: 'table',
      headers: [
        'variant',
        'workload',
        'large pages (boot → end)',
        'page-table pages (boot → end)',
        'splits',
        'TLB misses',
      ],
      numeric: [4, 5],
      rows,
    },
  ];
}
