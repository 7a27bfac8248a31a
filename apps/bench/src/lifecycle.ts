/**
 * The memory life cycle at real sizes (the SELinux reload, forever): per variant, on the
 * default machine config, 10,000 pool cycles (create, alloc, protect, destroy) and 5
 * policy-DB reloads of 50,000 objects (20 MiB) with the old and the new DB live at once.
 * Reports the wall time of each reload and memory before and after: free frames,
 * page-table pages, live areas and the JS heap (after a full GC).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createMachine, type Machine, mulberry32, PG } from '@prmem/core';
import { wrRcuAssignPointer } from '@prmem/wr-ops';
import type { Pool, PoolApi } from './pool-api.js';
import type { LifecycleRow } from './results.js';
import type { Variant } from './variants.js';

export interface LifecycleSize {
  readonly cycles: number;
  readonly reloads: number;
  readonly objects: number;
}

export const LIFECYCLE_FULL: LifecycleSize = { cycles: 10_000, reloads: 5, objects: 50_000 };
export const LIFECYCLE_QUICK: LifecycleSize = { cycles: 500, reloads: 2, objects: 2_000 };

/** Object sizes of a policy DB: 64..776 bytes, 8-aligned (mean ≈ 420 B: 50,000 ≈ 20 MiB). */
function objectSizes(n: number, seed: number): Uint16Array {
  const rnd = mulberry32(seed ^ 0x11fe);
  const sizes = new Uint16Array(n);
  for (let i = 0; i < n; i++) sizes[i] = 64 + Math.floor(rnd() * 90) * 8;
  return sizes;
}

let gcFn: (() => void) | undefined;
/** A full GC (V8's `gc`, exposed at run time), then the heap in use. */
function heapAfterGc(): number {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
  return process.memoryUsage().heapUsed;
}

function memory(m: Machine) {
  let tables = 0;
  for (let pfn = 0; pfn < m.phys.frameCount; pfn++)
    if ((m.phys.frameFlags[pfn] & PG.PAGETABLE) !== 0) tables++;
  return { freeFrames: m.phys.freeFrames, tablePages: tables, liveAreas: m.liveAreas.length };
}

export async function runLifecycle(
  variant: Variant,
  pool: PoolApi,
  seed: number,
  size: LifecycleSize,
): Promise<LifecycleRow> {
  // The default config: only the backend, the mechanism and the seed are chosen.
  const m = await createMachine({ arch: variant.backend, mechanism: variant.mechanism, seed });
  const root = m.defineStatic('.data..wr_after_init', 8, 'lifecycle_root');
  m.finishBoot();
  const cpu = m.cpu(0);
  pool.createPool(m, { mode: 'wr', name: 'warmup', reclaimable: true }).destroy();
  wrRcuAssignPointer(cpu, root, 0);
  const before = { ...memory(m), heapBytes: heapAfterGc() };

  const t0 = performance.now();
  for (let i = 0; i < size.cycles; i++) {
    const p = pool.createPool(m, { mode: 'wr', name: `cycle${i % 100}`, reclaimable: true });
    p.alloc(64 + (i % 7) * 600);
    p.protect();
    p.destroy();
  }
  const cycleMs = performance.now() - t0;

  const sizes = objectSizes(size.objects, seed);
  let gen = 0;
  const build = (): Pool => {
    const db = pool.createPool(m, {
      mode: 'wr',
      name: `policydb.${gen++}`,
      refill: 64 * 1024,
      reclaimable: true,
    });
    let prev = 0;
    let head = 0;
    for (let i = 0; i < sizes.length; i++) {
      head = db.alloc(sizes[i]);
      cpu.write32(head, i);
      cpu.writePtr(head + 8, prev);
      prev = head;
    }
    db.protect();
    wrRcuAssignPointer(cpu, root, head);
    return db;
  };
  let old = build();
  const reloadMs: number[] = [];
  for (let r = 0; r < size.reloads; r++) {
    const t = performance.now();
    const next = build(); // both DBs live
    old.destroy();
    old = next;
    reloadMs.push(performance.now() - t);
  }
  old.destroy();
  const after = { ...memory(m), heapBytes: heapAfterGc() };
  const sorted = [...reloadMs].sort((a, b) => a - b);
  return {
    variant: variant.id,
    arch: variant.arch,
    mechanism: variant.mechanism,
    cycles: size.cycles,
    reloads: size.reloads,
    objects: size.objects,
    dbBytes: sizes.reduce((a, b) => a + b, 0),
    memoryMiB: m.phys.size / 2 ** 20,
    cyclesMs: cycleMs,
    reloadMs,
    medianReloadMs: sorted[Math.floor(sorted.length / 2)],
    before,
    after,
  };
}
