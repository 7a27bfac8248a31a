/**
 * The memory life cycle section of the report (lifecycle.ts): per variant, the pool
 * cycles and policy-DB reloads run on the default config, the wall time per reload, and
 * memory before and after.
 */
import type { BenchResults, LifecycleRow } from '../results.js';
import type { Block } from './doc.js';

const ms = (v: number) => `${v.toFixed(0)} ms`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const arrow = (a: number, b: number) =>
  `${a.toLocaleString('en-US')} → ${b.toLocaleString('en-US')}`;

/** The reload target the issue set: a full-size reload in under half a second of wall time. */
export const RELOAD_TARGET_MS = 500;

export function lifecycleBlocks(r: BenchResults): Block[] {
  const all = r.lifecycle ?? [];
  if (all.length === 0) return [];
  const ok = all.filter((x): x is LifecycleRow => 'reloadMs' in x);
  const failed = all.filter((x) => !('reloadMs' in x)) as { variant: string; error: string }[];
  const first = ok[0];
  const b: Block[] = [{ kind: 'heading', level: 2, text: 'Memory life cycle' }];
  if (first)
    b.push({
      kind: 'para',
      text: `SELinux's reload, again and again: on each variant's default config (${first.memoryMiB} MiB), ${first.cycles.toLocaleString('en-US')} pool cycles (create, alloc, protect, destroy), then ${first.reloads} policy-DB reloads of ${first.objects.toLocaleString('en-US')} objects (${mib(first.dbBytes)}) in 64 KiB areas, the old and the new DB live at once (build, protect, publish with wrRcuAssignPointer, destroy the old). Memory is measured before the cycles and after the last DB is destroyed: free frames and page-table pages of simulated memory, live areas, and the simulator's JS heap after a full GC. Page-table pages that stay are direct-map page tables from large pages split by protection (CPA never merges them back: one per 2 MiB ever protected, bounded); the heap difference is the JIT's and stays the same for 10,000 or 40,000 cycles. Target: every variant completes, a reload under ${RELOAD_TARGET_MS} ms of wall time.`,
    });
  if (ok.length > 0)
    b.push({
      kind: 'table',
      headers: [
        'variant',
        'pool cycles',
        'reload (median)',
        'reload (max)',
        'free frames (before → after)',
        'page-table pages',
        'live areas',
        'JS heap (before → after)',
      ],
      numeric: [1, 2, 3],
      rows: ok.map((x) => [
        x.variant,
        ms(x.cyclesMs),
        `${ms(x.medianReloadMs)}${x.medianReloadMs < RELOAD_TARGET_MS ? '' : ' (over target)'}`,
        ms(Math.max(...x.reloadMs)),
        arrow(x.before.freeFrames, x.after.freeFrames),
        arrow(x.before.tablePages, x.after.tablePages),
        arrow(x.before.liveAreas, x.after.liveAreas),
        `${mib(x.before.heapBytes)} → ${mib(x.after.heapBytes)}`,
      ]),
    });
  if (failed.length > 0)
    b.push({
      kind: 'list',
      items: failed.map((f) => `${f.variant}: did not complete: ${f.error}`),
    });
  return b;
}
