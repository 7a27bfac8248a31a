import { wrAssign } from '@prmem/wr-ops';
import { pick, type Workload } from './types.js';

/** One 8-byte write-rare assignment to a `__wr_after_init` variable, repeated. */
export const wrAssignWorkload: Workload = {
  name: 'wr-assign',
  description: 'wrAssign of an 8-byte `__wr_after_init` variable (one write-rare window per store)',
  needsPool: false,
  size: (scale, quick) => ({
    ops: pick(scale, quick, { full: 5000, sweep: 200, quickFull: 200, quickSweep: 60 }),
  }),
  memoryMiB: () => 8,
  repeats: (scale, quick) => (quick || scale === 'sweep' ? 2 : 3),
  setup(m, size) {
    const target = m.defineStatic('.data..wr_after_init', 8, 'bench_wr_assign');
    m.finishBoot();
    const cpu = m.cpu(0);
    let v = 0;
    return {
      iterate(meter) {
        meter.phase('assign', 'wrAssign 8 B', size.ops, () => {
          for (let i = 0; i < size.ops; i++) wrAssign(cpu, target, ++v, 8);
        });
      },
    };
  },
};
