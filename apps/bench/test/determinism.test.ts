import { describe, expect, it } from 'vitest';
import type { BenchResults } from '../src/results.js';
import { runPoint } from '../src/measure.js';
import { runBench } from '../src/runner.js';
import { discoverVariants, filterVariants } from '../src/variants.js';
import { loadPoolApi } from '../src/pool-api.js';
import { wrBatchWorkload } from '../src/workloads/wr-batch.js';
import { policydbWorkload } from '../src/workloads/policydb.js';
import { imaAppendWorkload } from '../src/workloads/ima-append.js';
import { wrAssignWorkload } from '../src/workloads/wr-assign.js';

/** Everything but wall-clock figures and timestamps: what must be identical for a seed. */
function modeled(r: BenchResults) {
  return r.rows.map(({ wall: _wall, ...rest }) => rest);
}

async function run(seed: number, jobs = 1): Promise<BenchResults> {
  const { variants } = await discoverVariants();
  const pool = await loadPoolApi();
  const { results } = await runBench({
    variants: filterVariants(
      variants,
      ['x86-64', 'arm64[thin]', 'nommu-alias'],
      ['alias-mm-per-pool', 'hyp-assist', 'lazy'],
    ),
    workloads: [wrBatchWorkload, policydbWorkload, imaAppendWorkload],
    cpus: [1, 3],
    referenceCpus: 3,
    quick: true,
    base: { seed, clockGHz: 2.5 },
    ...(typeof pool === 'string' ? { poolMissing: pool } : { pool }),
    skipped: [],
    trace: false,
    attacks: false, // security is not what this test measures
    jobs,
  });
  return results;
}

describe('determinism', () => {
  it('two runs with the same seed give identical modeled figures', async () => {
    const a = await run(1234);
    const b = await run(1234);
    expect(a.failures).toEqual([]);
    expect(a.rows.length).toBeGreaterThan(0);
    expect(modeled(b)).toEqual(modeled(a));
    // and the wall-clock figures are real measurements, not copies
    expect(a.rows.every((r) => r.wall.samplesMs.every((ms) => ms >= 0))).toBe(true);
  });
});

describe('parallel runs', () => {
  it('points run in worker threads give the serial run its modeled figures, in the same order', async () => {
    const serial = await run(77, 1);
    const parallel = await run(77, 2);
    expect(serial.host.jobs).toBe(1);
    expect(parallel.host.jobs).toBe(2);
    expect(parallel.failures).toEqual([]);
    expect(modeled(parallel)).toEqual(modeled(serial));
    // The life cycles ran in the workers too: the same variants, the same simulated memory.
    const memory = (r: BenchResults) =>
      (r.lifecycle ?? []).map((l) =>
        'error' in l
          ? l
          : { variant: l.variant, before: l.before.freeFrames, after: l.after.freeFrames },
      );
    expect(memory(parallel)).toEqual(memory(serial));
    expect(parallel.lifecycle?.length).toBe(3);
  });
});

describe('warm-up', () => {
  it("runs the workload untimed on machines of its own: the modeled figures stay a fresh machine's", async () => {
    const { variants } = await discoverVariants();
    const [variant] = filterVariants(variants, ['x86-64'], ['alias-mm']);
    const spec = {
      variant,
      workload: wrAssignWorkload,
      cpus: 2,
      scale: 'full' as const,
      quick: true, // small sizes; `warmup` forces the warm-up a full run does
      base: { seed: 9, clockGHz: 2 },
      env: { seed: 9 },
    };
    const [cold] = await runPoint({ ...spec, warmup: false });
    const [warm] = await runPoint({ ...spec, warmup: true });
    expect(cold.wall.warmupRuns).toBe(0);
    expect(warm.wall.warmupRuns).toBeGreaterThanOrEqual(2);
    expect(warm.modeled).toEqual(cold.modeled);
    expect(warm.wall.repeats).toBe(cold.wall.repeats);
  });
});
