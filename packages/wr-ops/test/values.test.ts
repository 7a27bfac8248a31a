/**
 * Scalar stores carry their value as two u32 halves. The number path (no BigInt) and the
 * BigInt path must build the same store for every value both accept, and the halves must
 * be the value's little-endian bytes.
 */
import { storeBytes } from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pointerStore, scalarStore, type WrSize } from '../src/values.js';

const sizes = fc.constantFrom<WrSize>(1, 2, 4, 8);

/** A value in the slot's range, weighted towards the edges of the 32-bit halves. */
const valueFor = (size: WrSize) => {
  const bits = BigInt(size * 8);
  const min = -(1n << (bits - 1n));
  const max = (1n << bits) - 1n;
  const clamp = (v: bigint) => (v < min ? min : v > max ? max : v);
  return fc.oneof(
    fc.bigInt({ min, max }),
    fc.bigInt({ min: -(2n ** 53n) + 1n, max: 2n ** 53n - 1n }).map(clamp),
    fc.integer({ min: -4, max: 4 }).map((d) => clamp(2n ** 32n + BigInt(d))),
  );
};

/** Little-endian bytes of v in `size` bytes, by BigInt arithmetic. */
const le = (v: bigint, size: number) => {
  const u = BigInt.asUintN(size * 8, v);
  return Array.from({ length: size }, (_, i) => Number((u >> BigInt(8 * i)) & 0xffn));
};

describe('scalarStore', () => {
  it('builds the same store from a number and from a bigint', () => {
    fc.assert(
      fc.property(
        sizes.chain((size) => fc.tuple(fc.constant(size), valueFor(size))),
        ([size, v]) => {
          const big = scalarStore(0x1000, v, size);
          expect([...storeBytes(big)]).toEqual(le(v, size));
          if (Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v)
            expect(scalarStore(0x1000, Number(v), size)).toEqual(big);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses values that do not fit, and non-integers', () => {
    expect(() => scalarStore(0, 256, 1)).toThrow(/does not fit in 1 bytes/);
    expect(() => scalarStore(0, -129, 1)).toThrow(/does not fit/);
    expect(() => scalarStore(0, 2n ** 64n, 8)).toThrow(/does not fit/);
    expect(() => scalarStore(0, 1.5, 4)).toThrow(/must be an integer/);
    expect(() => scalarStore(0, 2 ** 53, 8)).toThrow(/must be an integer/);
  });
});

describe('pointerStore', () => {
  it('stores the canonical form of a 48-bit VA', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 48 - 1 }), (ptr) => {
        const canon = BigInt(ptr) | (ptr >= 2 ** 47 ? 0xffffn << 48n : 0n);
        expect([...storeBytes(pointerStore(8, ptr))]).toEqual(le(canon, 8));
      }),
    );
  });
});

describe('storeBytes', () => {
  it('refuses a store whose halves do not fit its size', () => {
    expect(() => storeBytes({ size: 2, lo: 0x1_0000, hi: 0 })).toThrow(/does not fit in 2 bytes/);
    expect(() => storeBytes({ size: 4, lo: 1, hi: 1 })).toThrow(/does not fit/);
    expect(() => storeBytes({ size: 8, lo: -1, hi: 0 })).toThrow(/does not fit/);
  });
});
