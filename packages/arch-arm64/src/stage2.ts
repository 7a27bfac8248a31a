import { PAGE_SIZE, PG, type PhysMem } from '@prmem/core';
import {
  LEVEL_SPAN,
  OA_HI_MASK,
  OA_LO_MASK,
  outputAddress,
  paHi,
  S2,
  S2_HI,
  S2_MEMATTR_NORMAL_WB,
  SH_INNER,
  tableIndex,
} from './descriptors.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and the walk reads these at every level
// (docs/decisions.md §10).
const SPAN = LEVEL_SPAN;
const { VALID, TABLE, AF, S2AP_R, S2AP_W } = S2;
const { XN_MASK, XN_SHIFT } = S2_HI;

/** Stage-2 permissions of one IPA, as a small bit set (0: stage-2 fault). */
export const S2P = { R: 1, W: 2, X: 4 } as const;
const S2P_R = 1;
const S2P_W = 2;
const S2P_X = 4;

/** S2AP values (bits 6–7). */
export const S2AP_RO = S2.S2AP_R;
export const S2AP_RW = S2.S2AP_R | S2.S2AP_W;

/** IPA size: VTCR_EL2.T0SZ = 25 (39 bits), walk starting at level 1 (SL0 = 1). */
export const IPA_BITS = 39;
/** 2^IPA_BITS, as a literal: `2 ** IPA_BITS` is not folded and costs a Math.pow per walk. */
const IPA_LIMIT = 549_755_813_888;
export const S2_START_LEVEL = 1;

/** What a stage-2 lookup found (Stage2.lastKind): the fault kinds of the ARM ARM's FSC. */
export const S2_FAULT = { TRANSLATION: 1, ACCESS_FLAG: 2, PERMISSION: 3 } as const;

/** Owner id of frames that belong to EL2 (frameOwner). */
export const EL2_OWNER = -2;

/**
 * The stage-2 (IPA → PA) tables of the one guest, in simulated physical memory: 4 KiB
 * granule, 3 levels from level 1. The walk translates block descriptors; the tables EL2
 * builds use pages only (a hypervisor that changes per-page permissions splits blocks anyway). Built once at boot as an identity map of every frame
 * except EL2's own, which stage 2 leaves unmapped so the kernel cannot reach them.
 */
export class Stage2 {
  /** VTTBR_EL2's base address (the level-1 table). VMID is constant: one guest. */
  readonly rootPa: number;
  /** Input of `perm`: the IPA (a field, not an argument: no boxed number on a TLB miss). */
  ipa = 0;
  /** Output PA of the last successful `perm` call (identity here, but read from the table). */
  lastPa = 0;
  /** Level (1–3) of the last `perm` lookup: the leaf's, or the one that faulted. */
  lastLevel = S2_START_LEVEL;
  /** What the last `perm` found: S2_FAULT.TRANSLATION, ACCESS_FLAG, or PERMISSION (a leaf). */
  lastKind = 0;
  private readonly u32: Uint32Array;
  /** rootPa / 4: the level-1 table's first word in the u32 view. */
  private readonly rootWord: number;
  private readonly el2Frames: Uint8Array;

  constructor(phys: PhysMem) {
    this.u32 = phys.u32;
    const frames = phys.frameCount;
    const l3Count = Math.ceil(frames / 512);
    const l2Count = Math.ceil(l3Count / 512);
    const pfns = phys.allocFrames(1 + l2Count + l3Count, EL2_OWNER);
    this.el2Frames = new Uint8Array(frames);
    for (const pfn of pfns) {
      phys.frameFlags[pfn] |= PG.PAGETABLE;
      this.el2Frames[pfn] = 1;
    }
    this.rootPa = pfns[0] * PAGE_SIZE;
    this.rootWord = this.rootPa / 4;
    const l2 = pfns.slice(1, 1 + l2Count);
    const l3 = pfns.slice(1 + l2Count);
    for (let i = 0; i < l2Count; i++) this.setTable(this.rootPa + i * 8, l2[i] * PAGE_SIZE);
    for (let i = 0; i < l3Count; i++)
      this.setTable(l2[i >>> 9] * PAGE_SIZE + (i & 511) * 8, l3[i] * PAGE_SIZE);
    for (let pfn = 0; pfn < frames; pfn++) {
      const e = l3[pfn >>> 9] * PAGE_SIZE + (pfn & 511) * 8;
      if (this.el2Frames[pfn]) this.write(e, 0, 0);
      else this.write(e, pageLo(pfn * PAGE_SIZE, S2AP_RW), paHi(pfn * PAGE_SIZE));
    }
  }

  /** The stage-2 permissions of an IPA (cold paths). */
  permOf(ipa: number): number {
    this.ipa = ipa;
    return this.perm();
  }

  /** Is the frame EL2's own memory (its stage-2 tables)? */
  isEl2Frame(pfn: number): boolean {
    return this.el2Frames[pfn] === 1;
  }

  /**
   * Hardware stage-2 walk of `this.ipa`: the permissions (S2P bits, 0 on a translation or
   * access-flag fault) and, in `lastPa`, the output address of the page; `lastLevel` is
   * the level of the last lookup (the leaf's, or the faulting one's), `lastKind` what it
   * found. Level-1 (1 GiB) and level-2 (2 MiB) block descriptors translate as the ARM ARM
   * defines them for the 4 KiB granule. Allocates nothing.
   */
  perm(): number {
    const ipa = this.ipa;
    if (!(ipa >= 0 && ipa < IPA_LIMIT)) return this.fault(S2_START_LEVEL, S2_FAULT.TRANSLATION);
    const u32 = this.u32;
    // The IPA as two u32 halves, once (a multiply by 2^-32 is exact): the indices are
    // then shifts. The three levels are written out: this runs for every table fetch of
    // every stage-1 walk, and a loop over levels paid a dispatch on `level` per lookup.
    // A table's word index is its address's low word over 4, exactly what the u32 view
    // read before (the descriptor's high word is not part of a table address here: the
    // model's memory ends below 4 GiB).
    const ilo = ipa >>> 0;
    const ihi = (ipa - ilo) * 2.3283064365386963e-10;
    let w = this.rootWord + ((((ilo >>> 30) | (ihi << 2)) & 511) << 1);
    let lo = u32[w];
    if ((lo & VALID) === 0) return this.fault(1, S2_FAULT.TRANSLATION);
    if ((lo & TABLE) === 0) return this.leaf(lo, u32[w + 1], ilo, 1);
    w = ((lo & OA_LO_MASK) >>> 2) + (((ilo >>> 21) & 511) << 1);
    lo = u32[w];
    if ((lo & VALID) === 0) return this.fault(2, S2_FAULT.TRANSLATION);
    if ((lo & TABLE) === 0) return this.leaf(lo, u32[w + 1], ilo, 2);
    w = ((lo & OA_LO_MASK) >>> 2) + (((ilo >>> 12) & 511) << 1);
    lo = u32[w];
    // Bit 1 clear at level 3 is reserved: a translation fault.
    if ((lo & VALID) === 0 || (lo & TABLE) === 0) return this.fault(3, S2_FAULT.TRANSLATION);
    return this.leaf(lo, u32[w + 1], ilo, 3);
  }

  /** A lookup that stopped at `level` with no permissions (translation or access-flag fault). */
  private fault(level: number, kind: number): number {
    this.lastLevel = level;
    this.lastKind = kind;
    return 0;
  }

  /**
   * The leaf (lo, hi) found at `level` for the IPA whose low word is `ilo`: its output
   * address in `lastPa` and its S2P permissions, or an access-flag fault.
   */
  private leaf(lo: number, hi: number, ilo: number, level: number): number {
    this.lastLevel = level;
    if ((lo & AF) === 0) {
      this.lastKind = S2_FAULT.ACCESS_FLAG;
      return 0;
    }
    this.lastKind = S2_FAULT.PERMISSION;
    // The block's base and the IPA's offset in it (span <= 2^30 at levels 1-3) by int32
    // masks on the low words; the high word adds bits 32-47 only when it has any.
    const off = SPAN[level] - 1;
    const base = ((lo & OA_LO_MASK & ~off) >>> 0) + (ilo & off);
    const oaHi = hi & OA_HI_MASK;
    this.lastPa = oaHi === 0 ? base : base + oaHi * 4_294_967_296;
    const xn = (hi & XN_MASK) >>> XN_SHIFT;
    return (
      ((lo & S2AP_R) !== 0 ? S2P_R : 0) |
      ((lo & S2AP_W) !== 0 ? S2P_W : 0) |
      // EL1 may execute for XN = 0b00 and 0b11 (FEAT_XNX).
      (xn === 0 || xn === 3 ? S2P_X : 0)
    );
  }

  /** Physical address of the level-3 descriptor mapping `ipa`, or -1. */
  entryPa(ipa: number): number {
    if (!(ipa >= 0 && ipa < IPA_LIMIT)) return -1;
    let table = this.rootPa;
    for (let level = S2_START_LEVEL; level < 3; level++) {
      const w = (table + tableIndex(ipa, level) * 8) >>> 2;
      if ((this.u32[w] & (S2.VALID | S2.TABLE)) !== (S2.VALID | S2.TABLE)) return -1;
      table = outputAddress(this.u32[w], this.u32[w + 1]);
    }
    return table + tableIndex(ipa, 3) * 8;
  }

  /** Rewrites S2AP of one mapped page; returns false if the IPA has no page descriptor. */
  setAccess(ipa: number, s2ap: number): boolean {
    const e = this.entryPa(ipa);
    if (e < 0) return false;
    const w = e >>> 2;
    if ((this.u32[w] & S2.VALID) === 0) return false;
    this.u32[w] = ((this.u32[w] & ~(S2.S2AP_R | S2.S2AP_W)) | s2ap) >>> 0;
    return true;
  }

  private setTable(e: number, next: number): void {
    this.write(e, (next | S2.VALID | S2.TABLE) >>> 0, paHi(next));
  }

  private write(e: number, lo: number, hi: number): void {
    this.u32[e >>> 2] = lo >>> 0;
    this.u32[(e >>> 2) + 1] = hi >>> 0;
  }
}

/** A stage-2 page descriptor's low word: Normal WB, inner shareable, AF set, XN = 00. */
function pageLo(pa: number, s2ap: number): number {
  return (
    ((pa % 2 ** 32) |
      S2.VALID |
      S2.TABLE |
      (S2_MEMATTR_NORMAL_WB << S2.MEMATTR_SHIFT) |
      s2ap |
      (SH_INNER << S2.SH_SHIFT) |
      S2.AF) >>>
    0
  );
}
