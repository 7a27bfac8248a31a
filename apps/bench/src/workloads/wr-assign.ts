import { wrAssign } from '@prmem/wr-ops';
import { pick, type Workload } from './types.js';

/** One 8-byte write-rare assignment to a `__wr_after_init` variable, repeated. */
export const wrAssignWorkload: Workload = {
  name: 'wr-assign',
  description: 'wrAssign of an 8-byte `__wr_after_init` variable (one write-rare window per store)',
  needsPool: false,
  size: (scale, quick) => ({
    // 50,000: a timed run of ~50 ms, long enough that one garbage collection or a busy
    // moment of the host does not decide the median.
    ops: pick(scale, quick, { full: 50_000, sweep: 200, quickFull: 200, quickSweep: 60 }),
  }),
  memoryMiB: () => 8,
  // Five at full size: the median of five is not moved by one run that meets a garbage
  // collection (the first run after a machine is built often does).
  repeats: (scale, quick) => (quick ? 1 : scale === 'sweep' ? 2 : 5),
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
