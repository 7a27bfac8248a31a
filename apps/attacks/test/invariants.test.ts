import { PG } from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countFrames, type FrameCounts } from '../src/fuzz/invariants.js';

/** The frame accounting as written first: one frame at a time. */
function reference(flags: Uint16Array): FrameCounts | number {
  const c = { free: 0, reserved: 0, quarantined: 0, allocated: 0, vmalloc: 0, quarantinedAny: 0 };
  for (let pfn = 0; pfn < flags.length; pfn++) {
    const f = flags[pfn];
    if ((f & PG.RESERVED) !== 0) c.reserved++;
    else if ((f & PG.QUARANTINED) !== 0) c.quarantined++;
    else if ((f & PG.ALLOCATED) !== 0) c.allocated++;
    else if (f === 0) c.free++;
    else return pfn;
    if ((f & PG.VMALLOC) !== 0) c.vmalloc++;
    if ((f & PG.QUARANTINED) !== 0) c.quarantinedAny++;
  }
  return c;
}

const flagValue = fc.oneof(
  { weight: 6, arbitrary: fc.constant(0) },
  {
    weight: 3,
    arbitrary: fc.subarray(Object.values(PG)).map((fs) => fs.reduce((a, b) => a | b, 0)),
  },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffff }) },
);

describe('countFrames (the frame accounting invariant)', () => {
  it('counts as the frame-by-frame loop, and finds the same first bad frame', () => {
    fc.assert(
      fc.property(fc.array(flagValue, { maxLength: 300 }), fc.nat(3), (values, offset) => {
        // An offset view too (the flags of a machine start at 0, a copy may not).
        const buf = new Uint16Array(values.length + offset + 1);
        buf.set(values, offset);
        const flags = buf.subarray(offset, offset + values.length);
        const out = {
          free: -1,
          reserved: -1,
          quarantined: -1,
          allocated: -1,
          vmalloc: -1,
          quarantinedAny: -1,
        };
        const bad = countFrames(flags, out);
        const want = reference(flags);
        if (typeof want === 'number') expect(bad).toBe(want);
        else {
          expect(bad).toBe(-1);
          expect(out).toEqual(want);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
