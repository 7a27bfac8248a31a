import { LIST_HEAD_SIZE, prListAddTailRcu, prListInit, wrMemcpy } from '@prmem/wr-ops';
import { pick, requirePool, type Workload } from './types.js';

/** struct ima_queue_entry-like: list_head, pcr + pad, sha256 digest, template name. */
const ENTRY_SIZE = LIST_HEAD_SIZE + 8 + 32 + 16;
const DIGEST_OFFSET = LIST_HEAD_SIZE + 8;

/**
 * IMA's measurement list as prmem would protect it: append-only, nodes from a start-wr
 * pool (write-rare from allocation), the digest written with wrMemcpy, the node linked
 * at the tail with the write-rare list_add_tail_rcu; the head in `.data..wr_after_init`.
 */
export const imaAppendWorkload: Workload = {
  name: 'ima-append',
  description:
    'IMA measurement list: start-wr pool nodes, wrMemcpy of the digest, write-rare list_add_tail_rcu',
  needsPool: true,
  size: (scale, quick) => ({
    appends: pick(scale, quick, { full: 1500, sweep: 80, quickFull: 100, quickSweep: 30 }),
    entryBytes: ENTRY_SIZE,
  }),
  memoryMiB: () => 16,
  // One timed run with --quick: its wall figures are not the point, and each run may
  // build a machine.
  repeats: (scale, quick) => (quick ? 1 : scale === 'sweep' ? 2 : 3),
  setup(m, size, env) {
    const api = requirePool(env, 'ima-append');
    const head = m.defineStatic('.data..wr_after_init', LIST_HEAD_SIZE, 'bench_ima_measurements');
    const cpu = m.cpu(0);
    prListInit(cpu, head); // at boot: a plain write
    m.finishBoot();
    const pool = api.createPool(m, { mode: 'start-wr', name: 'ima' });
    const digest = new Uint8Array(32);
    let n = 0;
    return {
      iterate(meter) {
        meter.phase(
          'append',
          'append one measurement (pmalloc, wrMemcpy, list_add_tail_rcu)',
          size.appends,
          () => {
            for (let i = 0; i < size.appends; i++) {
              const node = pool.alloc(ENTRY_SIZE);
              digest.fill(++n & 0xff);
              wrMemcpy(cpu, node + DIGEST_OFFSET, digest);
              prListAddTailRcu(cpu, node, head);
            }
          },
        );
      },
    };
  },
};
