import { PageFault, PAGE_SIZE, PG } from '@prmem/core';
import { wrAssign } from '@prmem/wr-ops';
import { describe, expect, it } from 'vitest';
import {
  createPool,
  DESC_OFFSETS,
  DESC_SIZE,
  FIXED_OFFSETS,
  findPool,
  MODE_BITS,
  PoolError,
  poolTable,
  pools,
} from '../src/index.js';
import { DEFAULTS, machineFor, snapshot, throws } from './support/combos.js';

describe.each(DEFAULTS)('pool semantics on $label', (combo) => {
  it('moves protection only toward more restrictive, never past the limit fixed at creation', async () => {
    const m = await machineFor(combo);
    const wr = createPool(m, { mode: 'wr', name: 'ima' });
    const va = wr.alloc(8);
    wr.protect();
    const before = snapshot(m);
    const e = throws(() => wr.makeReadOnly());
    expect(e).toBeInstanceOf(PoolError);
    expect(e).toMatchObject({ code: 'EPOOLMODE' });
    expect(snapshot(m)).toEqual(before);
    wrAssign(m.cpu(0), va, 5, 4); // still updatable: nobody could block it
    expect(wr.level).toBe('wr');
    // A pool created with limit 'ro' may go all the way.
    const final = createPool(m, { mode: 'wr', name: 'final', limit: 'ro' });
    const fva = final.alloc(8);
    final.protect();
    final.makeReadOnly();
    expect(final.level).toBe('ro');
    expect(throws(() => wrAssign(m.cpu(0), fva, 1, 4))).toMatchObject({ reason: 'read-only' });
    expect(throws(() => final.protect())).toMatchObject({ code: 'EPOOLDOWNGRADE' });
    // The machine refuses a downgrade of any area.
    const area = m.findArea(fva)!;
    expect(throws(() => m.protect(area.start, area.size, 'wr'))).toMatchObject({
      code: 'EPROTDOWNGRADE',
    });
    expect(throws(() => createPool(m, { mode: 'ro', name: 'x', limit: 'wr' }))).toMatchObject({
      code: 'EPOOLARG',
    });
  });

  it('keeps creation-time fields read-only and the changing ones in a write-rare table', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'auto-wr', name: 'selinux', refill: 2 * PAGE_SIZE, align: 32 });
    p.alloc(10);
    const table = poolTable(m)!;
    const d = table.start + p.id * DESC_SIZE;
    expect(p.slotVa).toBe(d);
    const f = p.fixedVa;
    const r = m.cpu(1);
    expect(r.read32(d + DESC_OFFSETS.magic)).toBe(0x4c414d50);
    expect(r.readPtr(d + DESC_OFFSETS.fixed)).toBe(f);
    expect(r.read32(d + DESC_OFFSETS.areaCount)).toBe(1);
    expect(r.readPtr(d + DESC_OFFSETS.newestArea)).toBe(p.areas[0].start);
    expect(r.read32(f + FIXED_OFFSETS.id)).toBe(p.id);
    expect(r.read32(f + FIXED_OFFSETS.mode)).toBe(MODE_BITS['auto-wr']);
    expect(r.read32(f + FIXED_OFFSETS.refill)).toBe(2 * PAGE_SIZE);
    expect(r.read32(f + FIXED_OFFSETS.align)).toBe(32);
    expect(new TextDecoder().decode(r.readBytes(f + FIXED_OFFSETS.name, 7))).toBe('selinux');
    expect(m.protectionOf(d)).toBe('wr');
    expect(m.protectionOf(f)).toBe('ro');
    expect(p.areas).not.toContain(p.descriptorArea);
    // Tampering with plain stores: every field of both faults, on every CPU.
    for (const va of [
      f + FIXED_OFFSETS.mode,
      f + FIXED_OFFSETS.limit,
      d + DESC_OFFSETS.level,
      d + DESC_OFFSETS.flags,
    ]) {
      for (const c of [0, 1]) expect(() => m.cpu(c).write32(va, 0)).toThrow(PageFault);
    }
    expect(r.read32(f + FIXED_OFFSETS.mode)).toBe(MODE_BITS['auto-wr']);
    expect(m.auditProtections()).toEqual([]);
  });

  it('tracks areas both ways and answers findPool from any address', async () => {
    const m = await machineFor(combo);
    const a = createPool(m, { mode: 'wr', name: 'a' });
    const b = createPool(m, { mode: 'ro', name: 'b' });
    const vas = [a.alloc(100), b.alloc(5000), a.alloc(PAGE_SIZE * 2), b.alloc(1)];
    expect(vas.map((v) => findPool(m, v))).toEqual([a, b, a, b]);
    expect(findPool(m, vas[1] + 4999)).toBe(b);
    for (const p of [a, b])
      for (const ar of p.areas) expect(m.findArea(ar.start)?.owner).toBe(p.ownerId);
    for (const ar of a.areas) for (const pfn of ar.pfns) expect(m.phys.frameArea[pfn]).toBe(ar.id);
    expect(findPool(m, m.defineStatic('.data', 8, 'x'))).toBeUndefined();
    expect(findPool(m, poolTable(m)!.start)).toBeUndefined();
    expect(findPool(m, a.fixedVa)).toBeUndefined();
    expect(findPool(m, -1)).toBeUndefined();
    expect(pools(m)).toEqual([a, b]);
  });

  it('destroy releases by default; quarantine keeps frames from every other pool', async () => {
    const m = await machineFor(combo);
    const old = createPool(m, { mode: 'wr', name: 'old', reclaimable: true });
    const stale = old.alloc(64);
    m.cpu(0).writeBytes(stale, new Uint8Array(64).fill(0x5e));
    old.protect();
    // Its data frames and its descriptor page.
    const frames = [...old.areas, old.descriptorArea].flatMap((a) => [...a.pfns]);
    old.destroy({ quarantine: true });
    for (const pfn of frames) {
      expect(m.phys.frameFlags[pfn] & PG.QUARANTINED).toBe(PG.QUARANTINED);
      expect(
        m.phys.bytes.subarray(pfn * PAGE_SIZE, (pfn + 1) * PAGE_SIZE).every((x) => x === 0),
      ).toBe(true);
    }
    const fresh = createPool(m, { mode: 'wr', name: 'new' });
    const secret = fresh.alloc(64);
    m.cpu(0).writeBytes(secret, new Uint8Array(64).fill(0x77));
    expect(fresh.areas.flatMap((a) => [...a.pfns]).some((p) => frames.includes(p))).toBe(false);
    expect(fresh.id).toBe(old.id); // the table slot is reused, the memory is not
    // The virtual range is reused after the shootdown: the stale pointer now reaches the
    // new pool's data, a real use-after-free (the threat model says so).
    expect(stale).toBe(secret);
    expect(m.cpu(1).read8(stale)).toBe(0x77);
    fresh.destroy();
    // By default destroy gives the frames back (scrubbed), table pages included.
    const r = createPool(m, { mode: 'wr', name: 'reclaim', reclaimable: true });
    const free = m.phys.freeFrames;
    const rv = r.alloc(8);
    r.destroy();
    expect(m.phys.freeFrames).toBeGreaterThanOrEqual(free + 2); // data and descriptor pages
    expect(() => m.cpu(0).read8(rv)).toThrow(PageFault);
  });

  it('with a VA quarantine a stale pointer into a destroyed pool faults', async () => {
    const m = await machineFor(combo, { vaQuarantine: 8 });
    const old = createPool(m, { mode: 'wr', name: 'old', reclaimable: true });
    const stale = old.alloc(64);
    old.protect();
    old.destroy();
    const fresh = createPool(m, { mode: 'wr', name: 'new' });
    const va = fresh.alloc(64);
    expect(va).not.toBe(stale);
    expect(() => m.cpu(1).read8(stale)).toThrow(PageFault);
    expect(() => m.cpu(1).write8(stale, 1)).toThrow(PageFault);
  });

  it('a pool is not reclaimable by default: its protected frames stay protected for good', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'wr', name: 'norecl' });
    const va = p.alloc(64);
    m.cpu(0).write64(va, 0x5e5en);
    p.protect();
    expect(p.reclaimable).toBe(false);
    const kept = [...p.areas, p.descriptorArea];
    for (const a of kept) expect(a.reclaimable).toBe(false);
    const frames = kept.flatMap((a) => [...a.pfns]);
    p.destroy(); // releases by default: a NO_RECL pool keeps its protected frames anyway
    for (const pfn of frames) {
      // Still allocated (never back in the free list), parked, protected.
      expect(m.phys.frameFlags[pfn] & PG.ALLOCATED).toBe(PG.ALLOCATED);
      expect(m.phys.frameFlags[pfn] & PG.QUARANTINED).toBe(PG.QUARANTINED);
      expect(['wr', 'ro']).toContain(m.frameLevel(pfn));
    }
    expect(() => m.cpu(1).read8(va)).toThrow(PageFault);
    expect(m.auditProtections()).toEqual([]);
  });

  it('bad arguments and exhaustion throw typed errors and change nothing', async () => {
    const m = await machineFor(combo, { memoryMiB: 8 });
    const p = createPool(m, { mode: 'wr', name: 'errs' });
    p.alloc(8);
    const before = snapshot(m);
    const bad: [() => unknown, string][] = [
      [() => p.alloc(0), 'EPOOLARG'],
      [() => p.alloc(-4), 'EPOOLARG'],
      [() => p.alloc(1.5), 'EPOOLARG'],
      [() => p.alloc(2 ** 40), 'EPOOLARG'],
      [() => p.calloc(2 ** 30, 2 ** 30), 'EOVERFLOW'],
      [() => p.calloc(-1, 8), 'EPOOLARG'],
      [() => p.strdup(5 as unknown as string), 'EPOOLARG'],
      [() => p.alloc(m.phys.freeFrames * PAGE_SIZE), 'ENOMEM'],
      [() => createPool(m, { mode: 'rw' as 'wr' }), 'EPOOLARG'],
      [() => createPool(m, { mode: 'wr', align: 3 }), 'EPOOLARG'],
      [() => createPool(m, { mode: 'wr', refill: 0 }), 'EPOOLARG'],
      [() => createPool(m, { mode: 'wr', name: 'a-name-that-is-too-long' }), 'EPOOLARG'],
    ];
    for (const [f, code] of bad) expect(throws(f)).toMatchObject({ code });
    expect(snapshot(m)).toEqual(before);
    expect(pools(m)).toEqual([p]);
  });
});
