/**
 * Where pools live: the write-rare range and the read-only pool range apart (the address
 * alone says which), per-pool reserves (the address alone names the pool), `wrRangeMiB`
 * and error messages that count what a caller can use.
 */
import { ConfigError, createMachine, type Machine, OutOfMemoryError, PAGE_SIZE } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { createPool, findPool } from '../src/index.js';
import { BACKENDS, COMBOS, machineFor, throws } from './support/combos.js';

describe.each(COMBOS)('pool ranges on $label', (combo) => {
  it('RO pools allocate in their own range: inWrRange alone separates them from WR pools', async () => {
    const m = await machineFor(combo);
    const ro = createPool(m, { mode: 'ro', name: 'ro' });
    const wr = createPool(m, { mode: 'wr', name: 'wr' });
    const autoRo = createPool(m, { mode: 'auto-ro', name: 'auto-ro' });
    const r = [ro.alloc(64), autoRo.alloc(5000), ro.alloc(9000)];
    const w = [wr.alloc(64), wr.alloc(9000)];
    for (const va of r) {
      expect(m.inWrRange(va)).toBe(false);
      expect(m.inRoRange(va)).toBe(true);
    }
    for (const va of w) {
      expect(m.inWrRange(va)).toBe(true);
      expect(m.inRoRange(va)).toBe(false);
    }
    // Read-only descriptors are read-only memory: in the RO range too.
    for (const p of [ro, wr]) expect(m.inRoRange(p.fixedVa)).toBe(true);
    expect(findPool(m, r[0])).toBe(ro);
    expect(findPool(m, w[1])).toBe(wr);
  });

  it('a reserve: every area inside it, the address names the pool, ENOMEM names the pool and sizes', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'wr', name: 'resv', reserve: 5 * PAGE_SIZE });
    const other = createPool(m, { mode: 'wr', name: 'other' });
    const range = p.reserved!;
    expect(range.end - range.start).toBe(5 * PAGE_SIZE);
    const a = p.alloc(PAGE_SIZE); // one page + guard
    const b = p.alloc(2 * PAGE_SIZE); // two pages + guard: 5 pages used
    for (const va of [a, b]) expect(va >= range.start && va < range.end).toBe(true);
    const o = other.alloc(64);
    expect(o >= range.start && o < range.end).toBe(false);
    // Any address of the reserve names the pool, mapped or not (a guard page here).
    expect(findPool(m, a + PAGE_SIZE)).toBe(p);
    const e = throws(() => p.alloc(PAGE_SIZE)) as OutOfMemoryError;
    expect(e).toBeInstanceOf(OutOfMemoryError);
    expect(e.code).toBe('ENOMEM');
    expect(e.message).toContain('resv');
    expect(e.requested).toBe(PAGE_SIZE);
    expect(e.available).toBe(0); // the guard page a new area needs is not usable space
    expect(e.available).toBeLessThan(e.requested);
    p.destroy();
    expect(findPool(m, a)).toBeUndefined();
    expect(m.liveReserves).toHaveLength(0);
    expect(throws(() => createPool(m, { mode: 'wr', reserve: 100 }))).toMatchObject({
      code: 'EPOOLARG',
    });
  });

  it('running out of the write-rare range: the message counts usable bytes', async () => {
    const m = await machineFor(combo, { memoryMiB: 64 });
    const p = createPool(m, { mode: 'wr', name: 'big', refill: 1024 * 1024 });
    let e: unknown;
    try {
      for (;;) p.alloc(1024 * 1024);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(OutOfMemoryError);
    const oom = e as OutOfMemoryError;
    // Whichever ran out (frames or addresses), what is "available" could not satisfy it.
    expect(oom.available).toBeLessThan(oom.requested);
  });
});

describe.each(BACKENDS)('wrRangeMiB on $name', (backend) => {
  const room = (backend.layout.wrEnd - backend.layout.wrStart) / 2 ** 20;
  it('is validated against the layout and sizes both pool ranges', async () => {
    const max = Math.floor(room / 2);
    const bad = [0, -1, 1.5, max + 1];
    for (const v of bad) {
      const e = await createMachine({ arch: backend, wrRangeMiB: v }).catch((x: unknown) => x);
      expect(e, String(v)).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).issues[0].path).toBe('wrRangeMiB');
    }
    const m: Machine = await createMachine({ arch: backend, wrRangeMiB: 8, memoryMiB: 16 });
    expect(m.layout.wrEnd - m.layout.wrStart).toBe(8 * 2 ** 20);
    expect(m.layout.roStart).toBe(m.layout.wrEnd);
    expect(m.layout.roEnd - m.layout.roStart).toBe(8 * 2 ** 20);
    expect(m.layout.roEnd).toBeLessThanOrEqual(backend.layout.wrEnd);
    expect(m.layout.wrStart).toBeGreaterThanOrEqual(m.layout.vmallocEnd);
  });

  it('the default holds two SELinux-sized DBs (20 MiB each, 64 KiB areas with guard pages)', async () => {
    const m = await createMachine({ arch: backend, memoryMiB: 64 });
    const perDb = 20 * 2 ** 20 * ((64 + 4) / 64);
    expect(m.layout.wrEnd - m.layout.wrStart).toBeGreaterThan(2 * perDb + 2 ** 20);
    expect(m.layout.roEnd - m.layout.roStart).toBeGreaterThan(2 * perDb + 2 ** 20);
  });
});
