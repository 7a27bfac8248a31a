/**
 * ARMv6 short-descriptor translation table formats (VMSAv6, SCTLR.XP = 1, the "extended"
 * small-page format Linux uses), and the Linux software PTE that shadows each hardware
 * PTE (arch/arm/include/asm/pgtable-2level.h). Every descriptor is one little-endian u32.
 */

// ---- first level (L1): 4096 entries, one per 1 MiB ------------------------------------
export const L1_ENTRIES = 4096;
/** 16 KiB table, 16 KiB aligned (TTBR0 holds bits [31:14] with TTBCR.N = 0). */
export const L1_TABLE_BYTES = L1_ENTRIES * 4;
export const L1_TYPE_MASK = 0x3;
export const L1_TYPE_FAULT = 0x0;
/** Coarse page table: [31:10] is the 1 KiB-aligned base of a 256-entry L2 table. */
export const L1_TYPE_COARSE = 0x1;
/** Section (bit 18 = 0) or supersection (bit 18 = 1). */
export const L1_TYPE_SECTION = 0x2;
/** PMD_BIT4: Linux sets it in table descriptors (SBZ/ignored on ARMv6, required by ARMv5). */
export const L1_BIT4 = 1 << 4;
export const L1_DOMAIN_SHIFT = 5;
export const L1_DOMAIN_MASK = 0xf << L1_DOMAIN_SHIFT;
export const L1_COARSE_BASE_MASK = 0xfffffc00;

// Section descriptor fields (ARM ARM B4.3, ARMv6 format).
export const SECT_B = 1 << 2;
export const SECT_C = 1 << 3;
export const SECT_XN = 1 << 4;
export const SECT_AP_SHIFT = 10;
export const SECT_TEX_SHIFT = 12;
export const SECT_APX = 1 << 15;
export const SECT_S = 1 << 16;
export const SECT_NG = 1 << 17;
export const SECT_SUPER = 1 << 18;
export const SECT_BASE_MASK = 0xfff00000;

// ---- second level (L2): 256 entries, one per 4 KiB (1 KiB table) ----------------------
export const L2_ENTRIES = 256;
export const L2_TABLE_BYTES = L2_ENTRIES * 4;
/** Extended small page: bit 1 set; bit 0 is XN. */
export const PTE_XN = 1 << 0;
export const PTE_SMALL = 1 << 1;
export const PTE_B = 1 << 2;
export const PTE_C = 1 << 3;
export const PTE_AP_SHIFT = 4;
export const PTE_TEX_SHIFT = 6;
export const PTE_APX = 1 << 9;
export const PTE_S = 1 << 10;
export const PTE_NG = 1 << 11;
export const PTE_BASE_MASK = 0xfffff000;
/** Large page (64 KiB): type 01, XN in bit 15, TEX in [14:12]. Never created here. */
export const LPTE_TYPE = 0x1;
export const LPTE_XN = 1 << 15;
export const LPTE_BASE_MASK = 0xffff0000;

/** AP[1:0] values; with APX they give the privileged / user permissions. */
export const AP_PRIV_ONLY = 0b01;
export const AP_USER_RO = 0b10;
export const AP_FULL = 0b11;

// ---- Linux packing of L2 tables ------------------------------------------------------
/**
 * Linux puts two hardware L2 tables (for two consecutive L1 entries, 2 MiB) in one 4 KiB
 * page, after their two "Linux" shadow tables: Linux pt 0 at +0, Linux pt 1 at +1024,
 * h/w pt 0 at +2048, h/w pt 1 at +3072 (PTE_HWTABLE_OFF = 2048).
 */
export const PTE_HWTABLE_OFF = 2048;

// Linux software PTE bits (pgtable-2level.h).
export const L_PTE_PRESENT = 1 << 0;
export const L_PTE_YOUNG = 1 << 1;
export const L_PTE_MT_WRITEALLOC = 0x7 << 2;
export const L_PTE_DIRTY = 1 << 6;
export const L_PTE_RDONLY = 1 << 7;
export const L_PTE_USER = 1 << 8;
export const L_PTE_XN = 1 << 9;
export const L_PTE_SHARED = 1 << 10;

/** Domains (asm/domain.h without CONFIG_CPU_USE_DOMAINS); both are "client" in DACR. */
export const DOMAIN_KERNEL = 0;
export const DOMAIN_USER = 1;
/** DACR: domain 0 and 1 client (01): accesses are checked against AP/APX. */
export const DACR_DEFAULT = 0b0101;

/**
 * Normal memory, inner and outer write-back write-allocate (TEX = 001, C = 1, B = 1), shared
 * (S = 1, an SMP system): what Linux's L_PTE_MT_WRITEALLOC becomes on ARMv6.
 */
export const PTE_MT_WBWA = (0b001 << PTE_TEX_SHIFT) | PTE_C | PTE_B | PTE_S;
