/**
 * Simulator speed of the hot path: TLB-hit loads against plain typed-array loads, and the
 * TLB-miss walk. Run with `pnpm bench` (or `pnpm --filter @prmem/core bench`).
 * Targets: a TLB-hit read32 ≥ 50 M/s and within 2.5× of Uint32Array reads (issue 19; 4× in issue 3); a
 * miss walk that does not allocate.
 */
import { bench, do_not_optimize, run, summary } from 'mitata';
import { createMachine, PAGE_SIZE } from '../src/index.js';
import { toyBackend } from '../src/testing/index.js';

const m = await createMachine({ arch: toyBackend(), cpus: 1, memoryMiB: 64, tlbEntries: 1024 });
const cpu = m.cpu(0);
const area = m.vmalloc(512 * PAGE_SIZE);
for (let i = 0; i < 512; i++) cpu.write32(area.start + i * PAGE_SIZE, i);
const N = 1024;
// The baseline reads the same words of simulated physical memory directly: the same
// address stream, with the translation already done.
const u32 = m.phys.u32;
const pa0 = m.translate(area.start);

// The same loop shape for both: N loads from one 4 KiB page.
function simLoop(): number {
  let s = 0;
  const base = area.start;
  for (let i = 0; i < N; i++) s += cpu.read32(base + ((i * 4) & 0xfff));
  return s;
}
function plainLoop(): number {
  let s = 0;
  const base = area.start;
  for (let i = 0; i < N; i++) s += u32[(pa0 + (base + ((i * 4) & 0xfff) - base)) >>> 2];
  return s;
}

// Misses: a 1024-entry TLB, 512 pages touched in a stride that conflicts every time.
const missM = await createMachine({ arch: toyBackend(), cpus: 1, memoryMiB: 64, tlbEntries: 8 });
const missCpu = missM.cpu(0);
const missArea = missM.vmalloc(64 * PAGE_SIZE);
function missLoop(): number {
  let s = 0;
  for (let i = 0; i < 64; i++) s += missCpu.read32(missArea.start + i * PAGE_SIZE);
  return s;
}

for (let i = 0; i < 5000; i++) missLoop(); // warm up: optimized code before counting

function rate(fn: () => number, opsPerCall: number, ms = 400): number {
  for (let i = 0; i < 2000; i++) do_not_optimize(fn());
  let calls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 200; i++) do_not_optimize(fn());
    calls += 200;
  }
  return (calls * opsPerCall) / ((performance.now() - t0) / 1000);
}

// Allocation check. Run with --expose-gc and a young generation large enough that no
// scavenge happens during the loop: the heap then grows by whatever the loop allocated.
// An allocation per miss would show as >= 16 bytes per miss (a HeapNumber); V8's own
// occasional work (feedback, code) shows as a fraction of a byte.
const gc = (globalThis as { gc?: () => void }).gc;
let bytesPerMiss = Number.NaN;
if (gc) {
  gc();
  const h0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < 20000; i++) missLoop();
  bytesPerMiss = (process.memoryUsage().heapUsed - h0) / (20000 * 64);
}

summary(() => {
  bench('cpu.read32, TLB hit (x1024)', () => do_not_optimize(simLoop()));
  bench('Uint32Array read (x1024)', () => do_not_optimize(plainLoop()));
});
bench('cpu.read32, TLB miss + walk (x64)', () => do_not_optimize(missLoop()));
await run();

// Alternate short measurements and take medians, so load from other processes on this
// 2-core machine hits both sides alike.
const hits: number[] = [];
const bases: number[] = [];
const ratios: number[] = [];
for (let r = 0; r < 9; r++) {
  const h = rate(simLoop, N, 120);
  const b = rate(plainLoop, N, 120);
  hits.push(h);
  bases.push(b);
  ratios.push(b / h);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const hit = median(hits);
const base = median(bases);
const miss = rate(missLoop, 64);
console.log(`\nTLB-hit read32: ${(hit / 1e6).toFixed(1)} M/s (target >= 50 M/s)`);
console.log(
  `Uint32Array read: ${(base / 1e6).toFixed(1)} M/s -> median ratio ${median(ratios).toFixed(2)}x (target <= 2.5x, moonshot 2x)`,
);
console.log(`TLB-miss walk read32: ${(miss / 1e6).toFixed(2)} M/s`);
console.log(
  gc
    ? `heap growth per TLB-miss walk: ${bytesPerMiss.toFixed(2)} bytes (an allocation per miss would be >= 16)`
    : 'allocation check skipped: run with node --expose-gc (pnpm bench does)',
);
