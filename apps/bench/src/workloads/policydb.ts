import { mulberry32 } from '@prmem/core';
import { wrAssign, wrRcuAssignPointer } from '@prmem/wr-ops';
import type { Pool, PoolApi } from '../pool-api.js';
import { pick, requirePool, type Workload } from './types.js';

/** Object sizes of a policy DB: 64..512 bytes, 8-aligned (mean ≈ 288 B: 30,000 ≈ 8 MiB). */
function objectSizes(n: number, seed: number): Uint16Array {
  const rnd = mulberry32(seed ^ 0x5e11);
  const sizes = new Uint16Array(n);
  for (let i = 0; i < n; i++) sizes[i] = 64 + Math.floor(rnd() * 57) * 8;
  return sizes;
}

/** Pool refill: 64 KiB areas, so a DB is a few hundred areas rather than thousands of pages. */
const REFILL = 64 * 1024;

interface Db {
  readonly pool: Pool;
  readonly objects: Float64Array;
}

/**
 * SELinux-like policy reload (security_load_policy): build a new policy DB of tens of
 * thousands of objects in a fresh pool with plain writes, protect it (write-rare), apply
 * a few write-rare updates (booleans), publish it by swapping the root pointer in
 * `.data..wr_after_init` with wrRcuAssignPointer, and destroy the old DB's pool.
 */
export const policydbWorkload: Workload = {
  name: 'policydb',
  description:
    'SELinux-like policy reload: build a DB in a wr pool, protect, wr updates, swap the root (wrRcuAssignPointer), destroy the old pool',
  needsPool: true,
  // Each run on a fresh machine, so every repeat starts from the same state.
  freshMachinePerRepeat: true,
  size: (scale, quick) => ({
    allocations: pick(scale, quick, {
      full: 30000,
      sweep: 600,
      quickFull: 1000,
      quickSweep: 300,
    }),
    updates: pick(scale, quick, { full: 200, sweep: 20, quickFull: 20, quickSweep: 10 }),
  }),
  // Two DBs live at once (old and new) plus page tables and pool metadata.
  memoryMiB: (size) => Math.max(16, Math.ceil((2 * size.allocations * 300) / 2 ** 20) + 24),
  // One timed run with --quick: its wall figures are not the point, and each run may
  // build a machine.
  repeats: (scale, quick) => (quick ? 1 : scale === 'sweep' ? 2 : 3),
  setup(m, size, env) {
    const api: PoolApi = requirePool(env, 'policydb');
    const root = m.defineStatic('.data..wr_after_init', 8, 'bench_policydb_root');
    m.finishBoot();
    const cpu = m.cpu(0);
    const sizes = objectSizes(size.allocations, env.seed);
    const pickRnd = mulberry32(env.seed ^ 0xdb);
    let generation = 0;

    const build = (): Db => {
      const pool = api.createPool(m, {
        mode: 'wr',
        name: `policydb.${generation++}`,
        refill: REFILL,
      });
      const objects = new Float64Array(sizes.length);
      let prev = 0;
      for (let i = 0; i < sizes.length; i++) {
        const va = pool.alloc(sizes[i]);
        // Plain writes: the pool is still writable (policydb_read before protection).
        cpu.write32(va, i);
        cpu.write32(va + 4, sizes[i]);
        cpu.writePtr(va + 8, prev);
        objects[i] = va;
        prev = va;
      }
      return { pool, objects };
    };

    let current = build();
    current.pool.protect();
    wrRcuAssignPointer(cpu, root, current.objects[current.objects.length - 1]);

    return {
      iterate(meter) {
        let next: Db | undefined;
        meter.phase('build', 'pmalloc + init one object', size.allocations, () => {
          next = build();
        });
        const db = next as Db;
        meter.phase('protect', 'protect the new DB pool', 1, () => db.pool.protect());
        const targets = Array.from(
          { length: size.updates },
          () => db.objects[Math.floor(pickRnd() * db.objects.length)],
        );
        meter.phase('update', 'wrAssign 4 B into the protected DB', size.updates, () => {
          for (let i = 0; i < targets.length; i++) wrAssign(cpu, targets[i] + 4, i, 4);
        });
        meter.phase('swap', 'wrRcuAssignPointer of the root', 1, () =>
          wrRcuAssignPointer(cpu, root, db.objects[db.objects.length - 1]),
        );
        const old = current;
        meter.phase('destroy-old', 'destroy the old DB pool', 1, () => old.pool.destroy());
        current = db;
      },
    };
  },
};
