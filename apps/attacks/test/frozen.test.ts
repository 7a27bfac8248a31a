import { Tlb } from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tlbState } from '../src/fuzz/frozen.js';

const PAGE = 4096;
// A few pages, ASIDs and flag sets, so fills collide, alias and get flushed.
const base = fc.integer({ min: 0, max: 40 }).map((p) => 0xc900_0000_0000 + p * PAGE);
const tlbOp = fc.oneof(
  fc.record({
    k: fc.constant('fill' as const),
    base,
    asid: fc.integer({ min: 0, max: 3 }),
    pa: fc.integer({ min: 0, max: 255 }).map((f) => f * PAGE),
    flags: fc.integer({ min: 0, max: 0x3ff }),
  }),
  fc.record({
    k: fc.constant('large' as const),
    base,
    asid: fc.integer({ min: 0, max: 3 }),
    pa: fc.integer({ min: 0, max: 255 }).map((f) => f * PAGE),
    flags: fc.integer({ min: 0, max: 0x3ff }),
    level: fc.constantFrom(2, 3),
  }),
  fc.record({ k: fc.constant('flushPage' as const), base, asid: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ k: fc.constant('flushAsid' as const), asid: fc.integer({ min: 0, max: 3 }) }),
  fc.record({ k: fc.constant('flushAll' as const) }),
);
type TlbOp = typeof tlbOp extends fc.Arbitrary<infer T> ? T : never;

function run(ops: readonly TlbOp[]): Tlb {
  const t = new Tlb(16);
  for (const op of ops) {
    if (op.k === 'fill') t.fill(op.base, op.asid, op.pa, op.flags);
    else if (op.k === 'large') t.fillLarge(op.base, op.asid, op.pa, op.flags, op.level);
    else if (op.k === 'flushPage') t.flushPage(op.base, op.asid);
    else if (op.k === 'flushAsid') t.flushAsid(op.asid);
    else t.flushAll();
  }
  return t;
}

describe('tlbState (the refused-call check of TLBs)', () => {
  it('differs exactly when the TLBs’ entries() differ', () => {
    fc.assert(
      fc.property(
        fc.array(tlbOp, { maxLength: 30 }),
        fc.array(tlbOp, { maxLength: 3 }),
        fc.nat(),
        fc.constantFrom('none', 'pa', 'flags', 'same', 'ops'),
        (common, extra, which, tweak) => {
          // Two TLBs with a common history; one of them refills one of its entries with
          // one field changed (or unchanged), or runs more ops.
          const a = run(common);
          const b = run(tweak === 'ops' ? [...common, ...extra] : common);
          const entries = [...b.entries()];
          const e = entries[which % Math.max(1, entries.length)];
          if (e && tweak !== 'none' && tweak !== 'ops') {
            const pa = tweak === 'pa' ? e.pa ^ PAGE : e.pa;
            const flags = tweak === 'flags' ? e.flags ^ (1 << (which % 10)) : e.flags;
            const asid = e.global ? 0 : e.asid;
            // Global entries keep their tag only with the G flag set.
            const f = e.global ? flags | 0x10 : flags & ~0x10;
            if (e.slot >= 0) b.fill(e.va, asid, pa, f);
            else b.fillLarge(e.va, asid, pa, f, e.size === 2 ** 21 ? 2 : 3);
          }
          const byEntries = JSON.stringify([...a.entries()]) === JSON.stringify([...b.entries()]);
          expect(JSON.stringify(tlbState([a])) === JSON.stringify(tlbState([b]))).toBe(byEntries);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('tells which TLB an entry is in', () => {
    const a = run([{ k: 'fill', base: 0xc900_0000_0000, asid: 1, pa: PAGE, flags: 3 }]);
    const empty = new Tlb(16);
    expect(tlbState([a, empty])).not.toEqual(tlbState([empty, a]));
  });
});
