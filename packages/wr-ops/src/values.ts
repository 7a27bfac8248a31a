import { checkVa, InvalidArgumentError, toCanonicalHi, type WrOp } from '@prmem/core';

/** The sizes a single store or atomic may have. */
export type WrSize = 1 | 2 | 4 | 8;

export function isWrSize(n: unknown): n is WrSize {
  return n === 1 || n === 2 || n === 4 || n === 8;
}

/**
 * A value for a `size`-byte slot as an unsigned bigint. Accepts integers (number or
 * bigint) in [-2^(8·size-1), 2^(8·size)): both the signed and the unsigned reading, as C
 * accepts either for an assignment. Numbers must be safe integers.
 */
export function toUnsigned(value: unknown, size: WrSize, what = 'value'): bigint {
  const bits = BigInt(size * 8);
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) v = BigInt(value);
  else throw new InvalidArgumentError(what, value, 'must be an integer (number or bigint)');
  if (v < -(1n << (bits - 1n)) || v >= 1n << bits)
    throw new InvalidArgumentError(what, value, `does not fit in ${size} bytes`);
  return BigInt.asUintN(size * 8, v);
}

/** A scalar store op (`WRITE_ONCE`) of an integer to `va`. */
export type StoreOp = Extract<WrOp, { kind: 'store' }>;

/**
 * The store of `value` (checked as `toUnsigned` checks it) into a `size`-byte slot at
 * `va`. A non-negative safe integer, the common case on every wrAssign's path, needs no
 * BigInt and no byte array.
 */
export function scalarStore(va: number, value: unknown, size: WrSize, what = 'value'): StoreOp {
  if (
    typeof value === 'number' &&
    Number.isSafeInteger(value) &&
    value >= 0 &&
    (size === 8 || value < 2 ** (size * 8))
  ) {
    const lo = value >>> 0;
    return { kind: 'store', va, size, lo, hi: (value - lo) / 0x1_0000_0000 };
  }
  const v = toUnsigned(value, size, what);
  return { kind: 'store', va, size, lo: Number(v & 0xffff_ffffn), hi: Number(v >> 32n) };
}

/** The 8-byte store of a kernel pointer (a 48-bit VA, 0 for NULL) in canonical form. */
export function pointerStore(va: number, ptr: unknown): StoreOp {
  checkVa(ptr, 'pointer value');
  return { kind: 'store', va, size: 8, lo: ptr % 0x1_0000_0000, hi: toCanonicalHi(ptr) };
}

/** Reads a C integer of `size` bytes out of an unsigned value. */
export function signed(v: bigint, size: WrSize): bigint {
  return BigInt.asIntN(size * 8, v);
}
