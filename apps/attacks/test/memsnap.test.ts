import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadCombos } from '../src/fuzz/combos.js';
import { execute, FuzzFailure } from '../src/fuzz/execute.js';
import { MemorySnapshot } from '../src/fuzz/memsnap.js';
import { newModel } from '../src/fuzz/model.js';
import type { Op } from '../src/fuzz/ops.js';
import { createWorld } from '../src/fuzz/world.js';

const SIZE = 1 << 20;
const CHUNK = 64 * 1024;

/** Writes: an offset and a value (a value equal to the old byte changes nothing). */
const writesArb = fc.array(fc.tuple(fc.nat(SIZE - 1), fc.nat(255)), { maxLength: 30 });

describe('MemorySnapshot (the refused-call memory check)', () => {
  it('finds exactly the first changed byte, as a full copy and compare does', () => {
    fc.assert(
      fc.property(writesArb, writesArb, fc.boolean(), (before, after, reuse) => {
        const mem = new Uint8Array(SIZE);
        // Non-zero content in some chunks, as a machine leaves it.
        for (const [pa, v] of before) mem[pa] = v;
        const snap = new MemorySnapshot();
        if (reuse) {
          // A snapshot taken before of other contents must not leak into this one.
          const other = new Uint8Array(SIZE).fill(0x5a);
          snap.take(other);
        }
        snap.take(mem);
        const copy = mem.slice();
        for (const [pa, v] of after) mem[pa] = v;
        const want = mem.findIndex((b, i) => b !== copy[i]);
        expect(snap.firstChange(mem)).toBe(want);
      }),
      { numRuns: 200 },
    );
  });

  it('catches one changed bit at every chunk edge, in zero and in copied chunks', () => {
    const mem = new Uint8Array(SIZE);
    for (let c = 0; c < SIZE / CHUNK; c += 2) mem[c * CHUNK + 7] = 1;
    const snap = new MemorySnapshot();
    for (let c = 0; c < SIZE / CHUNK; c++)
      for (const pa of [c * CHUNK, c * CHUNK + CHUNK - 1]) {
        snap.take(mem);
        mem[pa] ^= 0x80;
        expect(snap.firstChange(mem)).toBe(pa);
        mem[pa] ^= 0x80;
        expect(snap.firstChange(mem)).toBe(-1);
      }
  });

  it('refuses a memory that is not whole chunks', () => {
    expect(() => new MemorySnapshot().take(new Uint8Array(CHUNK + 1))).toThrow(RangeError);
  });
});

const prelude: Op[] = [
  { k: 'create', mode: 'wr', limitRo: true, refillPages: 1, alignLog2: 0 },
  { k: 'alloc', pool: 0, how: 'alloc', size: 64, text: '' },
];
const lower: Op = { k: 'lower', what: 'protect', pool: 0, alloc: 0, level: 'ro' };

describe('a write planted in a refused call is caught', () => {
  it('on every backend × mechanism, wherever it lands in physical memory', async () => {
    const combos = await loadCombos();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...combos),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 1, max: 255 }),
        async (combo, where, xor) => {
          const w = await createWorld(combo);
          const pa = Math.floor(where * w.m.phys.size);
          try {
            const model = newModel(3);
            for (const op of prelude) execute(model, w, op);
            const protect = w.m.protect.bind(w.m);
            // The attacker's protect is refused (no owner handle) after a byte moved.
            w.m.protect = (...args: Parameters<typeof protect>) => {
              w.m.phys.bytes[pa] ^= xor;
              protect(...args);
            };
            let err: unknown;
            try {
              execute(model, w, lower);
            } catch (e) {
              err = e;
            }
            expect(err).toBeInstanceOf(FuzzFailure);
            expect((err as Error).message).toContain(
              `but changed physical memory (first at pa 0x${pa.toString(16)})`,
            );
          } finally {
            w.m.dispose();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('and the same refusal without the planted write passes', async () => {
    for (const combo of await loadCombos()) {
      const w = await createWorld(combo);
      const model = newModel(3);
      for (const op of prelude) execute(model, w, op);
      expect(execute(model, w, lower).outcome).toBe('refused');
      w.m.dispose();
    }
  });
});
