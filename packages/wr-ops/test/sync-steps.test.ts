/**
 * The synchronous operations run the mechanism as a step program where it offers one
 * (x86 alias-mm), the `…Steps` forms as generators. Both must be the same operation:
 * on two machines built alike, every sequence leaves identical memory, counters, clocks
 * and security events, on every backend and mechanism.
 */
import { drain, type Machine } from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type WrSize,
  wrAssign,
  wrAssignSteps,
  wrBatch,
  wrBatchSteps,
  wrMemcpy,
  wrMemcpyFrom,
  wrMemcpyFromSteps,
  wrMemcpySteps,
  wrMemset,
  wrMemsetSteps,
  wrPtr,
  wrPtrSteps,
  wrRcuAssignPointer,
  wrRcuAssignPointerSteps,
} from '../src/index.js';
import { COMBOS, diffBytes, makeWorld, type World } from './support/combos.js';

type Cmd =
  | { k: 'assign'; pool: boolean; off: number; size: WrSize; value: number; cpu: number }
  | { k: 'ptr' | 'rcu'; pool: boolean; slot: number; cpu: number }
  | { k: 'memcpy' | 'memcpyFrom' | 'memset'; pool: boolean; off: number; len: number; cpu: number }
  | { k: 'batch'; offs: number[]; cpu: number }
  | { k: 'bad'; cpu: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    k: fc.constant('assign' as const),
    pool: fc.boolean(),
    off: fc.nat({ max: 8184 }),
    size: fc.constantFrom<WrSize>(1, 2, 4, 8),
    value: fc.nat({ max: 255 }),
    cpu: fc.nat({ max: 1 }),
  }),
  fc.record({
    k: fc.constantFrom('ptr' as const, 'rcu' as const),
    pool: fc.boolean(),
    slot: fc.nat({ max: 1000 }),
    cpu: fc.nat({ max: 1 }),
  }),
  fc.record({
    k: fc.constantFrom('memcpy' as const, 'memcpyFrom' as const, 'memset' as const),
    pool: fc.boolean(),
    off: fc.nat({ max: 8000 }),
    len: fc.nat({ max: 6000 }),
    cpu: fc.nat({ max: 1 }),
  }),
  fc.record({
    k: fc.constant('batch' as const),
    offs: fc.array(fc.nat({ max: 1000 }), { maxLength: 6 }),
    cpu: fc.nat({ max: 1 }),
  }),
  fc.record({ k: fc.constant('bad' as const), cpu: fc.nat({ max: 1 }) }),
);

function run(w: World, c: Cmd, sync: boolean): string {
  const m = w.m;
  const cpu = m.cpu(c.cpu);
  const base = (pool: boolean) => (pool ? w.pool.start : w.wrStatic);
  let r: unknown;
  try {
    if (c.k === 'assign') {
      const va = base(c.pool) + c.off;
      r = sync
        ? wrAssign(cpu, va, c.value, c.size)
        : drain(wrAssignSteps(cpu, va, c.value, c.size));
    } else if (c.k === 'ptr' || c.k === 'rcu') {
      const va = base(c.pool) + c.slot * 8;
      const ptr = w.pool2.start + c.slot;
      if (c.k === 'ptr') {
        r = sync ? wrPtr(cpu, va, ptr) : drain(wrPtrSteps(cpu, va, ptr));
      } else
        r = sync ? wrRcuAssignPointer(cpu, va, ptr) : drain(wrRcuAssignPointerSteps(cpu, va, ptr));
    } else if (c.k === 'memcpy' || c.k === 'memcpyFrom' || c.k === 'memset') {
      // Lengths past the region are refused alike by both forms.
      const va = base(c.pool) + c.off;
      const src = new Uint8Array(c.len).map((_, i) => (i * 7 + c.off) & 0xff);
      if (c.k === 'memcpy') {
        r = sync ? wrMemcpy(cpu, va, src) : drain(wrMemcpySteps(cpu, va, src));
      } else if (c.k === 'memcpyFrom') {
        r = sync
          ? wrMemcpyFrom(cpu, va, w.vmalloc.start, Math.min(c.len, 4096))
          : drain(wrMemcpyFromSteps(cpu, va, w.vmalloc.start, Math.min(c.len, 4096)));
      } else
        r = sync
          ? wrMemset(cpu, va, c.off & 0xff, c.len)
          : drain(wrMemsetSteps(cpu, va, c.off & 0xff, c.len));
    } else if (c.k === 'batch') {
      const fill = (b: Parameters<Parameters<typeof wrBatch>[1]>[0]) => {
        for (const o of c.offs) b.assign(w.pool.start + o * 8, o, 8);
        for (const o of c.offs) b.assign(w.wrStatic + o * 8, o + 1, 8);
      };
      r = sync ? wrBatch(cpu, fill) : drain(wrBatchSteps(cpu, fill));
    } else {
      // A refused target: the same typed error, nothing written, one security event.
      r = sync ? wrAssign(cpu, w.rodata, 1, 4) : drain(wrAssignSteps(cpu, w.rodata, 1, 4));
    }
    // The result (ops, plain ops, sessions, windows) is part of the operation too.
    return JSON.stringify(r);
  } catch (e) {
    return e instanceof Error ? `${e.name}: ${(e as { code?: string }).code}` : String(e);
  }
}

function state(m: Machine) {
  const s = m.stats();
  return {
    events: s.events,
    cycles: s.perCpu.map((c) => c.cycles),
    security: m.securityEvents().map((e) => `${e.kind} ${e.cpu} ${e.address} ${e.cycles}`),
    audit: m.auditProtections().length,
  };
}

describe('synchronous and step forms are the same operation (assign, pointers, memcpy, memset, batch)', () => {
  it.each(COMBOS.map((c) => [c.label, c] as const))('%s', async (_label, combo) => {
    const a = await makeWorld(combo);
    const b = await makeWorld(combo);
    await fc.assert(
      fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 12 }), async (cmds) => {
        for (const c of cmds) expect(run(a, c, true)).toBe(run(b, c, false));
        expect(diffBytes(a.m.phys.bytes, b.m.phys.bytes)).toBeUndefined();
        expect(state(a.m)).toEqual(state(b.m));
      }),
      { numRuns: 15 },
    );
  });
});
