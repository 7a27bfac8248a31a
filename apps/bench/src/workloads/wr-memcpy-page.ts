import { PAGE_SIZE } from '@prmem/core';
import { wrMemcpy } from '@prmem/wr-ops';
import { pick, type Workload } from './types.js';

/** A page-sized wrMemcpy into a page-aligned `__wr_after_init` buffer. */
export const wrMemcpyPageWorkload: Workload = {
  name: 'wr-memcpy-page',
  description: 'wrMemcpy of 4 KiB into a page-aligned `__wr_after_init` buffer',
  needsPool: false,
  size: (scale, quick) => ({
    ops: pick(scale, quick, { full: 400, sweep: 60, quickFull: 40, quickSweep: 16 }),
    bytes: PAGE_SIZE,
  }),
  memoryMiB: () => 8,
  // One timed run with --quick: its wall figures are not the point, and each run may
  // build a machine.
  repeats: (scale, quick) => (quick ? 1 : scale === 'sweep' ? 2 : 3),
  setup(m, size) {
    // The first symbol of the section starts on its first page: page-aligned.
    const page = m.defineStatic('.data..wr_after_init', PAGE_SIZE, 'bench_wr_page');
    m.finishBoot();
    const cpu = m.cpu(0);
    const src = [new Uint8Array(PAGE_SIZE).fill(0xa5), new Uint8Array(PAGE_SIZE).fill(0x5a)];
    return {
      iterate(meter) {
        meter.phase('memcpy', 'wrMemcpy 4 KiB', size.ops, () => {
          for (let i = 0; i < size.ops; i++) wrMemcpy(cpu, page, src[i & 1]);
        });
      },
    };
  },
};
