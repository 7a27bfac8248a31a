import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadCombos } from '../src/fuzz/combos.js';
import {
  compareSnapshots,
  type DiffCounters,
  differentialProperty,
  runProgram,
} from '../src/diff/differential.js';
import type { Op } from '../src/fuzz/ops.js';

const COMBOS = await loadCombos();

describe('differential testing across every backend × mechanism', () => {
  it('the same generated program leaves identical outcomes and contents everywhere', async () => {
    const counters: DiffCounters = { programs: 0, ops: 0 };
    await fc.assert(differentialProperty(COMBOS, counters, { maxOps: 25 }), {
      seed: 7,
      numRuns: 3,
      endOnFailure: true,
    });
    expect(counters.programs).toBe(3);
    expect(counters.ops).toBeGreaterThan(3 * COMBOS.length * 5);
  });

  it('a fixed program touching every pool mode ends byte-identical on every combo', async () => {
    const prelude: Op[] = [
      { k: 'create', mode: 'wr', limitRo: true, refillPages: 1, alignLog2: 3 },
      { k: 'alloc', pool: 0, how: 'alloc', size: 600, text: '' },
      { k: 'create', mode: 'start-wr', limitRo: false, refillPages: 2, alignLog2: 0 },
      { k: 'alloc', pool: 1, how: 'strdup', size: 0, text: 'selinux policydb' },
      { k: 'create', mode: 'auto-ro', limitRo: false, refillPages: 1, alignLog2: 4 },
      { k: 'alloc', pool: 2, how: 'zalloc', size: 3000, text: '' },
    ];
    const data = Uint8Array.from({ length: 96 }, (_, i) => (i * 37) & 0xff);
    const ops: Op[] = [
      { k: 'write', alloc: 0, off: 10, data },
      { k: 'protect', pool: 0 },
      { k: 'wr', part: { k: 'assign', alloc: 0, off: 40, size: 8, value: 0x0123_4567_89ab_cdefn } },
      { k: 'cpu', cpu: 2 },
      { k: 'wr', part: { k: 'memset', alloc: 1, off: 0, byte: 0x5a, len: 8 } },
      { k: 'alloc', pool: 2, how: 'alloc', size: 2000, text: '' },
      {
        k: 'batch',
        parts: [
          { k: 'memcpy', alloc: 0, off: 100, data },
          { k: 'assign', alloc: 3, off: 0, size: 4, value: 7n },
        ],
      },
      { k: 'write', alloc: 2, off: 0, data },
      { k: 'makeReadOnly', pool: 0 },
      { k: 'wr', part: { k: 'assign', alloc: 0, off: 0, size: 1, value: 1n } },
    ];
    const snaps = await Promise.all(COMBOS.map((c) => runProgram(c, prelude, ops)));
    expect(compareSnapshots(snaps)).toBeUndefined();
    const outcomes = snaps[0].steps.map((s) => s.outcome);
    // The batch's second target is in the auto-ro pool's new (still writable) area: write-rare
    // never writes an RO-mode pool, so the whole batch is refused; the plain write then hits
    // the pool's first area, protected read-only when the second one came.
    expect(outcomes).toEqual([
      ...prelude.map(() => 'ok'),
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'ok',
      'WriteRareViolation(not-write-rare)',
      'fault',
      'ok',
      'WriteRareViolation(read-only)',
    ]);
    // Nothing of the refused batch was written (validation precedes every byte): past the
    // first plain write (bytes 10..105), allocation 0 holds only the wrAssign at 40..47.
    expect(snaps[0].allocs[0]?.subarray(106, 196)).toEqual(new Uint8Array(90));
  });

  it('compareSnapshots reports the first difference (contents and outcomes)', () => {
    const a = {
      combo: 'a/x',
      steps: [{ op: 'w', outcome: 'ok' }],
      allocs: [Uint8Array.of(1, 2, 3)],
    };
    expect(compareSnapshots([a, { ...a, combo: 'b/y' }])).toBeUndefined();
    expect(compareSnapshots([a, { ...a, combo: 'b/y', allocs: [Uint8Array.of(1, 9, 3)] }])).toMatch(
      /allocation 0 byte 1: a\/x 0x2, b\/y 0x9/,
    );
    expect(
      compareSnapshots([a, { ...a, combo: 'b/y', steps: [{ op: 'w', outcome: 'fault' }] }]),
    ).toMatch(/step 0/);
    expect(compareSnapshots([a, { ...a, combo: 'b/y', allocs: [null] }])).toMatch(/gone/);
  });
});
