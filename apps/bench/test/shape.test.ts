/**
 * The cost curves behave as the mechanisms do: a temporary alias mm (x86, arm64) and a
 * hypervisor call write on the local CPU only, so their per-operation cost does not
 * depend on the CPU count; a direct remap must shoot the mapping down on every other
 * CPU, twice per window, so its cost grows linearly with the CPU count.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ResultRow } from '../src/results.js';
import { runBench } from '../src/runner.js';
import { discoverVariants, filterVariants } from '../src/variants.js';
import { wrAssignWorkload } from '../src/workloads/wr-assign.js';

const CPUS = [1, 2, 4, 8, 16, 32, 64];
let rows: ResultRow[];

beforeAll(async () => {
  const { variants } = await discoverVariants();
  const picked = filterVariants(variants, undefined, ['alias-mm', 'hyp-assist', 'direct-remap']);
  const { results } = await runBench({
    variants: picked,
    workloads: [wrAssignWorkload],
    cpus: CPUS,
    referenceCpus: 1,
    quick: true,
    base: { seed: 7, clockGHz: 3 },
    skipped: [],
    trace: false,
    attacks: false, // security is not what this test measures
  });
  expect(results.failures).toEqual([]);
  rows = results.rows.filter((r) => r.scale === 'sweep');
}, 120_000);

function curve(id: string, pick: (r: ResultRow) => number): number[] {
  return CPUS.map((c) => {
    const r = rows.find((x) => x.variant === id && x.cpus === c);
    if (!r) throw new Error(`no row for ${id} at ${c} CPUs`);
    return pick(r);
  });
}

/** Least-squares line through (x, y): slope and coefficient of determination. */
function fit(xs: number[], ys: number[]): { slope: number; r2: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b) / n;
  const my = ys.reduce((a, b) => a + b) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return { slope: sxy / sxx, r2: syy === 0 ? 1 : (sxy * sxy) / (sxx * syy) };
}

describe('modeled cost against CPU count', () => {
  it.each([
    'x86-64/alias-mm',
    'arm64[kvm]/alias-mm',
    'arm64[kvm]/hyp-assist',
    'arm64[thin]/hyp-assist',
  ])('%s: per-operation cost is flat, with no cross-CPU messages', (id) => {
    const cycles = curve(id, (r) => r.modeled.cyclesPerOp);
    const system = curve(id, (r) => r.modeled.systemCyclesPerOp);
    expect(Math.max(...cycles) / Math.min(...cycles)).toBeLessThanOrEqual(1.01);
    expect(Math.max(...system) / Math.min(...system)).toBeLessThanOrEqual(1.01);
    expect(curve(id, (r) => r.modeled.events.ipiSent + r.modeled.events.ipiHandled)).toEqual(
      CPUS.map(() => 0),
    );
  });

  it('nommu-alias/direct-remap: cost grows linearly in the CPU count (IPIs to every other CPU)', () => {
    const id = 'nommu-alias/direct-remap';
    const cycles = curve(id, (r) => r.modeled.cyclesPerOp);
    const line = fit(CPUS, cycles);
    expect(line.slope).toBeGreaterThan(0);
    expect(line.r2).toBeGreaterThan(0.99);
    // Linear, not merely increasing: 32× the CPUs costs well over 10× at the top end.
    expect(cycles[CPUS.indexOf(64)] / cycles[CPUS.indexOf(2)]).toBeGreaterThan(10);
    // Strictly increasing at every step.
    for (let i = 1; i < cycles.length; i++) expect(cycles[i]).toBeGreaterThan(cycles[i - 1]);
    // IPIs per operation are proportional to the other CPUs: ipis(c) / (c - 1) constant.
    const ipis = curve(id, (r) => r.modeled.events.ipiSent);
    expect(ipis[0]).toBe(0);
    const perOther = CPUS.slice(1).map((c, i) => ipis[i + 1] / (c - 1));
    expect(new Set(perOther.map((x) => x.toFixed(6))).size).toBe(1);
    expect(perOther[0]).toBeGreaterThan(0);
    expect(
      fit(
        CPUS,
        curve(id, (r) => r.modeled.systemCyclesPerOp),
      ).r2,
    ).toBeGreaterThan(0.99);
  });

  it('at one CPU, the direct remap sends nothing and costs less than at two', () => {
    const cycles = curve('nommu-alias/direct-remap', (r) => r.modeled.cyclesPerOp);
    expect(cycles[0]).toBeLessThan(cycles[1]);
  });
});
