/**
 * VMSAv8-64 descriptor bits (4 KiB granule), stage 1 and stage 2, as the ARM ARM lays
 * them out. A 64-bit descriptor is handled as two u32 halves: `lo` holds bits 0–31, `hi`
 * bits 32–63, so the upper attributes appear here shifted down by 32.
 */

/** Stage-1 descriptor, low word. */
export const S1 = {
  VALID: 1 << 0,
  /** Table (levels 0–2) or page (level 3); clear at level 1/2 means a block. */
  TABLE: 1 << 1,
  ATTRINDX_SHIFT: 2,
  ATTRINDX_MASK: 0x7 << 2,
  /** AP[1]: accessible from EL0. */
  AP1: 1 << 6,
  /** AP[2]: read-only. */
  AP2: 1 << 7,
  SH_SHIFT: 8,
  SH_MASK: 0x3 << 8,
  /** Access flag. */
  AF: 1 << 10,
  /** Not global: the TLB entry is tagged with the ASID. */
  NG: 1 << 11,
} as const;

/** Stage-1 descriptor, high word (bit n of the descriptor is bit n-32 here). */
export const S1_HI = {
  /** Bit 51: dirty bit modifier (hardware dirty state, FEAT_HAFDBS). */
  DBM: 1 << 19,
  /** Bit 52. */
  CONTIGUOUS: 1 << 20,
  /** Bit 53: privileged execute-never. */
  PXN: 1 << 21,
  /** Bit 54: unprivileged execute-never. */
  UXN: 1 << 22,
} as const;

/** Stage-2 descriptor, low word. */
export const S2 = {
  VALID: 1 << 0,
  TABLE: 1 << 1,
  MEMATTR_SHIFT: 2,
  MEMATTR_MASK: 0xf << 2,
  /** S2AP[0] (bit 6): reads allowed. */
  S2AP_R: 1 << 6,
  /** S2AP[1] (bit 7): writes allowed. */
  S2AP_W: 1 << 7,
  SH_SHIFT: 8,
  SH_MASK: 0x3 << 8,
  AF: 1 << 10,
} as const;

/** Stage-2 descriptor, high word: XN[1:0] at bits 53–54 (FEAT_XNX encoding). */
export const S2_HI = {
  XN_SHIFT: 21,
  XN_MASK: 0x3 << 21,
} as const;

/** Inner Shareable, the SH value Linux uses for normal memory. */
export const SH_INNER = 0x3;
/** MAIR index of Normal WB memory in Linux's MAIR_EL1 layout (MT_NORMAL). */
export const MT_NORMAL = 0;
/** Stage-2 MemAttr[3:0] = 0b1111: Normal, Outer and Inner Write-Back Cacheable. */
export const S2_MEMATTR_NORMAL_WB = 0xf;

/** Output address bits 12–31 of a descriptor's low word. */
export const OA_LO_MASK = 0xfffff000;
/** Output address bits 32–47 of a descriptor's high word. */
export const OA_HI_MASK = 0xffff;

/** The output address (bits 12–47) of a descriptor. */
export function outputAddress(lo: number, hi: number): number {
  return ((lo & OA_LO_MASK) >>> 0) + (hi & OA_HI_MASK) * 2 ** 32;
}

/** Bits 32–47 of a physical address, for the descriptor's high word. */
export function paHi(pa: number): number {
  // Every address of the model's memory is below 2^32: no float division for those.
  return pa >= 0 && pa < 4_294_967_296 ? 0 : Math.floor(pa / 2 ** 32) & OA_HI_MASK;
}

/**
 * Bytes one entry of a table at `level` (0..3) spans: 2^(39 − 9·level). A table, not
 * `2 ** (39 - 9 * level)`: a power with a variable exponent is a Math.pow call of about
 * 80 ns in V8, several per walk (it made a nested stage-1 + stage-2 walk cost ~1 µs).
 */
export const LEVEL_SPAN: readonly number[] = [2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12];

/** Index of `va` into the table of `level` (0..3, ARM numbering) of a 4 KiB-granule walk. */
export function tableIndex(va: number, level: number): number {
  // `&` truncates the quotient (ToInt32 is modular, exact for any VA below 2^53).
  return (va / LEVEL_SPAN[level]) & 511;
}

/** Bytes a leaf at `level` (1: 1 GiB block, 2: 2 MiB block, 3: page) maps. */
export function leafSize(level: number): number {
  return LEVEL_SPAN[level];
}
