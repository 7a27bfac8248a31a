import type { WrOp } from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backend } from '../src/index.js';
import { runOps, wrMachine } from './support/machine.js';

const AREA = 3 * 4096;

const opArb = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    off: fc.integer({ min: 0, max: AREA - 1 }),
    value: fc.integer({ min: 0, max: 255 }),
    len: fc.integer({ min: 1, max: 300 }),
  }),
  fc.record({
    kind: fc.constant('write' as const),
    off: fc.integer({ min: 0, max: AREA - 1 }),
    data: fc.uint8Array({ minLength: 1, maxLength: 64 }),
  }),
  fc.record({
    kind: fc.constant('rmw' as const),
    slot: fc.integer({ min: 0, max: AREA / 8 - 1 }),
    add: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  }),
);
type OpSpec = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

function toOps(start: number, specs: readonly OpSpec[]): WrOp[] {
  return specs.map((s): WrOp => {
    if (s.kind === 'rmw')
      return {
        kind: 'rmw',
        va: start + s.slot * 8,
        size: 8,
        fn: (old) => BigInt.asUintN(64, old + s.add),
        old: 0n,
      };
    const len = Math.min(s.kind === 'set' ? s.len : s.data.length, AREA - s.off);
    return s.kind === 'set'
      ? { kind: 'set', va: start + s.off, value: s.value, len }
      : { kind: 'write', va: start + s.off, data: s.data.subarray(0, len) };
  });
}

/** The expected contents, computed on a plain byte array. */
function reference(specs: readonly OpSpec[]): Uint8Array {
  const mem = new Uint8Array(AREA);
  const dv = new DataView(mem.buffer);
  for (const s of specs) {
    if (s.kind === 'rmw') {
      dv.setBigUint64(
        s.slot * 8,
        BigInt.asUintN(64, dv.getBigUint64(s.slot * 8, true) + s.add),
        true,
      );
    } else if (s.kind === 'set') mem.fill(s.value, s.off, Math.min(AREA, s.off + s.len));
    else mem.set(s.data.subarray(0, AREA - s.off), s.off);
  }
  return mem;
}

describe('every mechanism writes the same bytes', () => {
  it('same ops, same memory, on every mechanism and against a plain reference', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (specs, batch) => {
          const want = reference(specs);
          for (const mechanism of backend.mechanisms) {
            const { m, area } = await wrMachine({
              cpus: 2,
              memoryMiB: 4,
              mechanism: mechanism as 'alias-mm',
            });
            const ops = toOps(area.start, specs);
            if (batch) runOps(m, 1, ops);
            else for (const op of ops) runOps(m, 1, [op]);
            expect(m.cpu(0).readBytes(area.start, AREA)).toEqual(want);
            expect(m.auditProtections()).toEqual([]);
          }
        },
      ),
      { numRuns: 8 },
    );
  });
});
