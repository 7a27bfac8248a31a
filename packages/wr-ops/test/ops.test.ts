/**
 * Every operation on every landed backend + mechanism, at unaligned offsets and across
 * page boundaries, against a byte-array model; read back with ordinary loads on both
 * CPUs; auditProtections() clean after every operation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type WrSize,
  wrAdd,
  wrAssign,
  wrBatch,
  wrCmpxchg,
  wrDec,
  wrInc,
  wrMemcpy,
  wrMemcpyFrom,
  wrMemset,
  wrPtr,
  wrRcuAssignPointer,
  wrSub,
  wrXchg,
} from '../src/index.js';
import { COMBOS, diffBytes, makeWorld, type World } from './support/combos.js';

type Region = 'pool' | 'static';
const SIZES: WrSize[] = [1, 2, 4, 8];

/** A model of one region: the bytes as they must read back. */
class Model {
  constructor(readonly bytes: Uint8Array) {}
  set(off: number, data: Uint8Array): void {
    this.bytes.set(data, off);
  }
  get(off: number, size: number): bigint {
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.bytes[off + i]);
    return v;
  }
  put(off: number, v: bigint, size: number): void {
    let x = BigInt.asUintN(size * 8, v);
    for (let i = 0; i < size; i++) {
      this.bytes[off + i] = Number(x & 0xffn);
      x >>= 8n;
    }
  }
}

type Cmd =
  | { k: 'memcpy'; r: Region; off: number; data: Uint8Array; cpu: number }
  | { k: 'memcpyFrom'; r: Region; off: number; len: number; cpu: number }
  | { k: 'memset'; r: Region; off: number; byte: number; len: number; cpu: number }
  | {
      k: 'assign';
      r: Region;
      off: number;
      size: WrSize;
      value: bigint;
      asNumber: boolean;
      cpu: number;
    }
  | { k: 'ptr' | 'rcu'; r: Region; off: number; ptr: number; cpu: number }
  | {
      k: 'atomic';
      op: 'add' | 'sub' | 'inc' | 'dec' | 'xchg' | 'cmpxchg';
      r: Region;
      off: number;
      size: WrSize;
      a: bigint;
      b: bigint;
      hit: boolean;
      cpu: number;
    }
  | { k: 'batch'; r: Region; items: { off: number; data: Uint8Array }[]; cpu: number };

const REGION_SIZE = { pool: 3 * 4096, static: 8192 };

/** Offsets biased toward page boundaries (and both ends of the region). */
const offsetIn = (r: Region, len: number) => {
  const max = REGION_SIZE[r] - len;
  return fc.oneof(
    fc.integer({ min: 0, max }),
    fc.integer({ min: Math.max(0, 4096 - len - 3), max: Math.min(max, 4096 + 3) }),
    fc.constantFrom(0, max),
  );
};

const region = fc.constantFrom<Region>('pool', 'static');
const cpuArb = fc.integer({ min: 0, max: 1 });
const canonicalVa = fc.oneof(
  fc.integer({ min: 0, max: 2 ** 47 - 1 }),
  fc.integer({ min: 2 ** 47, max: 2 ** 48 - 1 }),
  fc.constant(0),
);

const cmdArb: fc.Arbitrary<Cmd> = region.chain((r) =>
  fc.oneof(
    fc.integer({ min: 1, max: 300 }).chain((len) =>
      fc.record({
        k: fc.constant('memcpy' as const),
        r: fc.constant(r),
        off: offsetIn(r, len),
        data: fc.uint8Array({ minLength: len, maxLength: len }),
        cpu: cpuArb,
      }),
    ),
    fc.integer({ min: 1, max: 200 }).chain((len) =>
      fc.record({
        k: fc.constant('memcpyFrom' as const),
        r: fc.constant(r),
        off: offsetIn(r, len),
        len: fc.constant(len),
        cpu: cpuArb,
      }),
    ),
    fc.integer({ min: 1, max: 5000 }).chain((len) =>
      fc.record({
        k: fc.constant('memset' as const),
        r: fc.constant(r),
        off: offsetIn(r, len),
        byte: fc.integer({ min: 0, max: 255 }),
        len: fc.constant(len),
        cpu: cpuArb,
      }),
    ),
    fc.constantFrom(...SIZES).chain((size) =>
      fc.record({
        k: fc.constant('assign' as const),
        r: fc.constant(r),
        off: offsetIn(r, size),
        size: fc.constant(size),
        // Both readings C accepts: signed from -2^(8·size-1), unsigned up to 2^(8·size)-1.
        value: fc.bigInt({
          min: -(1n << BigInt(size * 8 - 1)),
          max: (1n << BigInt(size * 8)) - 1n,
        }),
        // Passed as a number when it is a safe integer (the path that needs no BigInt).
        asNumber: fc.boolean(),
        cpu: cpuArb,
      }),
    ),
    fc.record({
      k: fc.constantFrom('ptr' as const, 'rcu' as const),
      r: fc.constant(r),
      off: offsetIn(r, 8).map((o) => o - (o % 8)),
      ptr: canonicalVa,
      cpu: cpuArb,
    }),
    fc.constantFrom(...SIZES).chain((size) =>
      fc.record({
        k: fc.constant('atomic' as const),
        op: fc.constantFrom('add', 'sub', 'inc', 'dec', 'xchg', 'cmpxchg') as fc.Arbitrary<
          'add' | 'sub' | 'inc' | 'dec' | 'xchg' | 'cmpxchg'
        >,
        r: fc.constant(r),
        off: offsetIn(r, size).map((o) => o - (o % size)),
        size: fc.constant(size),
        a: fc.bigInt({ min: 0n, max: (1n << BigInt(size * 8)) - 1n }),
        b: fc.bigInt({ min: 0n, max: (1n << BigInt(size * 8)) - 1n }),
        hit: fc.boolean(),
        cpu: cpuArb,
      }),
    ),
    fc.record({
      k: fc.constant('batch' as const),
      r: fc.constant(r),
      items: fc.array(
        fc.integer({ min: 1, max: 64 }).chain((len) =>
          fc.record({
            off: offsetIn(r, len),
            data: fc.uint8Array({ minLength: len, maxLength: len }),
          }),
        ),
        { minLength: 1, maxLength: 6 },
      ),
      cpu: cpuArb,
    }),
  ),
);

function base(w: World, r: Region): number {
  return r === 'pool' ? w.pool.start : w.wrStatic;
}

/** Runs one command on the machine and on the model; checks the return value. */
function apply(w: World, models: Record<Region, Model>, c: Cmd): void {
  const cpu = w.m.cpu(c.cpu);
  const va = base(w, c.r) + ('off' in c ? c.off : 0);
  const model = models[c.r];
  switch (c.k) {
    case 'memcpy':
      wrMemcpy(cpu, va, c.data);
      model.set(c.off, c.data);
      return;
    case 'memcpyFrom': {
      // Source: ordinary vmalloc memory.
      const src = cpu.readBytes(w.vmalloc.start, c.len);
      wrMemcpyFrom(cpu, va, w.vmalloc.start, c.len);
      model.set(c.off, src);
      return;
    }
    case 'memset':
      wrMemset(cpu, va, c.byte, c.len);
      model.set(c.off, new Uint8Array(c.len).fill(c.byte));
      return;
    case 'assign':
      wrAssign(
        cpu,
        va,
        c.asNumber && c.value >= -(2n ** 53n) + 1n && c.value <= 2n ** 53n - 1n
          ? Number(c.value)
          : c.value,
        c.size,
      );
      model.put(c.off, c.value, c.size);
      return;
    case 'ptr':
    case 'rcu': {
      if (c.k === 'ptr') wrPtr(cpu, va, c.ptr);
      else wrRcuAssignPointer(cpu, va, c.ptr);
      // Canonical form: bits 48..63 copy bit 47 (an independent re-statement).
      const v = BigInt(c.ptr) | (c.ptr >= 2 ** 47 ? 0xffffn << 48n : 0n);
      model.put(c.off, v, 8);
      expect(cpu.readPtr(va)).toBe(c.ptr);
      return;
    }
    case 'atomic': {
      const bits = BigInt(c.size * 8);
      const old = model.get(c.off, c.size);
      const toSigned = (x: bigint) => BigInt.asIntN(Number(bits), x);
      let got: bigint;
      let next: bigint;
      switch (c.op) {
        case 'add':
          got = wrAdd(cpu, va, c.a, c.size);
          next = old + c.a;
          expect(got).toBe(toSigned(next));
          break;
        case 'sub':
          got = wrSub(cpu, va, c.a, c.size);
          next = old - c.a;
          expect(got).toBe(toSigned(next));
          break;
        case 'inc':
          got = wrInc(cpu, va, c.size);
          next = old + 1n;
          expect(got).toBe(toSigned(next));
          break;
        case 'dec':
          got = wrDec(cpu, va, c.size);
          next = old - 1n;
          expect(got).toBe(toSigned(next));
          break;
        case 'xchg':
          got = wrXchg(cpu, va, c.a, c.size);
          next = c.a;
          expect(got).toBe(old);
          break;
        case 'cmpxchg': {
          const expected = c.hit ? old : c.b;
          got = wrCmpxchg(cpu, va, expected, c.a, c.size);
          next = expected === old ? c.a : old;
          expect(got).toBe(old);
          break;
        }
      }
      model.put(c.off, next, c.size);
      return;
    }
    case 'batch': {
      const r = wrBatch(cpu, (b) => {
        for (const it of c.items) b.memcpy(va + it.off, it.data);
      });
      for (const it of c.items) model.set(it.off, it.data);
      expect(r.ops).toBe(c.items.length);
      // One window per batch when the mechanism allows it, else one per write.
      expect(r.sessions).toBe(w.m.mechanism.batchable ? 1 : c.items.length);
      return;
    }
  }
}

describe.each(COMBOS)('operations on $label', (combo) => {
  it('every operation matches a byte-array model (unaligned, across pages), audit clean', async () => {
    const w = await makeWorld(combo);
    const { m } = w;
    await fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 10 }), (cmds) => {
        const models: Record<Region, Model> = {
          pool: new Model(m.cpu(0).readBytes(w.pool.start, REGION_SIZE.pool)),
          static: new Model(m.cpu(0).readBytes(w.wrStatic, REGION_SIZE.static)),
        };
        const eventsBefore = m.securityEvents().length;
        for (const c of cmds) {
          apply(w, models, c);
          // Ordinary reads on both CPUs see exactly the model.
          for (const id of [0, 1]) {
            const cpu = m.cpu(id);
            expect(
              diffBytes(cpu.readBytes(w.pool.start, REGION_SIZE.pool), models.pool.bytes),
            ).toBeUndefined();
            expect(
              diffBytes(cpu.readBytes(w.wrStatic, REGION_SIZE.static), models.static.bytes),
            ).toBeUndefined();
          }
          expect(m.auditProtections()).toEqual([]);
        }
        expect(m.securityEvents().length).toBe(eventsBefore);
      }),
      { numRuns: 10, seed: 0x5eed },
    );
    // Still protected afterwards: a plain store faults on every CPU.
    for (const id of [0, 1]) {
      expect(() => m.cpu(id).write8(w.pool.start + 4097, 1)).toThrow(/fault/i);
      expect(() => m.cpu(id).write8(w.wrStatic + 4000, 1)).toThrow(/fault/i);
    }
  });

  it('protected targets go through the mechanism: one window per op, bytes counted', async () => {
    const w = await makeWorld(combo);
    const cpu = w.m.cpu(0);
    const r = wrAssign(cpu, w.pool.start + 4096 - 3, 0x1122334455667788n, 8);
    expect(r).toMatchObject({ ops: 1, plainOps: 0, sessions: 1 });
    expect(r.windows).toBeGreaterThanOrEqual(1);
    expect(w.m.stats().events.wrWindow).toBeGreaterThanOrEqual(1);
    expect(w.m.stats().events.wrBytes).toBe(8);
    expect(cpu.read64(w.pool.start + 4096 - 3)).toBe(0x1122334455667788n);
  });
});
