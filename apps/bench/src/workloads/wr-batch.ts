import { wrAssign, wrBatch } from '@prmem/wr-ops';
import { pick, type Workload } from './types.js';

const SLOTS = 64;

/**
 * Many small writes to one structure: all in one wrBatch (one window where the mechanism
 * allows it) against one wrAssign each. An operation is one 8-byte write in both phases.
 */
export const wrBatchWorkload: Workload = {
  name: 'wr-batch',
  description: `${SLOTS} 8-byte writes to one structure: one wrBatch against ${SLOTS} wrAssign calls`,
  needsPool: false,
  size: (scale, quick) => ({
    batches: pick(scale, quick, { full: 40, sweep: 4, quickFull: 6, quickSweep: 2 }),
    writesPerBatch: SLOTS,
  }),
  memoryMiB: () => 8,
  // One timed run with --quick: its wall figures are not the point, and each run may
  // build a machine.
  repeats: (scale, quick) => (quick ? 1 : scale === 'sweep' ? 2 : 3),
  setup(m, size) {
    const base = m.defineStatic('.data..wr_after_init', SLOTS * 8, 'bench_wr_batch');
    m.finishBoot();
    const cpu = m.cpu(0);
    const n = size.batches * SLOTS;
    let v = 0;
    return {
      iterate(meter) {
        meter.phase('batched', `8 B write (${SLOTS} per wrBatch)`, n, () => {
          for (let b = 0; b < size.batches; b++) {
            wrBatch(cpu, (w) => {
              for (let s = 0; s < SLOTS; s++) w.assign(base + s * 8, ++v, 8);
            });
          }
        });
        meter.phase('one-by-one', '8 B write (one wrAssign each)', n, () => {
          for (let b = 0; b < size.batches; b++) {
            for (let s = 0; s < SLOTS; s++) wrAssign(cpu, base + s * 8, ++v, 8);
          }
        });
      },
    };
  },
};
