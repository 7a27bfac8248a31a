import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadSizeError, OutOfMemoryError, PAGE_SIZE, PG, PhysMem } from '../src/index.js';

describe('PhysMem', () => {
  it('hands out distinct, zeroed frames and never frame 0', () => {
    const p = new PhysMem(1);
    const pfns = p.allocFrames(p.freeFrames);
    expect(new Set(pfns).size).toBe(pfns.length);
    expect(pfns).not.toContain(0);
    expect(pfns.length).toBe(255);
    for (const pfn of pfns) expect((p.frameFlags[pfn] & PG.ALLOCATED) !== 0).toBe(true);
  });

  it('zeroes a frame again when it is reallocated', () => {
    const p = new PhysMem(1);
    const [a] = p.allocFrames(1);
    p.bytes.fill(0xaa, a * PAGE_SIZE, (a + 1) * PAGE_SIZE);
    p.freeFrame(a);
    const again = p.allocFrames(p.freeFrames);
    expect(again).toContain(a);
    expect(p.bytes.subarray(a * PAGE_SIZE, (a + 1) * PAGE_SIZE).every((b) => b === 0)).toBe(true);
  });

  it('exhaustion throws OutOfMemoryError and allocates nothing', () => {
    const p = new PhysMem(1);
    p.allocFrames(250);
    const before = p.freeFrames;
    const err = (() => {
      try {
        p.allocFrames(before + 1);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(OutOfMemoryError);
    expect((err as OutOfMemoryError).code).toBe('ENOMEM');
    expect((err as OutOfMemoryError).requested).toBe(before + 1);
    expect(p.freeFrames).toBe(before);
  });

  it('rejects bad sizes and double frees with typed errors', () => {
    const p = new PhysMem(1);
    expect(() => p.allocFrames(0)).toThrow(BadSizeError);
    expect(() => p.allocFrames(1.5)).toThrow(BadSizeError);
    expect(() => new PhysMem(0)).toThrow(BadSizeError);
    expect(() => new PhysMem(4096)).toThrow(BadSizeError);
    const [a] = p.allocFrames(1);
    p.freeFrame(a);
    expect(() => p.freeFrame(a)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });

  it('allocContiguous returns aligned runs of free frames, all or nothing', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 20 }), { maxLength: 10 }),
        fc.integer({ min: 1, max: 8 }),
        fc.constantFrom(1, 2, 4, 8),
        (holes, n, align) => {
          const p = new PhysMem(1);
          // Fragment memory: allocate everything, free some frames.
          const all = p.allocFrames(p.freeFrames);
          for (const h of holes) {
            const pfn = all[(h * 37) % all.length];
            if ((p.frameFlags[pfn] & PG.ALLOCATED) !== 0) p.freeFrame(pfn);
          }
          for (let i = 100; i < 140; i++)
            if ((p.frameFlags[i] & PG.ALLOCATED) !== 0) p.freeFrame(i);
          const free = p.freeFrames;
          const first = p.allocContiguous(n, align);
          expect(first % align).toBe(0);
          for (let j = 0; j < n; j++)
            expect((p.frameFlags[first + j] & PG.ALLOCATED) !== 0).toBe(true);
          expect(p.freeFrames).toBe(free - n);
          // The allocator never hands out these frames again.
          const rest = p.allocFrames(p.freeFrames);
          for (let j = 0; j < n; j++) expect(rest).not.toContain(first + j);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('allocContiguous fails cleanly when no run exists', () => {
    const p = new PhysMem(1);
    const all = p.allocFrames(p.freeFrames);
    for (let i = 0; i < all.length; i += 2) p.freeFrame(all[i]);
    const free = p.freeFrames;
    expect(() => p.allocContiguous(2)).toThrow(OutOfMemoryError);
    expect(p.freeFrames).toBe(free);
  });
});

describe('PhysMem.anyFrameFlag', () => {
  it('answers as a page-by-page scan of the range within memory does', () => {
    const PAGE = 4096;
    const pm = new PhysMem(1);
    const arbPa = fc.oneof(
      fc.integer({ min: -8, max: 300 }).map((f) => f * PAGE),
      fc.integer({ min: -PAGE, max: 300 * PAGE }),
      fc.constantFrom(Number.NaN, 2 ** 40),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }))),
        arbPa,
        fc.oneof(fc.constantFrom(0, PAGE, 512 * PAGE), fc.integer({ min: 1, max: 300 * PAGE })),
        fc.integer({ min: 0, max: 0xffff }),
        (set, pa, size, mask) => {
          pm.frameFlags.fill(0);
          for (const [pfn, f] of set) pm.frameFlags[pfn] = f;
          let pf = 0;
          for (let off = 0; off < size && pa + off < pm.size; off += PAGE)
            pf |= pm.frameFlags[(pa + off) / PAGE] ?? 0;
          expect(pm.anyFrameFlag(pa, size, mask)).toBe((pf & mask) !== 0);
        },
      ),
    );
  });
});
