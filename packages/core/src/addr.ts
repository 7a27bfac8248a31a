import { BadAddressError, BadSizeError } from './errors.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PAGE_MASK = PAGE_SIZE - 1;
/** Virtual addresses are 48-bit numbers; the upper half is printed sign-extended. */
export const VA_BITS = 48;
export const VA_LIMIT = 2 ** VA_BITS;
const HALF = 2 ** (VA_BITS - 1);

/** Throws unless `va` is an integer in [0, 2^48). */
export function checkVa(va: unknown, what = 'virtual address'): asserts va is number {
  if (typeof va !== 'number' || !Number.isInteger(va)) {
    throw new BadAddressError(va, `${what} must be an integer`);
  }
  if (va < 0 || va >= VA_LIMIT) {
    throw new BadAddressError(va, `${what} must lie in [0, 2^48)`);
  }
}

/** Throws unless [va, va+len) is a valid, non-wrapping virtual range. */
export function checkRange(va: unknown, len: unknown, allowEmpty = false): void {
  checkVa(va);
  checkSize(len, allowEmpty);
  if ((va as number) + (len as number) > VA_LIMIT) {
    throw new BadAddressError(va, `range of ${len} bytes runs past 2^48`);
  }
}

export function checkSize(
  size: unknown,
  allowZero = false,
  max = VA_LIMIT,
): asserts size is number {
  if (typeof size !== 'number' || !Number.isInteger(size)) {
    throw new BadSizeError(size, 'must be an integer');
  }
  if (size < 0) throw new BadSizeError(size, 'must not be negative');
  if (size === 0 && !allowZero) throw new BadSizeError(size, 'must not be zero');
  if (size > max) throw new BadSizeError(size, `must not exceed ${max}`);
}

export const pageDown = (va: number): number => va - (va % PAGE_SIZE);
export const pageUp = (va: number): number => {
  const r = va % PAGE_SIZE;
  return r === 0 ? va : va + PAGE_SIZE - r;
};

/** `0xffff888000000000` for a 48-bit upper-half address, as the kernel prints it. */
export function canonical(va: number): string {
  const hex = va.toString(16).padStart(12, '0');
  return va >= HALF ? `0xffff${hex}` : `0x0000${hex}`;
}

/** Parses a canonical 64-bit pointer (two u32 halves) into a 48-bit VA, or -1 if not canonical. */
export function fromCanonical(lo: number, hi: number): number {
  const top = hi >>> 16;
  const low16 = hi & 0xffff;
  const upper = (low16 & 0x8000) !== 0;
  if ((upper && top !== 0xffff) || (!upper && top !== 0)) return -1;
  return low16 * 0x1_0000_0000 + (lo >>> 0);
}

/** The two u32 halves of the canonical 64-bit form of a 48-bit VA. */
export function toCanonicalHi(va: number): number {
  const hi = Math.floor(va / 0x1_0000_0000) & 0xffff;
  return (hi & 0x8000 ? hi | 0xffff0000 : hi) >>> 0;
}
