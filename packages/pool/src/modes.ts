import type { ProtLevel } from '@prmem/core';

/** prmem's mode bits (include/linux/prmem.h of the 2018 series). */
export const PMALLOC_RO = 0x00;
export const PMALLOC_WR = 0x01;
export const PMALLOC_AUTO = 0x02;
export const PMALLOC_START = 0x04;

export type PoolMode = 'ro' | 'wr' | 'auto-ro' | 'auto-wr' | 'start-wr';

// Frozen: an exported table is reachable by anyone, and createPool decides with it.
export const MODE_BITS: Readonly<Record<PoolMode, number>> = Object.freeze({
  ro: PMALLOC_RO,
  wr: PMALLOC_WR,
  'auto-ro': PMALLOC_AUTO | PMALLOC_RO,
  'auto-wr': PMALLOC_AUTO | PMALLOC_WR,
  'start-wr': PMALLOC_START | PMALLOC_WR,
});

export const MODES: readonly PoolMode[] = Object.freeze(Object.keys(MODE_BITS) as PoolMode[]);

export function modeOf(bits: number): PoolMode | undefined {
  return MODES.find((m) => MODE_BITS[m] === bits);
}

/** The level a protected area of this mode gets. */
export const protectedLevel = (bits: number): ProtLevel =>
  (bits & PMALLOC_WR) !== 0 ? 'wr' : 'ro';

export const LEVEL_CODE: Readonly<Record<ProtLevel, number>> = Object.freeze({
  rw: 0,
  wr: 1,
  ro: 2,
});
export const CODE_LEVEL: readonly ProtLevel[] = Object.freeze(['rw', 'wr', 'ro']);
