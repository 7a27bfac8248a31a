import { describe, expect, it } from 'vitest';
import { backend as x86 } from '@prmem/arch-x86';
import { backend as arm64, HYPERVISOR_PROFILES } from '@prmem/arch-arm64';
import { backend as nommu } from '@prmem/arch-nommu-alias';
import { ARCH_PACKAGES, discoverVariants, filterVariants } from '../src/variants.js';
import { resultsSchema } from '../src/results.js';

describe('backend discovery', () => {
  it('finds every mechanism of every arch package, and each hypervisor profile of arm64', async () => {
    const { variants, skipped } = await discoverVariants();
    expect(skipped).toEqual([]);
    const ids = variants.map((v) => v.id);
    for (const m of x86.mechanisms) expect(ids).toContain(`x86-64/${m}`);
    for (const m of nommu.mechanisms) expect(ids).toContain(`nommu-alias/${m}`);
    for (const p of HYPERVISOR_PROFILES)
      for (const m of arm64.mechanisms) expect(ids).toContain(`arm64[${p}]/${m}`);
    expect(ids).toHaveLength(
      x86.mechanisms.length +
        nommu.mechanisms.length +
        HYPERVISOR_PROFILES.length * arm64.mechanisms.length,
    );
  });

  it('skips, with a note, a package that exports no backend or cannot be imported', async () => {
    const { variants, skipped } = await discoverVariants(async (pkg) => {
      if (pkg === '@prmem/arch-arm64') return { PLACEHOLDER: 'arm64' };
      if (pkg === '@prmem/arch-nommu-alias') throw new Error('Cannot find module');
      return import(pkg);
    }, ARCH_PACKAGES);
    expect(variants.every((v) => v.arch === 'x86-64')).toBe(true);
    expect(skipped).toEqual([
      { what: '@prmem/arch-arm64', reason: 'does not export `backend` yet' },
      { what: '@prmem/arch-nommu-alias', reason: 'cannot be imported: Cannot find module' },
    ]);
  });

  it('filters by arch (with or without profile) and mechanism', async () => {
    const { variants } = await discoverVariants();
    expect(filterVariants(variants, ['arm64[thin]'], undefined).map((v) => v.id)).toEqual(
      arm64.mechanisms.map((m) => `arm64[thin]/${m}`),
    );
    expect(filterVariants(variants, ['arm64', 'x86-64'], ['alias-mm']).map((v) => v.id)).toEqual([
      'x86-64/alias-mm',
      'arm64[kvm]/alias-mm',
      'arm64[thin]/alias-mm',
    ]);
  });
});

describe('results.json schema', () => {
  it('rejects a row missing a counted event', () => {
    const row = {
      variant: 'v',
      arch: 'a',
      mechanism: 'm',
      workload: 'w',
      phase: 'p',
      op: 'o',
      scale: 'full',
      cpus: 1,
      ops: 1,
      size: {},
      modeled: { cyclesPerOp: 1, nsPerOp: 1, systemCyclesPerOp: 1, events: { pageWalk: 1 } },
      wall: { warmupRuns: 0, repeats: 1, samplesMs: [1], medianMs: 1, opsPerSec: 1 },
    };
    const r = resultsSchema.shape.rows.safeParse([row]);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(/ipiSent/);
  });
});
