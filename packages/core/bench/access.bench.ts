/**
 * Simulator speed of the hot path: TLB-hit loads against plain typed-array loads, and the
 * TLB-miss walk. Run with `pnpm bench` (or `pnpm --filter @prmem/core bench`).
 * Targets (issue 3): a TLB-hit read32 ≥ 50 M/s and within 4× of Uint32Array reads; a
 * miss walk that does not allocate.
 */
import { PerformanceObserver } from 'node:perf_hooks';
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

// Allocation check: 1.28 M misses that allocated even 16 bytes each would fill the young
// generation and force scavenges. Count the GCs that *started* during the loop.
const gcStarts: number[] = [];
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcStarts.push(e.startTime);
});
obs.observe({ entryTypes: ['gc'] });
await new Promise((r) => setTimeout(r, 300));
const t0 = performance.now();
for (let i = 0; i < 20000; i++) missLoop();
const t1 = performance.now();
await new Promise((r) => setTimeout(r, 100));
obs.disconnect();
const gcs = gcStarts.filter((t) => t >= t0 && t <= t1).length;

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
  `Uint32Array read: ${(base / 1e6).toFixed(1)} M/s -> median ratio ${median(ratios).toFixed(2)}x (target <= 4x)`,
);
console.log(`TLB-miss walk read32: ${(miss / 1e6).toFixed(2)} M/s`);
console.log(
  `garbage collections during 1.28 M TLB-miss walks: ${gcs} (0 = the miss path does not allocate)`,
);
