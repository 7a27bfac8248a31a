import { pick, requirePool, type Workload } from './types.js';

const KiB = 1024;
const CHUNK = KiB;

function label(bytes: number): string {
  return bytes >= 1024 * KiB ? `${bytes / (1024 * KiB)}MiB` : `${bytes / KiB}KiB`;
}

/**
 * The cost of protecting a pool, and of destroying it, as it grows: fill a wr pool with
 * 1 KiB allocations up to each size, protect it (writable → write-rare, with the
 * direct-map alias and the shootdown), destroy it.
 */
export const protectPoolWorkload: Workload = {
  name: 'protect-pool',
  description: 'protect() and destroy() of a wr pool filled to 16 KiB … 4 MiB',
  needsPool: true,
  // A fresh machine per run, so every repeat starts from the same state.
  freshMachinePerRepeat: true,
  size: (scale, quick) => {
    const sizes = pick(scale, quick, {
      full: [16 * KiB, 256 * KiB, 1024 * KiB, 4096 * KiB],
      sweep: [64 * KiB],
      quickFull: [16 * KiB, 128 * KiB],
      quickSweep: [16 * KiB],
    });
    return Object.fromEntries(sizes.map((b, i) => [`bytes${i}`, b]));
  },
  memoryMiB: (size) =>
    Math.max(16, Math.ceil((Math.max(...Object.values(size)) * 1.5) / 2 ** 20) + 12),
  // One timed run with --quick: its wall figures are not the point, and each run may
  // build a machine.
  repeats: (scale, quick) => (quick ? 1 : scale === 'sweep' ? 2 : 3),
  setup(m, size, env) {
    const api = requirePool(env, 'protect-pool');
    m.finishBoot();
    const cpu = m.cpu(0);
    const sizes = Object.values(size);
    let n = 0;
    return {
      iterate(meter) {
        for (const bytes of sizes) {
          const pool = api.createPool(m, { mode: 'wr', name: `pp${n++}` });
          for (let off = 0; off < bytes; off += CHUNK) cpu.write32(pool.alloc(CHUNK), off);
          meter.phase(`protect-${label(bytes)}`, `protect a ${label(bytes)} pool`, 1, () =>
            pool.protect(),
          );
          meter.phase(`destroy-${label(bytes)}`, `destroy a ${label(bytes)} pool`, 1, () =>
            pool.destroy(),
          );
        }
      },
    };
  },
};
