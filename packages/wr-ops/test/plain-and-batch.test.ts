/**
 * Before protection the operations are plain writes (no window, no mechanism); after it
 * they go through the mechanism; wrBatch shares windows when the mechanism allows it.
 */
import { describe, expect, it } from 'vitest';
import {
  prListAdd,
  prListEntries,
  prListInit,
  wrAdd,
  wrAssign,
  wrBatch,
  wrCmpxchg,
  wrMemcpy,
  wrMemset,
  wrRcuAssignPointer,
  wrXchg,
} from '../src/index.js';
import { COMBOS, diffBytes, makeWorld, pattern, type World } from './support/combos.js';

/** Runs one of every operation on `va` (a 24-byte-plus target near a page boundary). */
function everyOp(
  w: World,
  va: number,
): { results: { sessions: number; plainOps: number; windows: number }[] } {
  const cpu = w.m.cpu(0);
  const results = [
    wrMemcpy(cpu, va - 100, pattern(300, 5)),
    wrMemset(cpu, va + 300, 0xee, 50),
    wrAssign(cpu, va - 3, 0x0102030405060708n, 8),
    wrRcuAssignPointer(cpu, va + 16, w.pool2.start),
    wrBatch(cpu, (b) => {
      b.assign(va + 40, 7, 2);
      b.memcpy(va + 50, new Uint8Array([1, 2, 3]));
    }),
  ];
  const old = cpu.read64(va + 24);
  expect(wrXchg(cpu, va + 24, 5)).toBe(old);
  expect(wrAdd(cpu, va + 24, 4)).toBe(9n);
  expect(wrCmpxchg(cpu, va + 24, 9, 10)).toBe(9n);
  expect(cpu.read64(va - 3)).toBe(0x0102030405060708n);
  expect(cpu.readPtr(va + 16)).toBe(w.pool2.start);
  expect(cpu.read64(va + 24)).toBe(10n);
  expect(Array.from(cpu.readBytes(va + 50, 3))).toEqual([1, 2, 3]);
  expect(w.m.cpu(1).read16(va + 40)).toBe(7);
  expect(
    diffBytes(w.m.cpu(1).readBytes(va + 300, 50), new Uint8Array(50).fill(0xee)),
  ).toBeUndefined();
  return { results };
}

describe.each(COMBOS)('plain writes and batches on $label', (combo) => {
  it('before protection (boot, unprotected pool) every op is a plain write: no window', async () => {
    const w = await makeWorld(combo, { protect: false });
    for (const va of [w.pool.start + 4096, w.wrStatic + 4096 - 24]) {
      const { results } = everyOp(w, va);
      for (const r of results) expect(r).toMatchObject({ sessions: 0, windows: 0 });
      expect(results.every((r) => r.plainOps > 0)).toBe(true);
    }
    const head = w.pool.start + 8000;
    prListInit(w.m.cpu(0), head);
    expect(prListAdd(w.m.cpu(0), w.pool.start + 9000, head).sessions).toBe(0);
    expect(prListEntries(w.m.cpu(1), head)).toEqual([w.pool.start + 9000]);
    const ev = w.m.stats().events;
    expect(ev.wrWindow).toBe(0);
    expect(ev.wrBytes).toBe(0);
    expect(w.m.securityEvents()).toEqual([]);
    // And it was plain: the memory is still writable by an ordinary store.
    w.m.cpu(1).write8(w.pool.start + 5, 1);
    w.m.cpu(1).write8(w.wrStatic + 5, 1);
  });

  it('after protection every op goes through the mechanism, and plain stores fault', async () => {
    const w = await makeWorld(combo);
    for (const va of [w.pool.start + 4096, w.wrStatic + 4096 - 24]) {
      const { results } = everyOp(w, va);
      for (const r of results) {
        expect(r.plainOps).toBe(0);
        expect(r.sessions).toBeGreaterThanOrEqual(1);
        expect(r.windows).toBeGreaterThanOrEqual(1);
      }
      expect(() => w.m.cpu(1).write8(va, 1)).toThrow(/fault/i);
    }
    expect(w.m.auditProtections()).toEqual([]);
  });

  it('wrBatch: one window for many writes to one area if batchable, else one per write', async () => {
    const w = await makeWorld(combo);
    const cpu = w.m.cpu(1);
    const before = w.m.stats().events.wrWindow;
    const r = wrBatch(cpu, (b) => {
      for (let i = 0; i < 10; i++) b.assign(w.pool.start + 4090 + i * 3, i, 4);
      b.memset(w.pool.start + 100, 0x42, 5000);
      b.ptr(w.pool.start + 8, w.pool2.start);
    });
    expect(r.ops).toBe(12);
    expect(r.sessions).toBe(w.m.mechanism.batchable ? 1 : 12);
    expect(w.m.stats().events.wrWindow - before).toBe(r.windows);
    // Later writes win where they overlap, as in program order.
    const got = w.m.cpu(0).readBytes(w.pool.start + 100, 5000);
    expect(diffBytes(got, new Uint8Array(5000).fill(0x42))).toBeUndefined();
    expect(w.m.cpu(0).readPtr(w.pool.start + 8)).toBe(w.pool2.start);
    expect(w.m.auditProtections()).toEqual([]);

    // Writes to two regions: consecutive writes to one region share a window.
    const two = wrBatch(cpu, (b) => {
      b.assign(w.pool.start + 16, 1, 8);
      b.assign(w.pool.start + 24, 2, 8);
      b.assign(w.wrStatic, 3, 8);
      b.assign(w.wrStatic + 8, 4, 8);
    });
    expect(two.sessions).toBe(w.m.mechanism.batchable ? 2 : 4);
    expect(cpu.read64(w.wrStatic + 8)).toBe(4n);
  });
});
