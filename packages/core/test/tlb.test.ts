import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GLOBAL_TAG, PAGE_SIZE, TLBF, Tlb } from '../src/index.js';

/**
 * A reference model of a direct-mapped, ASID-tagged TLB written from the semantics:
 * a fill replaces whatever translation shares its slot; each flush kind removes exactly
 * the entries it names.
 */
type E = { base: number; asid: number; global: boolean };
const SIZE = 16;
const slot = (base: number) => (base / PAGE_SIZE) % SIZE;

const page = fc.integer({ min: 0, max: 63 }).map((i) => 0x7fff_0000_0000 + i * PAGE_SIZE);
const asid = fc.integer({ min: 0, max: 3 });
const op = fc.oneof(
  fc.record({ k: fc.constant('fill' as const), base: page, asid, global: fc.boolean() }),
  fc.record({ k: fc.constant('page' as const), base: page, asid }),
  fc.record({ k: fc.constant('pageAll' as const), base: page }),
  fc.record({
    k: fc.constant('range' as const),
    base: page,
    pages: fc.integer({ min: 1, max: 40 }),
  }),
  fc.record({ k: fc.constant('asid' as const), asid }),
  fc.record({ k: fc.constant('nonGlobal' as const) }),
  fc.record({ k: fc.constant('all' as const) }),
);

describe('Tlb', () => {
  it('each fill and flush kind keeps exactly the entries the semantics say', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const tlb = new Tlb(SIZE);
        let model: E[] = [];
        for (const o of ops) {
          switch (o.k) {
            case 'fill':
              model = model.filter((e) => slot(e.base) !== slot(o.base));
              model.push({ base: o.base, asid: o.asid, global: o.global });
              tlb.fill(o.base, o.asid, 0x1000, TLBF.R | (o.global ? TLBF.G : 0));
              break;
            case 'page': // INVLPG: this ASID's entry and the global one
              model = model.filter((e) => !(e.base === o.base && (e.global || e.asid === o.asid)));
              tlb.flushPage(o.base, o.asid);
              break;
            case 'pageAll':
              model = model.filter((e) => e.base !== o.base);
              tlb.flushPageAllAsids(o.base);
              break;
            case 'range': {
              const end = o.base + o.pages * PAGE_SIZE;
              model = model.filter((e) => e.base < o.base || e.base >= end);
              tlb.flushRange(o.base, end);
              break;
            }
            case 'asid':
              model = model.filter((e) => e.global || e.asid !== o.asid);
              tlb.flushAsid(o.asid);
              break;
            case 'nonGlobal':
              model = model.filter((e) => e.global);
              tlb.flushNonGlobal();
              break;
            case 'all':
              model = [];
              tlb.flushAll();
              break;
          }
          const got = [...tlb.entries()].map((e) => `${e.va}/${e.global ? 'G' : e.asid}`).sort();
          const want = model.map((e) => `${e.base}/${e.global ? 'G' : e.asid}`).sort();
          expect(got).toEqual(want);
        }
        // A lookup hits exactly the model's entries usable under that ASID.
        for (let a = 0; a < 4; a++) {
          for (let i = 0; i < 64; i++) {
            const base = 0x7fff_0000_0000 + i * PAGE_SIZE;
            const hit = tlb.lookup(base, a) >= 0;
            expect(hit).toBe(model.some((e) => e.base === base && (e.global || e.asid === a)));
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it('folds permissions into the comparators: no write tag without W and D', () => {
    const tlb = new Tlb(8);
    const base = 0x8880_0000_1000;
    const i = tlb.fill(base, 5, 0x2000, TLBF.R | TLBF.W);
    expect(tlb.rtag[i]).toBe(base + 5);
    expect(tlb.wtag[i]).toBeNaN(); // clean: the first write must walk to set D
    tlb.fill(base, 5, 0x2000, TLBF.R | TLBF.W | TLBF.D);
    expect(tlb.wtag[i]).toBe(base + 5);
    tlb.fill(base, 5, 0x2000, TLBF.R | TLBF.W | TLBF.D | TLBF.SLOW_W);
    expect(tlb.wtag[i]).toBeNaN();
    tlb.fill(base, 5, 0x2000, TLBF.R | TLBF.G | TLBF.SLOW_R);
    expect(tlb.rtag[i]).toBeNaN();
    expect(tlb.tag[i]).toBe(base + GLOBAL_TAG);
    expect(tlb.lookup(base, 9)).toBe(i); // global: any ASID
  });
});
