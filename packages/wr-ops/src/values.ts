import { checkVa, InvalidArgumentError, toCanonicalHi } from '@prmem/core';

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

/**
 * `leBytes(toUnsigned(value, size), size)` without BigInt for the common case, a
 * non-negative safe integer: this is on every wrAssign's path.
 */
export function valueBytes(value: unknown, size: WrSize, what = 'value'): Uint8Array {
  if (
    typeof value === 'number' &&
    Number.isSafeInteger(value) &&
    value >= 0 &&
    (size === 8 || value < 2 ** (size * 8))
  ) {
    const b = new Uint8Array(size);
    let lo = value >>> 0;
    let hi = (value - lo) / 0x1_0000_0000;
    for (let i = 0; i < size && i < 4; i++, lo >>>= 8) b[i] = lo & 0xff;
    for (let i = 4; i < size; i++, hi >>>= 8) b[i] = hi & 0xff;
    return b;
  }
  return leBytes(toUnsigned(value, size, what), size);
}

/** Little-endian bytes of an unsigned value (x86-64 and arm64 kernels are little-endian). */
export function leBytes(v: bigint, size: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = v;
  for (let i = 0; i < size; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

/** The 8 bytes of a kernel pointer (a 48-bit VA, 0 for NULL) in canonical form. */
export function pointerBytes(ptr: unknown): Uint8Array {
  checkVa(ptr, 'pointer value');
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, ptr % 0x1_0000_0000, true);
  dv.setUint32(4, toCanonicalHi(ptr), true);
  return b;
}

/** Reads a C integer of `size` bytes out of an unsigned value. */
export function signed(v: bigint, size: WrSize): bigint {
  return BigInt.asIntN(size * 8, v);
}
