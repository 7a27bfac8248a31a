import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, LeafMemo, PAGE_SIZE, PG, WalkResult } from '../src/index.js';
import { toyMachine } from './helpers.js';

const PROT = PG.PROT_RO | PG.PROT_WR;

describe('LeafMemo', () => {
  it('refuses bad arguments with a typed error, the value as given', async () => {
    const m = await toyMachine();
    const bad = (f: () => unknown, value: unknown) => {
      let err: unknown;
      try {
        f();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).code).toBe('EINVAL');
      expect((err as InvalidArgumentError).value).toBe(value);
    };
    bad(() => new LeafMemo(0), 0);
    bad(() => new LeafMemo(-1), -1);
    bad(() => new LeafMemo(1.5), 1.5);
    const notPhys = {};
    bad(() => new LeafMemo(PROT, notPhys as never), notPhys);
    const memo = new LeafMemo(PROT, m.phys);
    bad(() => memo.find(-1, 0, 0), -1);
    bad(() => memo.find(0, 2 ** 32, 0), 2 ** 32);
    bad(() => memo.add(1, 2, 3, 1), 1); // no record open
    bad(() => memo.end(), -1);
    bad(() => memo.replay(0, () => {}), 0);
    bad(() => memo.keepSlots(m.phys.size, 1, PAGE_SIZE, [], 0), m.phys.size);
    bad(() => memo.keepSlots(0, 16, PAGE_SIZE, [], 0), 16);
    bad(() => memo.keepSlots(0, 1, PAGE_SIZE, [1], 2), 2);
    bad(() => memo.pickBuffer(99, 8), 99);
    memo.begin(3, 1, 2);
    bad(() => memo.begin(4, 1, 2), 4); // one is open
  });

  it('replays a root entry’s leaves in order, for the same index and value only', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat(), fc.integer({ min: 1, max: 3 })), {
          maxLength: 20,
        }),
        fc.nat({ max: 511 }),
        fc.nat({ max: 0xffff_ffff }),
        (leaves, index, lo) => {
          const memo = new LeafMemo(PROT);
          expect(memo.find(index, lo, 0)).toBe(-1);
          memo.begin(index, lo, 0);
          for (const [va, pa, f, l] of leaves) memo.add(va, pa, f, l);
          memo.end();
          const r = memo.find(index, lo, 0);
          expect(r).toBeGreaterThanOrEqual(0);
          const got: number[][] = [];
          memo.replay(r, (va, pa, f, l) => got.push([va, pa, f, l]));
          expect(got).toEqual(leaves);
          expect(memo.find(index, (lo + 1) >>> 0, 0)).toBe(-1);
          expect(memo.find(index, lo, 1)).toBe(-1);
          expect(memo.find((index + 1) % 512, lo, 0)).toBe(-1);
        },
      ),
    );
  });

  it('keeps a scan while the table’s bytes and the flagged frames are unchanged, whoever writes', async () => {
    const m = await toyMachine();
    const table = m.phys.allocFrame() * PAGE_SIZE;
    const first = new LeafMemo(PROT, m.phys);
    first.keepSlots(table, 1, PAGE_SIZE, [3, 9], 2);
    const next = () => new LeafMemo(PROT, m.phys, first);
    expect(Array.from(next().slotsOf(table, 1, PAGE_SIZE) ?? [])).toEqual([3, 9]);
    // Another kind, or size, is another scan.
    expect(next().slotsOf(table, 2, PAGE_SIZE)).toBeUndefined();
    expect(next().slotsOf(table, 1, 1024)).toBeUndefined();
    // A raw write anywhere in the table drops it; writing the old byte back brings it back.
    m.phys.bytes[table + 4095] ^= 0x80;
    expect(next().slotsOf(table, 1, PAGE_SIZE)).toBeUndefined();
    m.phys.bytes[table + 4095] ^= 0x80;
    expect(next().slotsOf(table, 1, PAGE_SIZE)).toBeDefined();
    // A frame flag outside the mask changes nothing; one in the mask drops every scan.
    m.phys.frameFlags[7] |= PG.VMALLOC;
    expect(next().slotsOf(table, 1, PAGE_SIZE)).toBeDefined();
    m.phys.frameFlags[7] |= PG.PROT_WR;
    const after = new LeafMemo(PROT, m.phys, first);
    expect(after.slotsOf(table, 1, PAGE_SIZE)).toBeUndefined();
    // A memo of its own never sees another's store.
    expect(new LeafMemo(PROT, m.phys).slotsOf(table, 1, PAGE_SIZE)).toBeUndefined();
  });

  it('checks a kept scan against the memory of the next machine, not the last', async () => {
    const a = await toyMachine();
    const b = await toyMachine();
    const table = a.kernelMm.rootPa;
    const memo = new LeafMemo(PROT, a.phys);
    memo.keepSlots(table, 5, PAGE_SIZE, [1], 1);
    // b booted the same way: same root bytes, same flags.
    expect(new LeafMemo(PROT, b.phys, memo).slotsOf(table, 5, PAGE_SIZE)).toBeDefined();
    b.phys.u32[(table >>> 2) + 2] ^= 1;
    expect(new LeafMemo(PROT, b.phys, memo).slotsOf(table, 5, PAGE_SIZE)).toBeUndefined();
  });
});

describe('auditProtections across audits (its kept table scans)', () => {
  it('sees a writable PTE of a protected frame written raw into an audited table', async () => {
    const m = await toyMachine({ cpus: 2 });
    const a = m.vmalloc(2 * PAGE_SIZE, { range: 'wr' });
    m.protect(a.start, PAGE_SIZE, 'ro');
    expect(m.auditProtections()).toEqual([]);
    expect(m.auditProtections()).toEqual([]); // the second audit visits kept slots only
    // The second page's PTE, rewritten by hand: writable, and pointing at the RO frame.
    const w = new WalkResult();
    expect(m.arch.pt.lookup(m.kernelMm, a.start + PAGE_SIZE, w)).toBe(true);
    m.phys.u32[w.leafPa >>> 2] = (a.pfns[0] * PAGE_SIZE) | 0x63; // P RW A D
    expect(m.auditProtections()).toContainEqual(
      expect.objectContaining({
        where: 'pte',
        va: a.start + PAGE_SIZE,
        pa: a.pfns[0] * PAGE_SIZE,
        level: 'ro',
      }),
    );
  });

  it('sees a frame made protected by hand under an unchanged writable mapping', async () => {
    const m = await toyMachine({ cpus: 2 });
    const a = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    expect(m.auditProtections()).toEqual([]);
    expect(m.auditProtections()).toEqual([]);
    m.phys.frameFlags[a.pfns[0]] |= PG.PROT_RO;
    expect(m.auditProtections()).toContainEqual(
      expect.objectContaining({ where: 'pte', va: a.start, level: 'ro' }),
    );
  });
});
