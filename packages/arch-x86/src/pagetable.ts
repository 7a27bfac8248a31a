import * as core from '@prmem/core';
import {
  BadAddressError,
  type Cpu,
  InvalidArgumentError,
  type LeafMemo,
  type Machine,
  type Mm,
  type PageTableOps,
  type PteProt,
  type WalkResult,
} from '@prmem/core';
import * as bits from './bits.js';
import * as layout from './layout.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { FAULT, PAGE_MASK, PAGE_SIZE, PG, TLBF, TLBF_PKEY_SHIFT } = core;
const {
  A,
  ADDR_HI_MASK,
  ADDR_LO_MASK,
  D,
  ENTRIES,
  entryAddr,
  G,
  KERNPG_TABLE,
  LEVEL_SIZE,
  LEVELS,
  levelIndexOf,
  NX_HI,
  P,
  PAGE_TABLE,
  PAT,
  PAT_LARGE,
  PKEY_MASK_HI,
  PKEY_SHIFT_HI,
  PS,
  RSVD_HI,
  RSVD_LO_1G,
  RSVD_LO_2M,
  RW,
  tableAddr,
  US,
  vaHigh,
} = bits;
const { USER_END } = layout;

/** The PML4 slot where the kernel half starts (entries 256–511 are shared by every mm). */
export const KERNEL_PML4_FIRST = ENTRIES / 2;

/** A scan that keeps no picks writes none (see `scanMasked`). */
const NO_PICKS = new Int32Array(0);
/** The memo's scan kind of a root table walked by `scanRoot` (levels are 1 to 4). */
const ROOT_KIND = LEVELS + 1;

/** Bits a protection change leaves alone (CPA clears/sets only what it is asked to). */
const KEEP_LO = (A | D | PS | 0x18 /* PWT PCD */ | 0xe00) >>> 0;

/** Whether a write with these (not yet dirty) TLBF flags would be allowed on `cpu`. */
export type WriteCheck = (cpu: Cpu, flags: number) => boolean;

/**
 * The TLBF flags of a leaf (without D): R, W and U when every level allowed them (`rw`,
 * `us`: the AND of the RW/US bits down the walk), G, X unless some level set NX, and the
 * protection key — a keyed page's accesses must reach checkAccess, which consults PKRS.
 * The walk and `forEachLeaf` both translate through here.
 */
function leafFlags(rw: number, us: number, nx: number, lo: number, hi: number): number {
  const pkey = (hi & PKEY_MASK_HI) >>> PKEY_SHIFT_HI;
  return (
    TLBF.R |
    (rw !== 0 ? TLBF.W : 0) |
    (us !== 0 ? TLBF.U : 0) |
    ((lo & G) !== 0 ? TLBF.G : 0) |
    (nx !== 0 ? 0 : TLBF.X) |
    (pkey << TLBF_PKEY_SHIFT) |
    (pkey !== 0 ? TLBF.SLOW_W | TLBF.SLOW_R : 0)
  );
}

/**
 * x86-64 4-level paging in simulated physical memory, in the hardware's entry format.
 * Entries are two u32 halves; no BigInt, and the hardware walk allocates nothing.
 */
export class X86PageTable implements PageTableOps {
  readonly levels = LEVELS;
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare private readonly u32: Uint32Array;

  declare private readonly m: Machine;
  declare private readonly writeAllowed: WriteCheck;

  constructor(m: Machine, writeAllowed: WriteCheck) {
    this.m = m;
    this.writeAllowed = writeAllowed;
    this.u32 = m.phys.u32;
  }

  // ---- encoding ----------------------------------------------------------------------

  /** A fresh 4 KiB leaf as Linux builds PAGE_KERNEL / PAGE_KERNEL_RO (A set; D if writable). */
  encodeLeafLo(pa: number, prot: PteProt): number {
    return (
      ((pa & ADDR_LO_MASK) |
        P |
        A |
        (prot.write ? RW | D : 0) |
        (prot.user ? US : 0) |
        (prot.global ? G : 0)) >>>
      0
    );
  }

  encodeLeafHi(pa: number, prot: PteProt): number {
    const pkey = prot.pkey ?? 0;
    return (
      ((Math.floor(pa / 0x1_0000_0000) & ADDR_HI_MASK) |
        (prot.exec ? 0 : NX_HI) |
        (pkey << PKEY_SHIFT_HI)) >>>
      0
    );
  }

  private checkProt(prot: PteProt): void {
    const k = prot.pkey ?? 0;
    if (!Number.isInteger(k) || k < 0 || k > 15)
      throw new InvalidArgumentError('pkey', k, 'must be an integer in [0, 15]');
  }

  private checkPageVa(va: number): void {
    if (!Number.isInteger(va) || va < 0 || va >= 2 ** 48)
      throw new BadAddressError(va, 'must be an integer in [0, 2^48)');
    if ((va & PAGE_MASK) !== 0) throw new BadAddressError(va, 'must be page-aligned');
  }

  // ---- table navigation ---------------------------------------------------------------

  /** Allocates a zeroed table frame owned by `mm` and returns its PA. */
  private newTable(mm: Mm): number {
    const pfn = this.m.phys.allocFrame(mm.id);
    this.m.phys.frameFlags[pfn] |= PG.PAGETABLE;
    return pfn * PAGE_SIZE;
  }

  /**
   * The PA of the level-1 entry for `va`, allocating the tables on the way when `alloc`.
   * Returns -1 if a table is missing (and not allocated).
   */
  private pteSlot(mm: Mm, va: number, alloc: boolean): number {
    const u = this.u32;
    const vlo = va >>> 0;
    const vhi = vaHigh(va, vlo);
    let table = mm.rootPa;
    for (let level = LEVELS; level > 1; level--) {
      const w = (table >>> 2) + levelIndexOf(vlo, vhi, level) * 2;
      if ((u[w] & P) === 0) {
        if (!alloc) return -1;
        const t = this.newTable(mm);
        u[w] = (t | (va >= USER_END ? KERNPG_TABLE : PAGE_TABLE)) >>> 0;
        u[w + 1] = 0;
        if (level === LEVELS && va >= USER_END && mm.kind === 'kernel') this.syncKernelPgd(w * 4);
      } else if (level < LEVELS && (u[w] & PS) !== 0) {
        throw new InvalidArgumentError('va', va, `covered by a level-${level} large page`);
      }
      table = this.nextTable(u[w], u[w + 1]);
    }
    return table + levelIndexOf(vlo, vhi, 1) * 8;
  }

  /** The table a present non-leaf entry points to; a pointer outside memory is a kernel bug. */
  private nextTable(lo: number, hi: number): number {
    const t = tableAddr(lo, hi, this.m.phys.size);
    if (t < 0)
      throw new BadAddressError(entryAddr(lo, hi), 'page-table pointer outside physical memory');
    return t;
  }

  /**
   * sync_global_pgds(): a new kernel-half PML4 entry is copied into every other mm's root,
   * so the kernel half stays shared however late it grows.
   */
  private syncKernelPgd(kernelEntryPa: number): void {
    const off = kernelEntryPa % PAGE_SIZE;
    const w = kernelEntryPa >>> 2;
    for (const mm of this.m.mms) {
      if (mm.kind === 'kernel') continue;
      const t = (mm.rootPa + off) >>> 2;
      this.u32[t] = this.u32[w];
      this.u32[t + 1] = this.u32[w + 1];
    }
  }

  /** The PA of the leaf entry (any level) mapping `va`, or -1. */
  private findLeaf(mm: Mm, va: number): number {
    const u = this.u32;
    const vlo = va >>> 0;
    const vhi = vaHigh(va, vlo);
    let table = mm.rootPa;
    for (let level = LEVELS; level >= 1; level--) {
      const e = table + levelIndexOf(vlo, vhi, level) * 8;
      const w = e >>> 2;
      if ((u[w] & P) === 0) return -1;
      if (level === 1 || (level < LEVELS && (u[w] & PS) !== 0)) return e;
      table = this.nextTable(u[w], u[w + 1]);
    }
    return -1;
  }

  // ---- PageTableOps ------------------------------------------------------------------

  map(mm: Mm, va: number, pa: number, prot: PteProt): number {
    this.checkPageVa(va);
    if (!Number.isInteger(pa) || pa < 0 || pa >= this.m.phys.size || pa % PAGE_SIZE !== 0)
      throw new BadAddressError(pa, 'physical address must be a page-aligned frame in memory');
    this.checkProt(prot);
    this.writeLeaf(this.pteSlot(mm, va, true), pa, prot);
    return 1;
  }

  /**
   * get_locked_pte(): the PA of `va`'s level-1 entry in `mm`, allocating the tables on the
   * way. text_poke keeps this pointer for the whole poke: set_pte_at() before the write,
   * pte_clear() after, one walk for both.
   */
  getLockedPte(mm: Mm, va: number): number {
    this.checkPageVa(va);
    return this.pteSlot(mm, va, true);
  }

  /** set_pte_at() through a pointer from getLockedPte(): a 4 KiB leaf for frame `pa`. */
  setPte(ptep: number, pa: number, prot: PteProt): void {
    if (!Number.isInteger(pa) || pa < 0 || pa >= this.m.phys.size || pa % PAGE_SIZE !== 0)
      throw new BadAddressError(pa, 'physical address must be a page-aligned frame in memory');
    this.checkProt(prot);
    this.writeLeaf(ptep, pa, prot);
  }

  private writeLeaf(ptep: number, pa: number, prot: PteProt): void {
    const w = ptep >>> 2;
    this.u32[w] = this.encodeLeafLo(pa, prot);
    this.u32[w + 1] = this.encodeLeafHi(pa, prot);
  }

  /** pte_clear() through a pointer from getLockedPte(). */
  pteClear(ptep: number): void {
    this.u32[ptep >>> 2] = 0;
    this.u32[(ptep >>> 2) + 1] = 0;
  }

  unmap(mm: Mm, va: number): boolean {
    const e = this.findLeaf(mm, va);
    if (e < 0) return false;
    this.refuseLarge(mm, va);
    this.pteClear(e);
    return true;
  }

  /** A 4 KiB operation on a page inside a large leaf must split it first (splitLarge). */
  private refuseLarge(mm: Mm, va: number): void {
    if (this.leafLevel(mm, va) > 1)
      throw new InvalidArgumentError('va', va, 'lies in a large page: split it first (CPA)');
  }

  /** Changes RW/US/G/NX/pkey of the leaf; keeps A, D, PS, caching and software bits. */
  protect(mm: Mm, va: number, prot: PteProt): boolean {
    this.checkProt(prot);
    const e = this.findLeaf(mm, va);
    if (e < 0) return false;
    this.refuseLarge(mm, va);
    const w = e >>> 2;
    const lo = this.u32[w];
    const hi = this.u32[w + 1];
    // The address field; in a large leaf it also carries PAT (bit 12), kept as is.
    const addrLo = lo & ADDR_LO_MASK;
    this.u32[w] =
      (addrLo |
        (lo & KEEP_LO) |
        P |
        (prot.write ? RW : 0) |
        (prot.user ? US : 0) |
        (prot.global ? G : 0)) >>>
      0;
    this.u32[w + 1] =
      ((hi & ADDR_HI_MASK) | (prot.exec ? 0 : NX_HI) | ((prot.pkey ?? 0) << PKEY_SHIFT_HI)) >>> 0;
    return true;
  }

  // ---- large pages (the direct map) ----------------------------------------------------

  /** The level (1, 2, 3) of the leaf mapping `va`, 0 if unmapped. Cold path. */
  leafLevel(mm: Mm, va: number): number {
    const u = this.u32;
    const vlo = va >>> 0;
    const vhi = vaHigh(va, vlo);
    let table = mm.rootPa;
    for (let level = LEVELS; level >= 1; level--) {
      const w = (table + levelIndexOf(vlo, vhi, level) * 8) >>> 2;
      if ((u[w] & P) === 0) return 0;
      if (level === 1 || (level < LEVELS && (u[w] & PS) !== 0)) return level;
      table = this.nextTable(u[w], u[w + 1]);
    }
    return 0;
  }

  /**
   * A 2 MiB (level 2) or 1 GiB (level 3) leaf, as init_memory_mapping builds the direct
   * map: PS set, A set, D when writable. Allocates the tables above it. Returns PTE writes.
   */
  mapLarge(mm: Mm, va: number, pa: number, level: 2 | 3, prot: PteProt): number {
    const span = LEVEL_SIZE[level];
    if (va % span !== 0 || pa % span !== 0)
      throw new BadAddressError(va, `a level-${level} page needs ${span}-byte alignment`);
    this.checkProt(prot);
    const u = this.u32;
    const vlo = va >>> 0;
    const vhi = vaHigh(va, vlo);
    let table = mm.rootPa;
    let writes = 0;
    for (let l = LEVELS; l > level; l--) {
      const w = (table >>> 2) + levelIndexOf(vlo, vhi, l) * 2;
      if ((u[w] & P) === 0) {
        const t = this.newTable(mm);
        u[w] = (t | (va >= USER_END ? KERNPG_TABLE : PAGE_TABLE)) >>> 0;
        u[w + 1] = 0;
        writes++;
        if (l === LEVELS && va >= USER_END && mm.kind === 'kernel') this.syncKernelPgd(w * 4);
      } else if ((u[w] & PS) !== 0) {
        throw new InvalidArgumentError('va', va, `covered by a level-${l} large page`);
      }
      table = this.nextTable(u[w], u[w + 1]);
    }
    const w = (table >>> 2) + levelIndexOf(vlo, vhi, level) * 2;
    u[w] = (this.encodeLeafLo(pa, prot) | PS) >>> 0;
    u[w + 1] = this.encodeLeafHi(pa, prot);
    return writes + 1;
  }

  /**
   * split_large_page(): the large leaf covering `va` becomes a table of 512 entries one
   * level down with the same frame range and attributes (PAT moves from bit 12 to bit 7
   * in 4 KiB PTEs; a 1 GiB page becomes 2 MiB pages), and the old entry points to it with
   * _KERNPG_TABLE. Returns the PTE writes (513), or 0 if `va` is not in a large page.
   * The caller flushes: Linux does a global flush before changing the new PTEs.
   */
  splitLarge(mm: Mm, va: number): number {
    const level = this.leafLevel(mm, va);
    if (level < 2) return 0;
    const u = this.u32;
    const vlo = va >>> 0;
    const vhi = vaHigh(va, vlo);
    let table = mm.rootPa;
    for (let l = LEVELS; l > level; l--) {
      const w = (table >>> 2) + levelIndexOf(vlo, vhi, l) * 2;
      table = this.nextTable(u[w], u[w + 1]);
    }
    const w = (table >>> 2) + levelIndexOf(vlo, vhi, level) * 2;
    const lo = u[w];
    const hi = u[w + 1];
    const span = LEVEL_SIZE[level];
    const sub = LEVEL_SIZE[level - 1];
    let base = entryAddr(lo, hi);
    base -= base % span;
    const pat = (lo & PAT_LARGE) !== 0;
    // Attribute bits of the new entries: everything but the address, PS and PAT.
    const attrLo = (lo & ~ADDR_LO_MASK & ~PS) >>> 0;
    const attrHi = (hi & ~ADDR_HI_MASK) >>> 0;
    const t = this.newTable(mm);
    for (let i = 0; i < ENTRIES; i++) {
      const pa = base + i * sub;
      const e = (t >>> 2) + i * 2;
      u[e] =
        ((pa % 0x1_0000_0000) |
          attrLo |
          (level === 2 ? (pat ? PAT : 0) : PS | (pat ? PAT_LARGE : 0))) >>>
        0;
      u[e + 1] = ((Math.floor(pa / 0x1_0000_0000) & ADDR_HI_MASK) | attrHi) >>> 0;
    }
    u[w] = (t | KERNPG_TABLE) >>> 0;
    u[w + 1] = 0;
    return ENTRIES + 1;
  }

  lookup(mm: Mm, va: number, out: WalkResult): boolean {
    out.va = va;
    return this.translate(null, mm, false, out) === 0;
  }

  walk(cpu: Cpu, mm: Mm, write: boolean, out: WalkResult): number {
    return this.translate(cpu, mm, write, out);
  }

  /**
   * The walk of `out.va`. With a CPU it is the hardware's: A is set in every entry used,
   * D in the leaf when a write is allowed. Without one it is the kernel's lookup_address().
   * The VA stays in `out` and in locals: passed to a helper, V8 would box it (allocate).
   */
  private translate(cpu: Cpu | null, mm: Mm, write: boolean, out: WalkResult): number {
    const va = out.va;
    const u = this.u32;
    const vlo = va >>> 0;
    const vhi = vaHigh(va, vlo);
    const size = this.m.phys.size;
    let table = mm.rootPa;
    let rw = RW;
    let us = US;
    let nx = 0;
    for (let level = LEVELS; level >= 1; level--) {
      const e = table + levelIndexOf(vlo, vhi, level) * 8;
      const w = e >>> 2;
      let lo = u[w];
      const hi = u[w + 1];
      if ((lo & P) === 0) {
        out.fault = FAULT.NOT_PRESENT;
        return FAULT.NOT_PRESENT;
      }
      // Reserved bits (checked in every present entry the walk reads, before it sets A):
      // address bits above MAXPHYADDR, PS in a PML4E, the low address bits of a large leaf.
      if (
        (hi & RSVD_HI) !== 0 ||
        (level === LEVELS && (lo & PS) !== 0) ||
        (level !== 1 && (lo & PS) !== 0 && (lo & (level === 2 ? RSVD_LO_2M : RSVD_LO_1G)) !== 0)
      ) {
        out.fault = FAULT.RSVD;
        out.level = level;
        out.leafPa = e;
        return FAULT.RSVD;
      }
      if (cpu !== null && (lo & A) === 0) {
        lo = (lo | A) >>> 0;
        u[w] = lo;
      }
      rw &= lo;
      us &= lo;
      nx |= hi & NX_HI;
      const leaf = level === 1 || (lo & PS) !== 0;
      if (!leaf) {
        table = tableAddr(lo, hi, size);
        // A table outside memory: the read would return all-ones, reserved bits set (RSVD).
        if (table < 0) {
          out.fault = FAULT.RSVD;
          out.level = level;
          out.leafPa = e;
          return FAULT.RSVD;
        }
        continue;
      }
      const span = LEVEL_SIZE[level];
      let base = entryAddr(lo, hi);
      if (level > 1) base -= base % span; // drops PAT (bit 12); the reserved bits are clear
      let flags = leafFlags(rw, us, nx, lo, hi);
      if ((lo & D) !== 0) flags |= TLBF.D;
      else if (cpu !== null && write && this.writeAllowed(cpu, flags)) {
        u[w] = (lo | D) >>> 0;
        flags |= TLBF.D;
      }
      // A 4 KiB leaf is the frame; a large one adds the 4 KiB page's offset inside it.
      out.pa = level === 1 ? base : base + (va % span) - (va % PAGE_SIZE);
      out.flags = flags;
      out.level = level;
      out.leafPa = e;
      out.fault = 0;
      return 0;
    }
    out.fault = FAULT.NOT_PRESENT;
    return FAULT.NOT_PRESENT;
  }

  forEachLeaf(
    mm: Mm,
    fn: (va: number, pa: number, flags: number, level: number) => void,
    frameMask = 0,
    memo?: LeafMemo,
  ): void {
    if (frameMask === 0) this.visit(mm.rootPa, LEVELS, 0, RW, US, 0, 0, ENTRIES, fn);
    else if (memo === undefined || memo.frameMask !== frameMask)
      this.scanMasked(mm.rootPa, LEVELS, 0, RW, US, 0, fn, frameMask);
    else this.scanRoot(mm.rootPa, fn, frameMask, memo);
  }

  /**
   * The PML4 level of `scanMasked` with a memo: a PML4 entry another mm of the memo had
   * at the same index (the shared kernel half) replays that walk's leaves.
   */
  private scanRoot(
    root: number,
    fn: (va: number, pa: number, flags: number, level: number) => void,
    mask: number,
    memo: LeafMemo,
  ): void {
    const u = this.u32;
    const w0 = root >>> 2;
    if (w0 >= u.length) return;
    const record = (va: number, pa: number, f: number, level: number) => {
      memo.add(va, pa, f, level);
      fn(va, pa, f, level);
    };
    const size = LEVEL_SIZE[LEVELS];
    // The root's present slots, as a table's in `scanMasked` (a kind of their own).
    const cached = memo.slotsOf(w0 * 4, ROOT_KIND, PAGE_SIZE);
    const picks =
      (cached === undefined ? memo.pickBuffer(ROOT_KIND, ENTRIES) : undefined) ?? NO_PICKS;
    let picked = 0;
    const n = cached === undefined ? ENTRIES : cached.length;
    for (let k = 0; k < n; k++) {
      const i = cached === undefined ? k : cached[k];
      const lo = u[w0 + 2 * i];
      if ((lo & P) === 0) continue;
      if (picks !== NO_PICKS) picks[picked++] = i;
      const hi = u[w0 + 2 * i + 1];
      const r = memo.find(i, lo, hi);
      if (r >= 0) {
        memo.replay(r, fn);
        continue;
      }
      // PS means nothing in a PML4E to this walk (as in `visit`): always a table.
      memo.begin(i, lo, hi);
      const t = entryAddr(lo, hi);
      this.scanMasked(t, LEVELS - 1, i * size, RW & lo, US & lo, hi & NX_HI, record, mask, memo);
      memo.end();
    }
    if (picks !== NO_PICKS) memo.keepSlots(w0 * 4, ROOT_KIND, PAGE_SIZE, picks, picked);
  }

  /**
   * `visit` for the audit: only leaves with a frame flag of `mask`, read before anything
   * else. Word indexes into the table, no per-entry helper: nearly every entry is empty or
   * maps unprotected memory, and those cost a load and a test or two each. With a memo,
   * a table unchanged since its last scan (and the flagged frames too) is visited at the
   * slots that scan picked only. It reads what `visit` reads, including a table address
   * above 4 GiB taken modulo 2^32 as `visit`'s `>>> 2` does (the hardware walk faults
   * there; the audit may over-report, never miss).
   */
  private scanMasked(
    table: number,
    level: number,
    base: number,
    rw: number,
    us: number,
    nx: number,
    fn: (va: number, pa: number, flags: number, level: number) => void,
    mask: number,
    memo?: LeafMemo,
  ): void {
    const u = this.u32;
    const w0 = table >>> 2;
    // Tables are page-aligned and memory is whole pages: all of it is in memory or none.
    if (w0 >= u.length) return;
    const phys = this.m.phys;
    const frameFlags = phys.frameFlags;
    const frames = phys.frameCount;
    const size = LEVEL_SIZE[level];
    const cached = memo?.slotsOf(w0 * 4, level, PAGE_SIZE);
    // The slots this scan picks, kept for the next (only when it scans them all).
    const picks = (cached === undefined ? memo?.pickBuffer(level, ENTRIES) : undefined) ?? NO_PICKS;
    let picked = 0;
    const n = cached === undefined ? ENTRIES : cached.length;
    for (let k = 0; k < n; k++) {
      const i = cached === undefined ? k : cached[k];
      const w = w0 + 2 * i;
      const lo = u[w];
      if ((lo & P) === 0) continue;
      const hi = u[w + 1];
      if (level === 1) {
        // Memory ends below 4 GiB: a frame address with high bits has no flags.
        if ((hi & ADDR_HI_MASK) !== 0) continue;
        const pfn = lo >>> 12;
        if (pfn >= frames || (frameFlags[pfn] & mask) === 0) continue;
        if (picks !== NO_PICKS) picks[picked++] = i;
        fn(
          base + i * size,
          (lo & ADDR_LO_MASK) >>> 0,
          leafFlags(rw & lo, us & lo, nx | (hi & NX_HI), lo, hi) | ((lo & D) !== 0 ? TLBF.D : 0),
          1,
        );
      } else if (level < LEVELS && (lo & PS) !== 0) {
        let pa = entryAddr(lo, hi);
        pa -= pa % size;
        if (!phys.anyFrameFlag(pa, size, mask)) continue;
        if (picks !== NO_PICKS) picks[picked++] = i;
        fn(
          base + i * size,
          pa,
          leafFlags(rw & lo, us & lo, nx | (hi & NX_HI), lo, hi) | ((lo & D) !== 0 ? TLBF.D : 0),
          level,
        );
      } else {
        if (picks !== NO_PICKS) picks[picked++] = i;
        const t = entryAddr(lo, hi);
        this.scanMasked(
          t,
          level - 1,
          base + i * size,
          rw & lo,
          us & lo,
          nx | (hi & NX_HI),
          fn,
          mask,
          memo,
        );
      }
    }
    if (picks !== NO_PICKS) memo?.keepSlots(w0 * 4, level, PAGE_SIZE, picks, picked);
  }

  private visit(
    table: number,
    level: number,
    base: number,
    rw: number,
    us: number,
    nx: number,
    from: number,
    to: number,
    fn: (va: number, pa: number, flags: number, level: number) => void,
  ): void {
    const u = this.u32;
    const size = LEVEL_SIZE[level];
    for (let i = from; i < to; i++) {
      const w = (table + i * 8) >>> 2;
      const lo = u[w];
      if ((lo & P) === 0) continue;
      const hi = u[w + 1];
      const va = base + i * size;
      const r = rw & lo;
      const s = us & lo;
      const x = nx | (hi & NX_HI);
      if (level === 1 || (level < LEVELS && (lo & PS) !== 0)) {
        let pa = entryAddr(lo, hi);
        if (level > 1) pa -= pa % size;
        fn(va, pa, leafFlags(r, s, x, lo, hi) | ((lo & D) !== 0 ? TLBF.D : 0), level);
      } else if (level > 1) {
        this.visit(entryAddr(lo, hi), level - 1, va, r, s, x, 0, ENTRIES, fn);
      }
    }
  }

  tableFrames(mm: Mm): number[] {
    const out = [mm.rootPa / PAGE_SIZE];
    const to = mm.kind === 'kernel' ? ENTRIES : KERNEL_PML4_FIRST;
    this.collectTables(mm.rootPa, LEVELS, 0, to, out);
    return out;
  }

  private collectTables(table: number, level: number, from: number, to: number, out: number[]) {
    if (level === 1) return;
    const u = this.u32;
    for (let i = from; i < to; i++) {
      const w = (table + i * 8) >>> 2;
      if ((u[w] & P) === 0 || (level < LEVELS && (u[w] & PS) !== 0)) continue;
      const t = entryAddr(u[w], u[w + 1]);
      out.push(t / PAGE_SIZE);
      this.collectTables(t, level - 1, 0, ENTRIES, out);
    }
  }

  /** Frees an mm's user-half tables (a retired alias mm); the root stays for the caller. */
  destroy(mm: Mm): void {
    if (mm.kind === 'kernel') return;
    const out: number[] = [];
    this.collectTables(mm.rootPa, LEVELS, 0, KERNEL_PML4_FIRST, out);
    for (const pfn of out) this.freeTable(pfn);
    this.m.phys.bytes.fill(0, mm.rootPa, mm.rootPa + PAGE_SIZE / 2);
  }

  private freeTable(pfn: number): void {
    this.m.phys.frameFlags[pfn] &= ~PG.PAGETABLE;
    this.m.phys.freeFrame(pfn);
  }

  /** Whether the 512 entries of the table at `t` are all clear. */
  private emptyTable(t: number): boolean {
    const w = t >>> 2;
    for (let i = 0; i < ENTRIES * 2; i++) if (this.u32[w + i] !== 0) return false;
    return true;
  }

  /**
   * free_pgd_range() for [start, end): PT and PD pages left empty are freed and their
   * entries cleared. PDPT pages stay: kernel-half PML4 entries are copied into every mm.
   */
  pruneTables(mm: Mm, start: number, end: number): number {
    const u = this.u32;
    let freed = 0;
    const pmd = LEVEL_SIZE[2];
    const pud = LEVEL_SIZE[3];
    for (let va = start - (start % pmd); va < end; va += pmd) {
      const vlo = va >>> 0;
      const vhi = vaHigh(va, vlo);
      const e4 = (mm.rootPa + levelIndexOf(vlo, vhi, 4) * 8) >>> 2;
      if ((u[e4] & P) === 0) continue;
      const pdpt = this.nextTable(u[e4], u[e4 + 1]);
      const e3 = (pdpt + levelIndexOf(vlo, vhi, 3) * 8) >>> 2;
      if ((u[e3] & P) === 0 || (u[e3] & PS) !== 0) continue;
      const pd = this.nextTable(u[e3], u[e3 + 1]);
      const e2 = (pd + levelIndexOf(vlo, vhi, 2) * 8) >>> 2;
      if ((u[e2] & P) !== 0 && (u[e2] & PS) === 0) {
        const pt = this.nextTable(u[e2], u[e2 + 1]);
        if (this.emptyTable(pt)) {
          u[e2] = 0;
          u[e2 + 1] = 0;
          this.freeTable(pt / PAGE_SIZE);
          freed++;
        }
      }
      // The PD once the last 2 MiB it covers inside the range is done.
      const pudEnd = va - (va % pud) + pud;
      if ((va + pmd >= end || va + pmd >= pudEnd) && this.emptyTable(pd)) {
        u[e3] = 0;
        u[e3 + 1] = 0;
        this.freeTable(pd / PAGE_SIZE);
        freed++;
      }
    }
    return freed;
  }
}
