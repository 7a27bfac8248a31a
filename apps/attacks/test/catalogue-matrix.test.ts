import { describe, expect, it } from 'vitest';
import { CATALOGUE, defaultCombos } from '../src/index.js';

/**
 * The matrix, every cell asserted: each attack is performed for real on a fresh machine
 * of each backend × mechanism, and what it observed must be what the catalogue states.
 */
describe.each(defaultCombos().map((c) => [c.id, c] as const))('%s', (_id, combo) => {
  it.each(CATALOGUE.map((a) => [a.id, a] as const))('%s', async (_a, attack) => {
    const r = await attack.run(combo);
    expect(r.error).toBeUndefined();
    expect({ outcome: r.outcome, detail: r.detail }).toEqual({
      outcome: attack.expected(combo).outcome,
      detail: r.detail,
    });
    expect(r.match).toBe(true);
  });
});

describe('the catalogue itself', () => {
  const combos = defaultCombos();
  const keys = new Set([...combos.map((c) => c.id), ...combos.map((c) => c.backend.name)]);

  it('has unique ids and at least the cases of issue 10', () => {
    const ids = CATALOGUE.map((a) => a.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of [
      'plain-write-rodata',
      'plain-write-ro-after-init',
      'plain-write-wr-after-init',
      'wr-to-ro-after-init',
      'wr-to-rodata',
      'plain-write-ro-pool',
      'plain-write-wr-pool',
      'plain-write-auto-ro-pool',
      'plain-write-auto-wr-pool',
      'plain-write-start-wr-pool',
      'wr-to-ro-pool',
      'directmap-alias-wr-pool',
      'pte-rewrite-wr-pool',
      'stale-tlb-remote-pool',
      'wr-alias-from-kernel-mm',
      'wr-alias-from-other-cpu',
      'race-plain-write-other-cpu',
      'window-unrelated-ro',
      'pool-downgrade-ro-to-wr',
      'pool-downgrade-wr-to-writable',
      'pool-wr-to-ro',
      'pool-metadata-tamper',
      'use-after-destroy',
      'wr-spans-areas',
      'wr-past-allocation',
      'wr-overflowing-size',
      'hvc-unregistered',
    ])
      expect(ids).toContain(id);
  });

  it('gives a reason for every expectation that is not the default, and for open defaults', () => {
    for (const a of CATALOGUE) {
      for (const [key, [, reason]] of Object.entries(a.expect.overrides)) {
        expect(keys.has(key), `${a.id}: override key ${key} names no combo or backend`).toBe(true);
        expect(reason.length, `${a.id}/${key}`).toBeGreaterThan(10);
      }
      if (a.expect.default === 'window' || a.expect.default === 'unprotected')
        expect(a.expect.defaultReason, a.id).toBeTruthy();
    }
  });

  it('keeps every attack machine small (2–4 CPUs)', () => {
    for (const a of CATALOGUE) {
      const cpus = a.cpus ?? 2;
      expect(cpus).toBeGreaterThanOrEqual(2);
      expect(cpus).toBeLessThanOrEqual(4);
    }
  });
});
