/**
 * An example user-defined workload: `pnpm bench -- --workload ./examples/my-workload.ts`.
 * A module exports one workload (default export) in the shape of the built-in ones, and
 * prmem-bench costs it on every backend and mechanism, at full size and across the CPU
 * sweep, like any other. This one models a per-CPU statistics block in
 * `__wr_after_init` that is reset with a write-rare memset of 256 bytes, then has one
 * 8-byte field updated: two write-rare windows per operation.
 */
import type { Workload } from '@prmem/bench';
import { wrAssign, wrMemset } from '@prmem/wr-ops';

const workload: Workload = {
  name: 'stats-reset',
  description: 'wrMemset of a 256-byte `__wr_after_init` block, then a wrAssign of one field',
  needsPool: false,
  // The numbers of operations of one timed run, per scale (full size, CPU sweep, --quick).
  size: (scale, quick) => ({ ops: quick ? 50 : scale === 'full' ? 5_000 : 200, bytes: 256 }),
  memoryMiB: () => 8,
  repeats: (scale, quick) => (quick || scale === 'sweep' ? 2 : 3),
  setup(m, size) {
    // Static variables are reserved before boot ends, as the linker would place them.
    const block = m.defineStatic('.data..wr_after_init', size.bytes, 'example_stats');
    m.finishBoot();
    const cpu = m.cpu(0);
    let n = 0;
    return {
      iterate(meter) {
        // Only what runs inside a phase is measured; `ops` divides its counters.
        meter.phase('reset', 'wrMemset 256 B + wrAssign 8 B', size.ops, () => {
          for (let i = 0; i < size.ops; i++) {
            wrMemset(cpu, block, 0, size.bytes);
            wrAssign(cpu, block + 8, ++n, 8);
          }
        });
      },
    };
  },
};

export default workload;
