import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { injectedBugCombos, loadCombos } from '../src/fuzz/combos.js';
import { execute, FuzzFailure } from '../src/fuzz/execute.js';
import * as M from '../src/fuzz/model.js';
import { formatFailure, runFuzz } from '../src/fuzz/runner.js';
import { createWorld } from '../src/fuzz/world.js';

const COMBOS = await loadCombos();

describe('model-based fuzzing (fixed seeds, small runs)', () => {
  it('covers every landed backend × mechanism, the toy backend included', () => {
    const names = new Set(COMBOS.map((c) => c.backend.name));
    expect(names.has('toy')).toBe(true);
    expect(COMBOS.length).toBeGreaterThan(names.size - 1);
  });

  it('builds a user mm exactly where programs switch to one, and refuses a switch elsewhere', async () => {
    for (const combo of [...COMBOS, ...injectedBugCombos()]) {
      const w = await createWorld(combo);
      expect(w.userMm !== undefined).toBe(combo.userMm);
      expect(w.m.mms.filter((mm) => mm.kind === 'user').length).toBe(combo.userMm ? 1 : 0);
      if (!combo.userMm)
        expect(() => execute(M.newModel(3), w, { k: 'mm', user: true })).toThrow(FuzzFailure);
      w.m.dispose();
    }
  });

  for (const combo of COMBOS) {
    it(`${combo.label}: machine and model agree after every command`, async () => {
      const r = await runFuzz(combo, {
        seed: 20261125,
        numRuns: 4,
        maxCommands: 20,
        noShrink: true,
      });
      if (r.failed) throw new Error(formatFailure(r));
      expect(r.numRuns).toBe(4);
      expect(r.counters.commands).toBeGreaterThan(25);
    });
  }
});

describe('the reference model', () => {
  it('allocates downward, protects the previous area in AUTO modes, START_WR areas are write-rare', () => {
    const m = M.newModel(1);
    const p = M.createPool(m, 'auto-wr', false, 1, 8);
    M.alloc(m, p, new Uint8Array(100));
    M.alloc(m, p, new Uint8Array(10));
    expect(m.allocs.map((a) => [a.area, a.offset])).toEqual([
      [0, 4096 - 104],
      [0, 4096 - 104 - 16],
    ]);
    M.alloc(m, p, new Uint8Array(5000));
    expect(m.pools[p].areas.map((a) => [a.pages, a.level])).toEqual([
      [1, 'wr'],
      [2, 'rw'],
    ]);
    const s = M.createPool(m, 'start-wr', false, 1, 8);
    M.alloc(m, s, new Uint8Array(8));
    expect(m.pools[s].areas[0].level).toBe('wr');
    expect(M.makeReadOnly(m, s)).toEqual({ kind: 'pool-error', code: 'EPOOLMODE' });
  });

  it('refuses write-rare to RO pools and freed memory, plain writes to protected memory', () => {
    fc.assert(
      fc.property(fc.constantFrom<M.Level>('rw', 'wr', 'ro'), fc.boolean(), (level, wrMode) => {
        const m = M.newModel(1);
        const p = M.createPool(m, wrMode ? 'wr' : 'ro', true, 1, 8);
        M.alloc(m, p, new Uint8Array(8));
        m.pools[p].areas[0].level = level;
        expect(M.plainWrite(m, 0).kind).toBe(level === 'rw' ? 'ok' : 'fault');
        const wr = M.wrTarget(m, 0);
        if (level === 'ro') expect(wr).toEqual({ kind: 'violation', reason: 'read-only' });
        else if (!wrMode) expect(wr).toEqual({ kind: 'violation', reason: 'not-write-rare' });
        else expect(wr.kind).toBe('ok');
        M.destroy(m, p, false);
        expect(M.wrTarget(m, 0)).toEqual({ kind: 'violation', reason: 'unmapped' });
        expect(m.quarantinedPages).toBe(2); // the data page and the descriptor page
      }),
    );
  });
});

describe('the fuzzer catches an injected bug', () => {
  const [bug] = injectedBugCombos();

  it('a skipped remote shootdown: fc.check fails with a counterexample, replayable by its seed', async () => {
    const r = await runFuzz(bug, { seed: 42, numRuns: 200, maxCommands: 30, noShrink: true });
    expect(r.failed).toBe(true);
    expect(r.error).toMatch(/auditProtections.*writable TLB entry|expected fault, got ok/);
    expect(r.counterexample).toMatch(/protect|makeReadOnly|alloc/);
    expect(formatFailure(r)).toContain(`--seed ${r.seed} --runs ${r.numRuns} --max-commands 30`);
    // The default machine size is not repeated; any other is part of the replay.
    expect(formatFailure(r)).not.toContain('--memory');
    expect(formatFailure({ ...r, memoryMiB: 4 })).toMatch(/--max-commands 30 --memory 4$/);
    // The printed seed and run count replay exactly that failure.
    const again = await runFuzz(bug, {
      seed: r.seed,
      numRuns: r.numRuns,
      maxCommands: 30,
      noShrink: true,
    });
    expect(again.failed).toBe(true);
    expect(again.error).toBe(r.error);
    expect(again.counterexample).toBe(r.counterexample);
    // The same programs pass on the toy backend without the bug.
    const fixed = COMBOS.find((c) => c.label === 'toy/toy-remap');
    if (!fixed) throw new Error('no toy combo');
    const ok = await runFuzz(fixed, {
      seed: r.seed,
      numRuns: r.numRuns,
      maxCommands: 30,
      noShrink: true,
    });
    expect(ok.failed).toBe(false);
    // Three campaigns of up to 6,000 commands: seconds alone, a minute on a loaded host.
  }, 180_000);
});
