import {
  type Cpu,
  FAULT,
  type LeafMemo,
  type Mm,
  PAGE_SIZE,
  PG,
  type PageTableOps,
  type PhysMem,
  type PteProt,
  TLBF,
  type WalkResult,
} from '@prmem/core';
import {
  leafSize,
  MT_NORMAL,
  OA_HI_MASK,
  OA_LO_MASK,
  outputAddress,
  paHi,
  S1,
  S1_HI,
  SH_INNER,
  tableIndex,
} from './descriptors.js';
import { KERNEL_HALF } from './layout.js';
import { S2P, type Stage2 } from './stage2.js';

/** Index into a level-`level` table of the VA whose u32 halves are `vlo`, `vhi` (bits 39–47, 30–38, 21–29, 12–20). */
function indexOf(vlo: number, vhi: number, level: number): number {
  if (level === 3) return (vlo >>> 12) & 511;
  if (level === 2) return (vlo >>> 21) & 511;
  if (level === 1) return ((vlo >>> 30) | ((vhi & 0x7f) << 2)) & 511;
  return (vhi >>> 7) & 511;
}

/** The offset bits of a 4 KiB page (a local constant: V8 folds it, docs/decisions.md §10). */
const PAGE_MASK = 0xfff;

/** Arch-private TLBF bits (core reserves bits below 1 << 12). */
export const A64F = {
  /** Stage 1 alone would allow an EL1 write (AP[2] clear, or DBM set: writable-clean). */
  S1W: 1 << 12,
  /** Stage 1 alone would allow EL1 execution. */
  S1X: 1 << 13,
  /** Stage 2 denies writes to the frame (S2AP = 01). */
  S2RO: 1 << 14,
  /**
   * Stage 2 gives no access to the output address (no mapping, AF clear, or S2AP = 00).
   * The walk still returns the stage-1 attributes, so checkAccess takes a stage-1
   * permission fault first, as AArch64.FullTranslate does; such an entry never fills the TLB.
   */
  S2NONE: 1 << 15,
} as const;

/** Where the last failed walk stopped (Stage1's diagnosis, for fault records). */
export interface WalkDiag {
  /** 1 or 2: the stage whose lookup faulted. */
  stage: number;
  /** ARM level (0–3) of the lookup that faulted (stage 2: its own level). */
  level: number;
  /** The stage-2 fault was on a stage-1 table's descriptor fetch. */
  s1ptw: boolean;
  /** The IPA stage 2 was asked about. */
  ipa: number;
  /** Stage 2's S2_FAULT kind, when stage 2 faulted. */
  s2Kind: number;
}

const VALID_TABLE = S1.VALID | S1.TABLE;

/**
 * The TLBF flags an EL1 access sees for a stage-1 leaf (lo, hi) over a frame with stage-2
 * permissions `s2`: the combined result the TLB caches. TCR_EL1.HD = 1, so DBM makes a
 * read-only-looking entry writable-clean (the hardware clears AP[2] on the first write).
 */
export function combineFlags(lo: number, hi: number, s2: number): number {
  const ap2 = (lo & S1.AP2) !== 0;
  const ap1 = (lo & S1.AP1) !== 0;
  const s1w = !ap2 || (hi & S1_HI.DBM) !== 0;
  // EL1 never executes PXN pages nor pages EL0 can write (AP[2:1] = 01).
  const s1x = (hi & S1_HI.PXN) === 0 && !(ap1 && !ap2);
  const s2w = (s2 & S2P.W) !== 0;
  return (
    TLBF.R |
    (s1w && s2w ? TLBF.W : 0) |
    (ap2 ? 0 : TLBF.D) |
    (ap1 ? TLBF.U : 0) |
    ((lo & S1.NG) === 0 ? TLBF.G : 0) |
    (s1x && (s2 & S2P.X) !== 0 ? TLBF.X : 0) |
    (s1w ? A64F.S1W : 0) |
    (s1x ? A64F.S1X : 0) |
    (s2w ? 0 : A64F.S2RO)
  );
}

/** The stage-1 leaf descriptor halves Linux would write for `prot` (PAGE_KERNEL & co). */
export function encodeLeaf(pa: number, prot: PteProt): [number, number] {
  return [leafLo(pa, prot), leafHi(pa, prot)];
}

/** `encodeLeaf`'s low word (no tuple: a map on the write-rare path allocates nothing). */
function leafLo(pa: number, prot: PteProt): number {
  const user = prot.user === true;
  // `pa >>> 0`: bits 0-31 of a non-negative address (what `% 2 ** 32` gave, without a float modulo).
  return (
    (((pa >>> 0) & ~0xfff) |
      VALID_TABLE |
      (MT_NORMAL << S1.ATTRINDX_SHIFT) |
      (user ? S1.AP1 : 0) |
      (prot.write ? 0 : S1.AP2) |
      (SH_INNER << S1.SH_SHIFT) |
      S1.AF |
      (prot.global ? 0 : S1.NG)) >>>
    0
  );
}

/** `encodeLeaf`'s high word. */
function leafHi(pa: number, prot: PteProt): number {
  const user = prot.user === true;
  return (
    (paHi(pa) |
      // PTE_WRITE is DBM on arm64 Linux: writable entries carry it.
      (prot.write ? S1_HI.DBM : 0) |
      (prot.exec && !user ? 0 : S1_HI.PXN) |
      (prot.exec && user ? 0 : S1_HI.UXN)) >>>
    0
  );
}

/** Where the arch's walker finds the tables: TTBR1 for the kernel half, TTBR0 otherwise. */
export interface TableRoots {
  /** TTBR1_EL1: the kernel's table. */
  ttbr1(): number;
  /** TTBR0_EL1 base of an mm (the kernel mm's is an empty table). */
  ttbr0(mm: Mm): number;
  /** Stage 2, once EL2 has built it (undefined while the kernel boots with stage 2 off). */
  stage2(): Stage2 | undefined;
  /** Marks a freshly allocated frame as a stage-1 table of `mm`. */
  allocTable(mm: Mm): number;
}

/**
 * The stage-1 tables (4 KiB granule, 4 levels, 48-bit VA) and the MMU's two-stage walk.
 * Every stage-1 table address is an IPA that is itself checked and translated by stage 2.
 */
export class Stage1 implements PageTableOps {
  readonly levels = 4;
  private readonly u32: Uint32Array;

  constructor(
    private readonly phys: PhysMem,
    private readonly roots: TableRoots,
  ) {
    this.u32 = phys.u32;
  }

  private rootFor(mm: Mm, va: number): number {
    return va >= KERNEL_HALF ? this.roots.ttbr1() : this.roots.ttbr0(mm);
  }

  /** The level-3 descriptor's PA for `va`, allocating tables if asked; -1 if absent. */
  private leafEntry(mm: Mm, va: number, alloc: boolean): number {
    const u32 = this.u32;
    // The VA's u32 halves once: each level's index is then shifts (no float division).
    const vlo = va >>> 0;
    const vhi = (va - vlo) / 4_294_967_296;
    // Tables as word indices into the u32 view: a descriptor's low word over 4, exactly
    // what `(table + index * 8) >>> 2` read (the model's memory ends below 4 GiB).
    let tw = this.rootFor(mm, va) >>> 2;
    for (let level = 0; level < 3; level++) {
      const w = tw + indexOf(vlo, vhi, level) * 2;
      let lo = u32[w];
      if ((lo & S1.VALID) === 0) {
        if (!alloc) return -1;
        const next = this.roots.allocTable(mm);
        lo = ((next % 2 ** 32) | VALID_TABLE) >>> 0;
        u32[w] = lo;
        u32[w + 1] = paHi(next);
      } else if ((lo & S1.TABLE) === 0) {
        // A block: no level-3 entry exists. The model never creates blocks.
        return -1;
      }
      tw = (lo & OA_LO_MASK) >>> 2;
    }
    return (tw + indexOf(vlo, vhi, 3) * 2) * 4;
  }

  map(mm: Mm, va: number, pa: number, prot: PteProt): number {
    this.mapPte(mm, va, pa, prot);
    return 1;
  }

  /**
   * `map`, returning the PA of the leaf descriptor it wrote: the pte pointer text_poke
   * keeps (get_locked_pte) to clear the alias with `clearPte`, without a second walk.
   */
  mapPte(mm: Mm, va: number, pa: number, prot: PteProt): number {
    const e = this.leafEntry(mm, va, true);
    const w = e >>> 2;
    this.u32[w] = leafLo(pa, prot);
    this.u32[w + 1] = leafHi(pa, prot);
    return e;
  }

  /** pte_clear() of the leaf descriptor at PA `e` (one `mapPte` returned). */
  clearPte(e: number): void {
    const w = e >>> 2;
    this.u32[w] = 0;
    this.u32[w + 1] = 0;
  }

  /**
   * A block descriptor (bits[1:0] = 01) at ARM level 1 (1 GiB) or 2 (2 MiB), as
   * map_mem() builds the linear map when page granularity is not forced. Returns PTE writes.
   */
  mapBlock(mm: Mm, va: number, pa: number, level: 1 | 2, prot: PteProt): number {
    const u32 = this.u32;
    let table = this.rootFor(mm, va);
    let writes = 1;
    for (let l = 0; l < level; l++) {
      const w = (table + tableIndex(va, l) * 8) >>> 2;
      if ((u32[w] & S1.VALID) === 0) {
        const next = this.roots.allocTable(mm);
        u32[w] = ((next % 2 ** 32) | VALID_TABLE) >>> 0;
        u32[w + 1] = paHi(next);
        writes++;
      }
      table = outputAddress(u32[w], u32[w + 1]);
    }
    const [lo, hi] = encodeLeaf(pa, prot);
    const w = (table + tableIndex(va, level) * 8) >>> 2;
    u32[w] = (lo & ~S1.TABLE) >>> 0;
    u32[w + 1] = hi;
    return writes;
  }

  /** The ARM level (1, 2) of the block mapping `va`, or 0 if `va` is not in a block. */
  blockLevel(mm: Mm, va: number): number {
    const u32 = this.u32;
    let table = this.rootFor(mm, va);
    for (let level = 0; level < 3; level++) {
      const w = (table + tableIndex(va, level) * 8) >>> 2;
      if ((u32[w] & S1.VALID) === 0) return 0;
      if ((u32[w] & S1.TABLE) === 0) return level;
      table = outputAddress(u32[w], u32[w + 1]);
    }
    return 0;
  }

  /**
   * Splits the block covering `va` one level down (a 1 GiB block into 2 MiB blocks, a
   * 2 MiB block into pages) with the same output range and attributes, and points the old
   * descriptor at the new table. Without break-before-make this is only allowed on a CPU
   * with FEAT_BBM level 2 (the caller's check). Returns the PTE writes (513), 0 if no block.
   */
  splitBlock(mm: Mm, va: number): number {
    const level = this.blockLevel(mm, va);
    if (level === 0) return 0;
    const u32 = this.u32;
    let table = this.rootFor(mm, va);
    for (let l = 0; l < level; l++) {
      const w = (table + tableIndex(va, l) * 8) >>> 2;
      table = outputAddress(u32[w], u32[w + 1]);
    }
    const w = (table + tableIndex(va, level) * 8) >>> 2;
    const lo = u32[w];
    const hi = u32[w + 1];
    const size = leafSize(level);
    const sub = leafSize(level + 1);
    const oa = outputAddress(lo, hi);
    const base = oa - (oa % size);
    const attrLo = (lo & 0xfff & ~S1.TABLE) >>> 0;
    const attrHi = (hi & ~0xffff) >>> 0;
    const next = this.roots.allocTable(mm);
    for (let i = 0; i < 512; i++) {
      const pa = base + i * sub;
      const e = (next >>> 2) + i * 2;
      // Level 3 entries are pages (bit 1 set); level 2 ones stay blocks.
      u32[e] = ((pa % 2 ** 32) | attrLo | (level + 1 === 3 ? S1.TABLE : 0)) >>> 0;
      u32[e + 1] = (paHi(pa) | attrHi) >>> 0;
    }
    u32[w] = ((next % 2 ** 32) | VALID_TABLE) >>> 0;
    u32[w + 1] = paHi(next);
    return 513;
  }

  unmap(mm: Mm, va: number): boolean {
    const e = this.leafEntry(mm, va, false);
    if (e < 0 || (this.u32[e >>> 2] & S1.VALID) === 0) return false;
    this.u32[e >>> 2] = 0;
    this.u32[(e >>> 2) + 1] = 0;
    return true;
  }

  protect(mm: Mm, va: number, prot: PteProt): boolean {
    const e = this.leafEntry(mm, va, false);
    if (e < 0 || (this.u32[e >>> 2] & S1.VALID) === 0) return false;
    const pa = outputAddress(this.u32[e >>> 2], this.u32[(e >>> 2) + 1]);
    // Permission-only changes need no break-before-make on arm64.
    const [lo, hi] = encodeLeaf(pa, prot);
    this.u32[e >>> 2] = lo;
    this.u32[(e >>> 2) + 1] = hi;
    return true;
  }

  lookup(mm: Mm, va: number, out: WalkResult): boolean {
    out.va = va;
    const f = this.resolve(mm, false, false, out);
    if (f === FAULT.NOT_PRESENT) return false;
    out.fault = f;
    return true;
  }

  walk(_cpu: Cpu, mm: Mm, write: boolean, out: WalkResult): number {
    return this.resolve(mm, write, true, out);
  }

  /**
   * The two-stage walk. `hw`: the MMU's walk (sets AF, and for a write through a
   * writable-clean entry clears AP[2], as FEAT_HAFDBS does); otherwise a software walk
   * that changes nothing. Allocates nothing.
   *
   * Fault priority is AArch64.FullTranslate's: every stage-1 table address is an IPA that
   * stage 2 translates first (a fault there is a stage-2 fault on the walk, S1PTW); the
   * stage-1 leaf's own permission check comes before stage 2 looks at the output address,
   * so a hardware walk whose output address stage 2 refuses returns the stage-1 flags
   * with A64F.S2NONE and lets checkAccess decide which stage faults.
   */
  private resolve(mm: Mm, write: boolean, hw: boolean, out: WalkResult): number {
    const u32 = this.u32;
    const s2 = this.roots.stage2();
    // The VA travels in `out` (core's rule: no boxed numbers as arguments on a miss).
    const va = out.va;
    // The VA as two u32 halves, once: a bitwise op on a double above 2^31 is a slow
    // truncation, and the walk would do several per level.
    const vlo = va >>> 0;
    const vhi = (va - vlo) / 4_294_967_296;
    let table = va >= KERNEL_HALF ? this.roots.ttbr1() : this.roots.ttbr0(mm);
    for (let level = 0; level <= 3; level++) {
      // Each table read is an access to an IPA, translated and checked by stage 2.
      if (s2 !== undefined) {
        s2.ipa = table;
        if ((s2.perm() & S2P.R) === 0) {
          this.note(2, s2.lastLevel, true, table, s2.lastKind);
          return this.fail(out, FAULT.STAGE2, table);
        }
        table = s2.lastPa;
      }
      const e = table + indexOf(vlo, vhi, level) * 8;
      const w = e >>> 2;
      let lo = u32[w];
      const hi = u32[w + 1];
      if ((lo & S1.VALID) === 0) {
        this.note(1, level, false, 0, 0);
        return this.fail(out, FAULT.NOT_PRESENT, e);
      }
      const isTable = (lo & S1.TABLE) !== 0;
      if (level < 3 && isTable) {
        table = outputAddress(lo, hi);
        continue;
      }
      // Level-0 blocks and level-3 descriptors with bit 1 clear are reserved: translation fault.
      if (level === 0 || (level === 3 && !isTable)) {
        this.note(1, level, false, 0, 0);
        return this.fail(out, FAULT.NOT_PRESENT, e);
      }
      this.leafLevel = level;
      // Offsets by `&`: levels 1–3 span at most 2^30 (no float modulo on every walk).
      const off = leafSize(level) - 1;
      const base = outputAddress(lo, hi);
      const ipa = base - (lo & OA_LO_MASK & off) + ((vlo & off) - (vlo & PAGE_MASK));
      let perm = S2P.R | S2P.W | S2P.X;
      let pa = ipa;
      let s2none = 0;
      let outLevel = 4 - level;
      if (s2 !== undefined) {
        s2.ipa = ipa;
        perm = s2.perm();
        if ((perm & S2P.R) === 0) {
          this.note(2, s2.lastLevel, false, ipa, s2.lastKind);
          perm = 0;
          s2none = A64F.S2NONE;
          if (!hw) {
            out.pa = ipa;
            return this.fail(out, FAULT.STAGE2, e);
          }
        } else {
          pa = s2.lastPa;
          // The TLB caches the smaller of the two stages' mappings.
          if (4 - s2.lastLevel < outLevel) outLevel = 4 - s2.lastLevel;
        }
      }
      if (hw && s2none === 0) {
        let nlo = lo | S1.AF;
        // Hardware dirty-state update, only for a write stage 2 will let through.
        if (write && (nlo & S1.AP2) !== 0 && (hi & S1_HI.DBM) !== 0 && (perm & S2P.W) !== 0)
          nlo &= ~S1.AP2;
        if (nlo !== lo) {
          lo = nlo >>> 0;
          u32[w] = lo;
        }
      }
      out.pa = pa;
      out.flags = combineFlags(lo, hi, perm) | s2none;
      out.level = outLevel;
      out.leafPa = e;
      out.fault = 0;
      return 0;
    }
    return this.fail(out, FAULT.NOT_PRESENT, table);
  }

  /** ARM level (1–3) of the stage-1 leaf the last successful walk used. */
  leafLevel = 3;
  /** Where the last failed walk stopped (cold: written only on a failure). */
  readonly diag: WalkDiag = { stage: 1, level: 0, s1ptw: false, ipa: 0, s2Kind: 0 };

  private note(stage: number, level: number, s1ptw: boolean, ipa: number, s2Kind: number): void {
    const d = this.diag;
    d.stage = stage;
    d.level = level;
    d.s1ptw = s1ptw;
    d.ipa = ipa;
    d.s2Kind = s2Kind;
  }

  private fail(out: WalkResult, code: number, at: number): number {
    out.fault = code;
    out.leafPa = at;
    out.flags = 0;
    return code;
  }

  forEachLeaf(
    mm: Mm,
    fn: (va: number, pa: number, flags: number, level: number) => void,
    frameMask = 0,
    memo?: LeafMemo,
  ): void {
    const s2 = this.roots.stage2();
    if (frameMask !== 0) {
      const mo = memo?.frameMask === frameMask ? memo : undefined;
      this.scanMasked(this.roots.ttbr0(mm), 0, 0, s2, fn, frameMask, mo);
      if (mm.kind === 'kernel') this.scanMasked(this.roots.ttbr1(), 0, 0, s2, fn, frameMask, mo);
      return;
    }
    const rec = (table: number, level: number, base: number) => {
      for (let i = 0; i < 512; i++) {
        const w = (table + i * 8) >>> 2;
        const lo = this.u32[w];
        if ((lo & S1.VALID) === 0) continue;
        const hi = this.u32[w + 1];
        const va = base + i * leafSize(level);
        if (level < 3 && (lo & S1.TABLE) !== 0) {
          rec(outputAddress(lo, hi), level + 1, va);
          continue;
        }
        if (level === 0 || (level === 3 && (lo & S1.TABLE) === 0)) continue;
        const pa = outputAddress(lo, hi);
        let perm = S2P.R | S2P.W | S2P.X;
        if (s2) {
          s2.ipa = pa;
          perm = s2.perm();
          if (level < 3 && s2.lastLevel === 3) {
            // A block over page-granular stage 2: the translations are per page.
            for (let off = 0; off < leafSize(level); off += PAGE_SIZE) {
              s2.ipa = pa + off;
              const p = s2.perm();
              fn(va + off, pa + off, (p & S2P.R) === 0 ? 0 : combineFlags(lo, hi, p), 1);
            }
            continue;
          }
        }
        fn(va, pa, (perm & S2P.R) === 0 ? 0 : combineFlags(lo, hi, perm), 4 - level);
      }
    };
    for (const root of this.rootsOf(mm)) rec(root, 0, 0);
  }

  /**
   * The walk of `forEachLeaf` for the audit: only leaves with a frame flag of `mask`, read
   * before the stage-2 walk. Word indexes into the table and no closure: nearly every
   * entry is invalid or maps unprotected memory, and those cost a load and a test or two.
   * It reads what the plain walk reads, including a table address above 4 GiB taken modulo
   * 2^32 as its `>>> 2` does (the audit may over-report there, never miss).
   */
  private scanMasked(
    table: number,
    level: number,
    base: number,
    s2: Stage2 | undefined,
    fn: (va: number, pa: number, flags: number, level: number) => void,
    mask: number,
    memo?: LeafMemo,
  ): void {
    const u = this.u32;
    const w0 = table >>> 2;
    // Tables are page-aligned and memory is whole pages: all of it is in memory or none.
    if (w0 >= u.length) return;
    const phys = this.phys;
    const frameFlags = phys.frameFlags;
    const frames = phys.frameCount;
    const span = leafSize(level);
    // Imported constants in locals: each use of an imported binding is a module-cell load.
    const valid = S1.VALID;
    const tableBit = S1.TABLE;
    const oaHi = OA_HI_MASK;
    // With a memo: an unchanged table is visited at the slots its last scan picked. The
    // picks are the stage-1 side only; stage 2 is asked again for each leaf below.
    const cached = memo?.slotsOf(w0 * 4, level, PAGE_SIZE);
    const picks = cached === undefined ? memo?.pickBuffer(level, 512) : undefined;
    let picked = 0;
    const n = cached === undefined ? 512 : cached.length;
    for (let k = 0; k < n; k++) {
      const i = cached === undefined ? k : cached[k];
      const w = w0 + 2 * i;
      const lo = u[w];
      if ((lo & valid) === 0) continue;
      const hi = u[w + 1];
      if (level < 3 && (lo & tableBit) !== 0) {
        if (picks !== undefined) picks[picked++] = i;
        this.scanMasked(outputAddress(lo, hi), level + 1, base + i * span, s2, fn, mask, memo);
        continue;
      }
      if (level === 0 || (level === 3 && (lo & tableBit) === 0)) continue;
      if (level === 3) {
        // Memory ends below 4 GiB: an output address with high bits has no frame flags.
        if ((hi & oaHi) !== 0) continue;
        const pfn = lo >>> 12;
        if (pfn >= frames || (frameFlags[pfn] & mask) === 0) continue;
      } else if (!phys.anyFrameFlag(outputAddress(lo, hi), span, mask)) continue;
      if (picks !== undefined) picks[picked++] = i;
      this.leafWithStage2(base + i * span, outputAddress(lo, hi), lo, hi, level, s2, fn, mask);
    }
    if (picks !== undefined) memo?.keepSlots(w0 * 4, level, PAGE_SIZE, picks, picked);
  }

  /** One stage-1 leaf of frames the mask wants: its stage-2 permissions, per page if need be. */
  private leafWithStage2(
    va: number,
    pa: number,
    lo: number,
    hi: number,
    level: number,
    s2: Stage2 | undefined,
    fn: (va: number, pa: number, flags: number, level: number) => void,
    mask: number,
  ): void {
    let perm = S2P.R | S2P.W | S2P.X;
    if (s2) {
      s2.ipa = pa;
      perm = s2.perm();
      if (level < 3 && s2.lastLevel === 3) {
        // A block over page-granular stage 2: the translations are per page.
        for (let off = 0; off < leafSize(level); off += PAGE_SIZE) {
          if (!this.phys.anyFrameFlag(pa + off, PAGE_SIZE, mask)) continue;
          s2.ipa = pa + off;
          const p = s2.perm();
          fn(va + off, pa + off, (p & S2P.R) === 0 ? 0 : combineFlags(lo, hi, p), 1);
        }
        return;
      }
    }
    fn(va, pa, (perm & S2P.R) === 0 ? 0 : combineFlags(lo, hi, perm), 4 - level);
  }

  tableFrames(mm: Mm): number[] {
    const out: number[] = [];
    const rec = (table: number, level: number) => {
      out.push(table / PAGE_SIZE);
      if (level === 3) return;
      for (let i = 0; i < 512; i++) {
        const w = (table + i * 8) >>> 2;
        if ((this.u32[w] & VALID_TABLE) === VALID_TABLE)
          rec(outputAddress(this.u32[w], this.u32[w + 1]), level + 1);
      }
    };
    for (const root of this.rootsOf(mm)) rec(root, 0);
    return out;
  }

  private freeTable(pa: number): void {
    const pfn = pa / PAGE_SIZE;
    this.phys.frameFlags[pfn] &= ~PG.PAGETABLE;
    this.phys.freeFrame(pfn);
  }

  private emptyTable(t: number): boolean {
    const w = t >>> 2;
    for (let i = 0; i < 1024; i++) if (this.u32[w + i] !== 0) return false;
    return true;
  }

  /**
   * free_pgd_range() for [start, end): level-3 and level-2 tables left empty are freed
   * and their descriptors cleared (level-1 tables, under the root, stay).
   */
  pruneTables(mm: Mm, start: number, end: number): number {
    const u32 = this.u32;
    const pmd = 2 ** 21;
    const pud = 2 ** 30;
    let freed = 0;
    for (let va = start - (start % pmd); va < end; va += pmd) {
      const path: number[] = [];
      let table = this.rootFor(mm, va);
      let ok = true;
      for (let level = 0; level < 3 && ok; level++) {
        const w = (table + tableIndex(va, level) * 8) >>> 2;
        if ((u32[w] & VALID_TABLE) !== VALID_TABLE) ok = false;
        else {
          path.push(w);
          table = outputAddress(u32[w], u32[w + 1]);
        }
      }
      if (ok && this.emptyTable(table)) {
        u32[path[2]] = 0;
        u32[path[2] + 1] = 0;
        this.freeTable(table);
        freed++;
      }
      if (path.length < 2) continue;
      const l2 = outputAddress(u32[path[1]], u32[path[1] + 1]);
      const pudEnd = va - (va % pud) + pud;
      if ((va + pmd >= end || va + pmd >= pudEnd) && this.emptyTable(l2)) {
        u32[path[1]] = 0;
        u32[path[1] + 1] = 0;
        this.freeTable(l2);
        freed++;
      }
    }
    return freed;
  }

  /** Frees an mm's TTBR0 tables below its root (the kernel half is never the mm's own). */
  destroy(mm: Mm): void {
    if (mm.kind === 'kernel') return;
    const root = this.roots.ttbr0(mm);
    for (const pfn of this.tableFrames(mm)) {
      if (pfn * PAGE_SIZE === root) continue;
      this.phys.frameFlags[pfn] &= ~PG.PAGETABLE;
      this.phys.freeFrame(pfn);
    }
    this.phys.bytes.fill(0, root, root + PAGE_SIZE);
  }

  /** The tables an mm owns: the kernel mm its TTBR0 (empty) and TTBR1; others their TTBR0. */
  private rootsOf(mm: Mm): number[] {
    return mm.kind === 'kernel'
      ? [this.roots.ttbr0(mm), this.roots.ttbr1()]
      : [this.roots.ttbr0(mm)];
  }
}
