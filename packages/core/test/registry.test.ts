import { describe, expect, it } from 'vitest';
import {
  type Backend,
  BUILTIN_ARCHES,
  backendCombos,
  createMachine,
  InvalidArgumentError,
  loadBuiltinBackends,
  withProfile,
} from '../src/index.js';
import { repositoryBackends, toyBackend } from '../src/testing/index.js';

const toy = toyBackend();
/** The toy with two declared cost profiles, a cheap and a dear page walk. */
const priced: Backend = {
  ...toy,
  name: 'priced',
  profiles: [
    {
      name: 'cheap',
      summary: 'walks cost 10',
      costs: { ...toy.costs, pageWalk: { cycles: 10, source: 'test' } },
    },
    {
      name: 'dear',
      summary: 'walks cost 900',
      costs: { ...toy.costs, pageWalk: { cycles: 900, source: 'test' } },
      description: 'dear walks',
    },
  ],
};

describe('backendCombos', () => {
  it('lists every profile × mechanism of a backend with profiles, and every mechanism of one without', () => {
    const combos = backendCombos([toy, priced]);
    expect(combos.map((c) => c.label)).toEqual([
      'toy/toy-remap',
      'priced[cheap]/toy-remap',
      'priced[dear]/toy-remap',
    ]);
    expect(combos.map((c) => c.profile)).toEqual([undefined, 'cheap', 'dear']);
    expect(backendCombos([priced], { profiles: false }).map((c) => c.label)).toEqual([
      'priced/toy-remap',
    ]);
  });

  it("a profile's combo builds a machine that charges the profile's costs", async () => {
    const [cheap, dear] = backendCombos([priced]);
    const walks = async (b: Backend) => {
      const m = await createMachine({ arch: b, cpus: 1, memoryMiB: 8 });
      const va = m.defineStatic('.data', 8, 'v');
      m.resetStats();
      m.cpu(0).read8(va);
      return m.stats().cycles;
    };
    expect(await walks(dear.backend)).toBeGreaterThan(await walks(cheap.backend));
    expect(dear.backend.description).toBe('dear walks');
    expect(cheap.backend.description).toBe(toy.description);
  });

  it('refuses what is not a backend or a declared profile, with typed errors', () => {
    expect(() => backendCombos([{ name: 'x' } as unknown as Backend])).toThrow(
      InvalidArgumentError,
    );
    expect(() => backendCombos('toy' as unknown as Backend[])).toThrow(InvalidArgumentError);
    expect(() => withProfile(priced, 'chaep')).toThrow(/did you mean "cheap"/);
    expect(() => withProfile(toy, 'kvm')).toThrow(/declares no cost profiles/);
  });
});

describe('loadBuiltinBackends', () => {
  it("asks the caller's loader for every built-in package, in order, and notes what it skips", async () => {
    const asked: string[] = [];
    const found = await loadBuiltinBackends(async (pkg) => {
      asked.push(pkg);
      if (pkg === BUILTIN_ARCHES.arm64) throw new Error('Cannot find module');
      if (pkg === BUILTIN_ARCHES['nommu-alias']) return { notABackend: 1 };
      return { backend: toy };
    });
    expect(asked).toEqual(Object.values(BUILTIN_ARCHES));
    expect(found.backends).toEqual([{ pkg: BUILTIN_ARCHES['x86-64'], backend: toy }]);
    expect(found.skipped).toEqual([
      { what: BUILTIN_ARCHES.arm64, reason: 'cannot be imported: Cannot find module' },
      { what: BUILTIN_ARCHES['nommu-alias'], reason: 'does not export `backend` yet' },
    ]);
    await expect(loadBuiltinBackends('import' as never)).rejects.toThrow(InvalidArgumentError);
  });

  it('repositoryBackends puts the toy first and refuses to lose a built-in backend', async () => {
    const all = await repositoryBackends(async () => ({ default: priced }));
    expect(all.map((b) => b.name)).toEqual(['toy', 'priced', 'priced', 'priced']);
    await expect(repositoryBackends(async () => ({}))).rejects.toThrow(/backends missing/);
  });
});
