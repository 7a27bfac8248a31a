/** direct-remap and lazy differ only in shootdowns: they must leave the same memory. */
import { drain, type Machine, type WrOp, sessionOf } from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { wrWorldSync } from './support.js';

const PAGES = 2;
const SIZE = PAGES * 4096;

type Cmd =
  | { kind: 'write'; off: number; data: Uint8Array }
  | { kind: 'set'; off: number; value: number; len: number }
  | { kind: 'add'; off: number; size: 1 | 2 | 4 | 8; delta: bigint };

const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: SIZE - 1 }), fc.uint8Array({ minLength: 1, maxLength: 300 }))
    .map(([off, d]) => ({ kind: 'write' as const, off, data: d.subarray(0, SIZE - off) })),
  fc
    .tuple(
      fc.integer({ min: 0, max: SIZE - 1 }),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 1, max: 5000 }),
    )
    .map(([off, value, len]) => ({
      kind: 'set' as const,
      off,
      value,
      len: Math.min(len, SIZE - off),
    })),
  fc
    .tuple(
      fc.constantFrom(1, 2, 4, 8) as fc.Arbitrary<1 | 2 | 4 | 8>,
      fc.nat(),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    )
    .map(([size, slot, delta]) => ({
      kind: 'add' as const,
      size,
      off: (slot * size) % SIZE,
      delta,
    })),
);

function toOp(base: number, c: Cmd): WrOp {
  if (c.kind === 'write') return { kind: 'write', va: base + c.off, data: c.data };
  if (c.kind === 'set') return { kind: 'set', va: base + c.off, value: c.value, len: c.len };
  const bits = BigInt(c.size * 8);
  return {
    kind: 'rmw',
    va: base + c.off,
    size: c.size,
    fn: (old) => BigInt.asUintN(Number(bits), old + c.delta),
    old: 0n,
  };
}

/** The reference: the same ops on a plain byte array. */
function reference(cmds: readonly Cmd[]): Uint8Array {
  const mem = new Uint8Array(SIZE);
  const dv = new DataView(mem.buffer);
  for (const c of cmds) {
    if (c.kind === 'write') mem.set(c.data, c.off);
    else if (c.kind === 'set') mem.fill(c.value, c.off, c.off + c.len);
    else {
      let v = 0n;
      for (let i = c.size - 1; i >= 0; i--) v = (v << 8n) | BigInt(dv.getUint8(c.off + i));
      v = BigInt.asUintN(c.size * 8, v + c.delta);
      for (let i = 0; i < c.size; i++) dv.setUint8(c.off + i, Number((v >> BigInt(8 * i)) & 0xffn));
    }
  }
  return mem;
}

function areaBytes(m: Machine, pfns: readonly number[]): Uint8Array {
  const out = new Uint8Array(SIZE);
  for (let i = 0; i < pfns.length; i++) {
    out.set(m.phys.bytes.subarray(pfns[i] * 4096, pfns[i] * 4096 + 4096), i * 4096);
  }
  return out;
}

function run(mechanism: string, cmds: readonly Cmd[], batch: boolean) {
  const w = wrWorldSync(mechanism, 3, 0, PAGES);
  const ops = cmds.map((c) => toOp(w.area.start, c));
  if (batch) drain(sessionOf(w.m.mechanism, w.m.cpu(2), ops));
  else for (const op of ops) drain(sessionOf(w.m.mechanism, w.m.cpu(1), [op]));
  return {
    bytes: areaBytes(w.m, w.area.pfns),
    m: w.m,
    olds: ops.map((o) => (o.kind === 'rmw' ? o.old : -1n)),
  };
}

describe('differential: direct-remap vs lazy', () => {
  it('leave the same memory as each other and as a plain reference, one window per op or batched', () => {
    fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 8 }), fc.boolean(), (cmds, batch) => {
        const a = run('direct-remap', cmds, batch);
        const b = run('lazy', cmds, batch);
        const ref = reference(cmds);
        expect(a.bytes).toEqual(ref);
        expect(b.bytes).toEqual(ref);
        expect(a.olds).toEqual(b.olds);
        expect(a.m.auditProtections()).toEqual([]);
        expect(b.m.auditProtections()).toEqual([]);
        // lazy never sends more IPIs than direct-remap for the same work.
        expect(b.m.stats().events.ipiSent).toBeLessThan(a.m.stats().events.ipiSent);
      }),
      { numRuns: 30 },
    );
  });
});
