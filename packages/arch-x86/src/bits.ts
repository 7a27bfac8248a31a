/**
 * x86-64 paging-structure entry bits (Intel SDM Vol. 3A §4.5, tables 4-14 to 4-20).
 * A 64-bit entry is handled as two u32 halves: `lo` holds bits 0–31, `hi` bits 32–63.
 */

// ---- low half (bits 0–31) -----------------------------------------------------------
export const P = 1 << 0;
export const RW = 1 << 1;
export const US = 1 << 2;
export const PWT = 1 << 3;
export const PCD = 1 << 4;
export const A = 1 << 5;
export const D = 1 << 6;
/** PS in a PDPTE/PDE (1 GiB / 2 MiB leaf); PAT in a PTE. */
export const PS = 1 << 7;
export const PAT = 1 << 7;
export const G = 1 << 8;
/** Bits 9–11 are ignored by hardware (software use). */
export const SW_MASK = 0xe00;
/** PFN bits 12–31 of the low half. */
export const ADDR_LO_MASK = 0xfffff000;
/** In a PS leaf, bit 12 is PAT; the frame address starts at bit 21 (2M) or 30 (1G). */
export const PAT_LARGE = 1 << 12;

// ---- high half (bits 32–63) ---------------------------------------------------------
/** PFN bits 32–51 of the address. */
export const ADDR_HI_MASK = 0x000fffff;
/** Protection key, bits 59–62 = high-half bits 27–30. */
export const PKEY_SHIFT_HI = 27;
export const PKEY_MASK_HI = 0xf << PKEY_SHIFT_HI;
/** XD/NX, bit 63 = high-half bit 31. */
export const NX_HI = 0x8000_0000;

/**
 * MAXPHYADDR of the modelled CPU: 46 bits, what CPUID.80000008H:EAX[7:0] reports on
 * Intel server parts since Sandy Bridge-EP (client parts report 39). Address bits
 * MAXPHYADDR..51 of every paging-structure entry are reserved (SDM Vol. 3A §4.5).
 */
export const MAXPHYADDR = 46;
/** Entry bits 46–51 (high-half bits 14–19): reserved above MAXPHYADDR. */
export const RSVD_HI = (((1 << (52 - MAXPHYADDR)) - 1) << (MAXPHYADDR - 32)) >>> 0;
/** A 2 MiB PDE (PS = 1): bits 13–20 are reserved (the frame is 2 MiB aligned). */
export const RSVD_LO_2M = 0x001f_e000;
/** A 1 GiB PDPTE (PS = 1): bits 13–29 are reserved. */
export const RSVD_LO_1G = 0x3fff_e000;

/** Linux `_KERNPG_TABLE`: a kernel-half table entry (no US). */
export const KERNPG_TABLE = P | RW | A | D;
/** Linux `_PAGE_TABLE`: a user-half table entry (US set; the leaf decides). */
export const PAGE_TABLE = P | RW | US | A | D;

/** Entries per table and the shift of each level's index (level 1 = PT ... 4 = PML4). */
export const ENTRIES = 512;
export const LEVELS = 4;
export const LEVEL_SHIFT: readonly number[] = [0, 12, 21, 30, 39];
export const LEVEL_SIZE: readonly number[] = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39];

/** 1 / LEVEL_SIZE (exact powers of two). */
export const LEVEL_SCALE: readonly number[] = [0, 2 ** -12, 2 ** -21, 2 ** -30, 2 ** -39];

/**
 * The table index at `level` of a VA given as its halves: `vlo` = bits 0–31 (`va >>> 0`),
 * `vhi` = bits 32–47 (`vaHigh`). Integer shifts only, so a walk's chain of dependent loads
 * carries no float arithmetic (about twice as fast as scaling the VA as a float).
 */
export function levelIndexOf(vlo: number, vhi: number, level: number): number {
  // One expression (not an if-chain): TurboFan inlines it into the walk loops as selects.
  return level === 1
    ? (vlo >>> 12) & 0x1ff
    : level === 2
      ? (vlo >>> 21) & 0x1ff
      : level === 3
        ? ((vlo >>> 30) | (vhi << 2)) & 0x1ff
        : (vhi >>> 7) & 0x1ff;
}

/** The table index of `va` (below 2^48) at `level`. */
export function levelIndex(va: number, level: number): number {
  const vlo = va >>> 0;
  return levelIndexOf(vlo, vaHigh(va, vlo), level);
}

/** Bits 32–47 of a VA below 2^48 whose low half is `vlo` (exact). */
export function vaHigh(va: number, vlo: number): number {
  return (va - vlo) * 2 ** -32;
}

/**
 * The next table of a non-leaf entry as a 32-bit PA, or -1 when it lies outside the
 * machine's `size` bytes of physical memory (the model's memory is below 2 GiB, so every
 * real table is a 32-bit address).
 */
export function tableAddr(lo: number, hi: number, size: number): number {
  const t = (lo & ADDR_LO_MASK) >>> 0;
  return (hi & ADDR_HI_MASK) === 0 && t < size ? t : -1;
}

/** The 52-bit physical address field of an entry, for a table or a 4 KiB leaf. */
export function entryAddr(lo: number, hi: number): number {
  return (hi & ADDR_HI_MASK) * 0x1_0000_0000 + ((lo & ADDR_LO_MASK) >>> 0);
}

// ---- control registers and MSRs -----------------------------------------------------
/** CR0.WP, bit 16: supervisor writes honour RW=0 only while it is set. */
export const CR0_WP = 1 << 16;
/** CR4.PCIDE, bit 17: CR3 bits 0–11 are a PCID. */
export const CR4_PCIDE = 1 << 17;
/** CR4.PKS, bit 24: supervisor protection keys. */
export const CR4_PKS = 1 << 24;
/** CR3 bit 63 (high-half bit 31): do not flush the PCID's entries on the write. */
export const CR3_NOFLUSH_HI = 0x8000_0000;
export const CR3_PCID_MASK = 0xfff;
/** IA32_PKRS: two bits per key, AD at 2k, WD at 2k+1. */
export const MSR_IA32_PKRS = 0x6e1;
export const pkrsAd = (key: number): number => 1 << (2 * key);
export const pkrsWd = (key: number): number => 1 << (2 * key + 1);
