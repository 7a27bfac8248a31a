/**
 * Simulator speed (wall clock, this host): TLB-hit read32, TLB-miss walk, wrAssign per
 * mechanism, and the policydb life cycle. Run with `pnpm --filter @prmem/bench bench:speed`.
 * These measure the simulator, not the modeled hardware; prmem-bench reports the modeled costs.
 */
import { createMachine, PAGE_SIZE } from '@prmem/core';
import { wrAssign } from '@prmem/wr-ops';
import { Bench } from 'tinybench';
import { loadPoolApi } from '../src/pool-api.js';
import { discoverVariants } from '../src/variants.js';
import { policydbWorkload } from '../src/workloads/policydb.js';

const quick = process.argv.includes('--quick');
const time = quick ? 100 : 500;
const bench = new Bench({ time, warmupTime: quick ? 50 : 200 });
const { variants } = await discoverVariants();
const x86 = variants.find((v) => v.id === 'x86-64/alias-mm') ?? variants[0];

// TLB hit: 1024 loads from one page, translation cached.
const hitM = await createMachine({ arch: x86.backend, cpus: 1, memoryMiB: 8 });
const hitCpu = hitM.cpu(0);
const page = hitM.vmalloc(PAGE_SIZE).start;
hitCpu.write32(page, 1);
bench.add('read32, TLB hit (x1024)', () => {
  let s = 0;
  for (let i = 0; i < 1024; i++) s += hitCpu.read32(page + ((i * 4) & 0xfff));
  return s;
});

// TLB miss: an 8-entry direct-mapped TLB and 64 pages touched in turn: every load walks.
const missM = await createMachine({ arch: x86.backend, cpus: 1, memoryMiB: 8, tlbEntries: 8 });
const missCpu = missM.cpu(0);
const area = missM.vmalloc(64 * PAGE_SIZE).start;
bench.add('read32, TLB miss + walk (x64)', () => {
  let s = 0;
  for (let i = 0; i < 64; i++) s += missCpu.read32(area + i * PAGE_SIZE);
  return s;
});

for (const v of variants) {
  const m = await createMachine({ arch: v.backend, mechanism: v.mechanism, cpus: 4, memoryMiB: 8 });
  const target = m.defineStatic('.data..wr_after_init', 8, 'speed_target');
  m.finishBoot();
  const cpu = m.cpu(0);
  let n = 0;
  bench.add(`wrAssign 8 B (x100), ${v.id}, 4 CPUs`, () => {
    for (let i = 0; i < 100; i++) wrAssign(cpu, target, ++n, 8);
  });
}

await bench.run();
const rows = bench.tasks.map((t) => {
  const r = t.result;
  const hz = r && 'throughput' in r ? r.throughput.mean : 0;
  const per = t.name.match(/\(x(\d+)\)/);
  return {
    benchmark: t.name,
    'ops/s': Math.round(hz * (per ? Number(per[1]) : 1)).toLocaleString('en-US'),
  };
});
console.table(rows);

// policydb: one full life cycle (30,000 allocations) per backend's default mechanism.
const pool = await loadPoolApi();
if (typeof pool === 'string') {
  console.log(`policydb skipped: ${pool}`);
} else {
  const size = policydbWorkload.size('full', quick);
  for (const v of variants.filter((x, i, a) => a.findIndex((y) => y.arch === x.arch) === i)) {
    const m = await createMachine({
      arch: v.backend,
      mechanism: v.mechanism,
      cpus: 4,
      memoryMiB: policydbWorkload.memoryMiB(size),
    });
    const run = policydbWorkload.setup(m, size, { seed: 1, pool });
    const t0 = performance.now();
    run.iterate({ phase: (_n, _o, _ops, fn) => fn() });
    const ms = performance.now() - t0;
    console.log(
      `policydb life cycle, ${size.allocations} allocations, ${v.id}: ${ms.toFixed(0)} ms (target < 1000 ms)`,
    );
  }
}
