/**
 * Attacks on pool metadata, as the issue lists them, on every backend and mechanism: a
 * write-rare primitive (A3) aimed at another pool's creation-time fields is refused and
 * recorded; one aimed at the fields that must stay write-rare is caught by the pool's
 * consistency check (EPOOLCORRUPT + a pool-metadata-corrupt event) and never obeyed.
 */
import { type Machine, PageFault, PAGE_SIZE, PG } from '@prmem/core';
import { WriteRareViolation, wrAssign, wrBatch, wrMemcpy, wrMemset, wrPtr } from '@prmem/wr-ops';
import { describe, expect, it } from 'vitest';
import {
  createPool,
  DESC_OFFSETS,
  DESC_SIZE,
  FIXED_OFFSETS,
  FLAG_DESTROYED,
  findPool,
  PMALLOC_WR,
  POOL_CORRUPT_EVENT,
  type Pool,
  PoolError,
  pools,
} from '../src/index.js';
import { COMBOS, expectUnchanged, machineFor, machineState, throws } from './support/combos.js';

function protectedWr(m: Machine, name: string, limit: 'wr' | 'ro' = 'wr') {
  const pool = createPool(m, { mode: 'wr', name, limit });
  const obj = pool.alloc(64);
  m.cpu(0).write64(obj, 0x1111n);
  pool.protect();
  return { pool, obj };
}

/** The refusal and its one security event. */
function expectCorrupt(m: Machine, f: () => unknown, address: number): PoolError {
  const n = m.securityEvents().length;
  const e = throws(f);
  expect(e).toBeInstanceOf(PoolError);
  expect(e).toMatchObject({ code: 'EPOOLCORRUPT' });
  expect(m.securityEvents()).toHaveLength(n + 1);
  expect(m.securityEvents().at(-1)).toMatchObject({ kind: POOL_CORRUPT_EVENT, address });
  return e as PoolError;
}

/** Every area of the pool is still at `level`, in its frames and for the machine. */
function expectAreas(m: Machine, p: Pool, level: string): void {
  for (const a of p.areas) {
    expect(a.level).toBe(level);
    expect(m.protectionOf(a.start)).toBe(level);
  }
}

describe.each(COMBOS)('pool metadata attacks on $label', (combo) => {
  it("write-rare stores to another pool's creation-time fields are refused and recorded", async () => {
    const m = await machineFor(combo);
    const { pool: victim, obj } = protectedWr(m, 'victim');
    const f = victim.fixedVa;
    const fixedBefore = m.peek(f, DESC_SIZE);
    const attacker = m.cpu(1);
    const attempts: [string, () => unknown][] = [
      ['raise the limit to ro', () => wrAssign(attacker, f + FIXED_OFFSETS.limit, 2, 4)],
      ['clear the WR mode bit', () => wrAssign(attacker, f + FIXED_OFFSETS.mode, 0, 4)],
      ['change the refill', () => wrAssign(attacker, f + FIXED_OFFSETS.refill, 1 << 20, 4)],
      ['change the alignment', () => wrAssign(attacker, f + FIXED_OFFSETS.align, 1, 4)],
      ['change the id', () => wrAssign(attacker, f + FIXED_OFFSETS.id, 7, 4)],
      ['rename it', () => wrMemcpy(attacker, f + FIXED_OFFSETS.name, new Uint8Array([0x41]))],
      ['wipe it', () => wrMemset(attacker, f, 0, DESC_SIZE)],
      ['a zero-length probe', () => wrMemset(attacker, f + FIXED_OFFSETS.limit, 0, 0)],
      ['a batch', () => wrBatch(attacker, (w) => w.assign(f + FIXED_OFFSETS.limit, 2, 4))],
    ];
    for (const [what, attempt] of attempts) {
      const n = m.securityEvents().length;
      const e = throws(attempt);
      expect(e, what).toBeInstanceOf(WriteRareViolation);
      expect(e, what).toMatchObject({ reason: 'read-only' });
      expect(m.securityEvents(), what).toHaveLength(n + 1);
      expect(m.securityEvents().at(-1), what).toMatchObject({ kind: 'wr-refused', cpu: 1 });
    }
    // Plain stores (A1) fault on every CPU.
    for (const c of [0, 1])
      expect(() => m.cpu(c).write32(f + FIXED_OFFSETS.limit, 2)).toThrow(PageFault);
    expect(m.peek(f, DESC_SIZE)).toEqual(fixedBefore);
    // The limit still holds: nobody can block the victim's future updates.
    expect(throws(() => victim.makeReadOnly())).toMatchObject({ code: 'EPOOLMODE' });
    expect(victim.limit).toBe('wr');
    expect(victim.modeBits & PMALLOC_WR).toBe(PMALLOC_WR);
    wrAssign(m.cpu(0), obj, 0x2222, 8);
    expect(m.cpu(1).read64(obj)).toBe(0x2222n);
    expectAreas(m, victim, 'wr');
    expect(m.auditProtections()).toEqual([]);
  });

  it('a destroyed flag set through write-rare is detected, and destroy() still releases the pool', async () => {
    const m = await machineFor(combo);
    const { pool: victim, obj } = protectedWr(m, 'zombie');
    const flags = victim.slotVa + DESC_OFFSETS.flags;
    wrAssign(m.cpu(1), flags, FLAG_DESTROYED, 4); // the slot is write-rare: A3 can do this
    for (const [op, f] of [
      ['alloc', () => victim.alloc(8)],
      ['protect', () => victim.protect()],
      ['level', () => victim.level],
    ] as const) {
      const before = machineState(m, [victim]);
      expectCorrupt(m, f, flags);
      expectUnchanged(before, machineState(m, [victim]), 1);
      expect(victim.destroyed, op).toBe(false);
    }
    // No zombie: destroy releases everything and records what it found.
    const frames = [...victim.areas, victim.descriptorArea].flatMap((a) => [...a.pfns]);
    const n = m.securityEvents().length;
    victim.destroy();
    expect(m.securityEvents()).toHaveLength(n + 1);
    expect(m.securityEvents().at(-1)).toMatchObject({
      kind: POOL_CORRUPT_EVENT,
      operation: 'pool.destroy',
    });
    expect(victim.destroyed).toBe(true);
    expect(victim.areas.every((a) => a.freed) && victim.descriptorArea.freed).toBe(true);
    for (const pfn of frames) expect(m.phys.frameFlags[pfn] & PG.QUARANTINED).toBe(PG.QUARANTINED);
    expect(findPool(m, obj)).toBeUndefined();
    expect(() => m.cpu(0).read8(obj)).toThrow(PageFault);
    expect(m.peek(victim.slotVa, DESC_SIZE)?.every((b) => b === 0)).toBe(true);
    expect(pools(m)).toEqual([]);
    // Destroyed is never cleared: a slot forged back to life resurrects nothing.
    const forged = m.peek(victim.slotVa, DESC_SIZE);
    wrMemcpy(m.cpu(1), victim.slotVa, new Uint8Array([0x50, 0x4d, 0x41, 0x4c]));
    wrPtr(m.cpu(1), victim.slotVa + DESC_OFFSETS.fixed, victim.fixedVa);
    expect(throws(() => victim.alloc(8))).toMatchObject({ code: 'EPOOLDESTROYED' });
    expect(throws(() => victim.destroy())).toMatchObject({ code: 'EPOOLDESTROYED' });
    expect(findPool(m, obj)).toBeUndefined();
    wrMemcpy(m.cpu(1), victim.slotVa, forged!);
    // The slot is free again and works for a new pool.
    const next = createPool(m, { mode: 'wr', name: 'next' });
    expect(next.id).toBe(victim.id);
    next.alloc(8);
    next.protect();
    expect(m.auditProtections()).toEqual([]);
  });

  it('a level above the limit, or not the level the pool reached, is refused and never obeyed', async () => {
    const m = await machineFor(combo);
    const { pool: wr } = protectedWr(m, 'wr');
    const level = wr.slotVa + DESC_OFFSETS.level;
    // Above the limit: makeReadOnly must not go through (nor report EPOOLMODE as if sound).
    wrAssign(m.cpu(1), level, 2, 4);
    expectCorrupt(m, () => wr.makeReadOnly(), level);
    expectCorrupt(m, () => wr.protect(), level);
    expectAreas(m, wr, 'wr');
    // Below what it reached (writable again?): refused too.
    wrAssign(m.cpu(1), level, 0, 4);
    expectCorrupt(m, () => wr.alloc(8), level);
    // Not a level code at all.
    wrAssign(m.cpu(1), level, 9, 4);
    expectCorrupt(m, () => wr.protect(), level);
    // Restored, the pool works again.
    wrAssign(m.cpu(1), level, 1, 4);
    wr.alloc(8);
    expect(wr.level).toBe('wr');
    // Within the limit but ahead of the pool: a limit-'ro' pool at 'wr' claimed 'ro'
    // would refuse every later protect() (its new areas would stay writable).
    const { pool: ro } = protectedWr(m, 'final', 'ro');
    const roLevel = ro.slotVa + DESC_OFFSETS.level;
    wrAssign(m.cpu(1), roLevel, 2, 4);
    expectCorrupt(m, () => ro.protect(), roLevel);
    expectAreas(m, ro, 'wr');
    wrAssign(m.cpu(1), roLevel, 1, 4);
    ro.makeReadOnly();
    expectAreas(m, ro, 'ro');
  });

  it("the descriptor pointer aimed at another pool's descriptor, or a forged one, is refused", async () => {
    const m = await machineFor(combo);
    const { pool: victim } = protectedWr(m, 'victim');
    const { pool: donor } = protectedWr(m, 'donor', 'ro');
    const ptr = victim.slotVa + DESC_OFFSETS.fixed;
    wrPtr(m.cpu(1), ptr, donor.fixedVa); // the donor's limit is 'ro'
    expectCorrupt(m, () => victim.makeReadOnly(), ptr);
    expectAreas(m, victim, 'wr');
    // A forged descriptor in write-rare memory the attacker controls: victim's id, limit ro.
    const evil = createPool(m, { mode: 'wr', name: 'evil' });
    const forged = evil.alloc(PAGE_SIZE);
    const fake = m.peek(victim.fixedVa, DESC_SIZE)!;
    new DataView(fake.buffer).setUint32(FIXED_OFFSETS.limit, 2, true);
    m.cpu(1).writeBytes(forged, fake);
    wrPtr(m.cpu(1), ptr, forged);
    expectCorrupt(m, () => victim.makeReadOnly(), ptr);
    expectAreas(m, victim, 'wr');
    wrPtr(m.cpu(1), ptr, victim.fixedVa);
    expect(throws(() => victim.makeReadOnly())).toMatchObject({ code: 'EPOOLMODE' });
  });

  it('a descriptor changed in physical memory (below the MMU) is not obeyed either', async () => {
    const m = await machineFor(combo);
    const { pool } = protectedWr(m, 'phys');
    const pa = m.translate(pool.fixedVa);
    for (const [off, v] of [
      [FIXED_OFFSETS.limit, 2],
      [FIXED_OFFSETS.mode, 0],
      [FIXED_OFFSETS.refill, 1 << 20],
      [FIXED_OFFSETS.flags, 1],
      [FIXED_OFFSETS.id, pool.id + 1],
    ] as const) {
      const old = m.phys.view.getUint32(pa + off, true);
      m.phys.view.setUint32(pa + off, v, true);
      expect(throws(() => pool.makeReadOnly())).toMatchObject({ code: 'EPOOLCORRUPT' });
      expect(m.securityEvents().at(-1)).toMatchObject({ kind: POOL_CORRUPT_EVENT });
      m.phys.view.setUint32(pa + off, old, true);
    }
    expectAreas(m, pool, 'wr');
    expect(throws(() => pool.makeReadOnly())).toMatchObject({ code: 'EPOOLMODE' });
  });

  it('area count, newest area and magic tampering are detected', async () => {
    const m = await machineFor(combo);
    const { pool } = protectedWr(m, 'p');
    const slot = pool.slotVa;
    const cases: [number, number, () => unknown][] = [
      [
        slot + DESC_OFFSETS.areaCount,
        4,
        () => wrAssign(m.cpu(1), slot + DESC_OFFSETS.areaCount, 0, 4),
      ],
      [slot + DESC_OFFSETS.newestArea, 8, () => wrPtr(m.cpu(1), slot + DESC_OFFSETS.newestArea, 0)],
      [slot + DESC_OFFSETS.magic, 4, () => wrAssign(m.cpu(1), slot + DESC_OFFSETS.magic, 0, 4)],
    ];
    for (const [at, size, tamper] of cases) {
      const orig = m.peek(at, size)!;
      tamper();
      expectCorrupt(m, () => pool.alloc(8), at);
      wrMemcpy(m.cpu(1), at, orig); // restored: the pool works again
      pool.alloc(8);
    }
  });

  it("an area released behind the pool's back is refused by core, or caught by the pool", async () => {
    const m = await machineFor(combo);
    const { pool } = protectedWr(m, 'p');
    const area = pool.areas[0];
    let freed = true;
    try {
      m.vfree(area);
    } catch {
      freed = false; // core keeps a pool's areas to their owner
    }
    if (freed) {
      expectCorrupt(m, () => pool.protect(), area.start);
      pool.destroy(); // still completes: the freed area is skipped
      expect(pool.destroyed).toBe(true);
      expect(pool.descriptorArea.freed).toBe(true);
    } else {
      expect(area.freed).toBe(false);
      pool.alloc(8);
      pool.destroy();
    }
    expect(m.auditProtections()).toEqual([]);
  });
});
