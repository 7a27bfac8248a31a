import {
  BadAddressError,
  type Cpu,
  FAULT,
  InvalidArgumentError,
  type LeafMemo,
  type Machine,
  type Mm,
  PAGE_SIZE,
  type PageTableOps,
  PG,
  type PteProt,
  TLBF,
  type WalkResult,
} from '@prmem/core';
import {
  AP_FULL,
  AP_PRIV_ONLY,
  AP_USER_RO,
  DACR_DEFAULT,
  DOMAIN_KERNEL,
  DOMAIN_USER,
  L_PTE_DIRTY,
  L_PTE_MT_WRITEALLOC,
  L_PTE_PRESENT,
  L_PTE_RDONLY,
  L_PTE_SHARED,
  L_PTE_USER,
  L_PTE_XN,
  L_PTE_YOUNG,
  L1_BIT4,
  L1_COARSE_BASE_MASK,
  L1_DOMAIN_SHIFT,
  L1_ENTRIES,
  L1_TYPE_COARSE,
  L1_TYPE_FAULT,
  L1_TYPE_MASK,
  L1_TYPE_SECTION,
  LPTE_BASE_MASK,
  LPTE_XN,
  PTE_AP_SHIFT,
  PTE_APX,
  PTE_BASE_MASK,
  PTE_HWTABLE_OFF,
  PTE_MT_WBWA,
  PTE_NG,
  PTE_SMALL,
  PTE_XN,
  SECT_AP_SHIFT,
  SECT_APX,
  SECT_BASE_MASK,
  SECT_NG,
  SECT_SUPER,
  SECT_XN,
} from './descriptors.js';
import { AliasRefusedError } from './errors.js';
import { TASK_SIZE, VA32_LIMIT } from './layout.js';
import type { FrameMapCount } from './rmap.js';

/** L1 index of the first kernel-half entry (shared by every mm). */
export const KERNEL_L1_FIRST = TASK_SIZE / 2 ** 20;

export interface AliasPolicy {
  readonly allowAliases: boolean;
  /** Before boot() the static sections may take their frames from the direct map. */
  booting(): boolean;
  /** TLBF bits every translation gets (SLOW_R|SLOW_W when the cache model runs). */
  readonly extraFlags: number;
}

/**
 * TLBF flags of a permission encoding (APX, AP[1:0]) with XN and nG. ARMv6 has no hardware
 * access or dirty flag, so the walk writes nothing and every entry counts as dirty.
 */
export function permFlags(apx: boolean, ap: number, xn: boolean, ng: boolean): number {
  let f = TLBF.D;
  // AP = 00 is "no access" (with APX: reserved): a valid entry that faults on any access.
  if (ap !== 0) {
    f |= TLBF.R;
    if (!apx) f |= TLBF.W;
    if (ap >= AP_USER_RO) f |= TLBF.U;
  }
  if (!xn) f |= TLBF.X;
  if (!ng) f |= TLBF.G;
  return f;
}

/**
 * The ARMv6 two-level short-descriptor tables, with Linux's packing of L2 tables and the
 * reverse map that lets the MMU model refuse aliases. Counts nothing.
 */
export class ShortDescriptorTables implements PageTableOps {
  readonly levels = 2;
  private readonly u32: Uint32Array;

  constructor(
    private readonly m: Machine,
    readonly rmap: FrameMapCount,
    private readonly policy: AliasPolicy,
  ) {
    this.u32 = m.phys.u32;
  }

  // ---- encoding ----------------------------------------------------------------------

  /** The hardware small-page descriptor for a mapping (what armv6_set_pte_ext writes). */
  static hwPte(pa: number, prot: PteProt): number {
    let ap: number;
    let apx = 0;
    if (prot.user) {
      ap = prot.write ? AP_FULL : AP_USER_RO;
      if (!prot.write) apx = PTE_APX;
    } else {
      ap = AP_PRIV_ONLY;
      if (!prot.write) apx = PTE_APX;
    }
    return (
      (pa |
        PTE_SMALL |
        PTE_MT_WBWA |
        (ap << PTE_AP_SHIFT) |
        apx |
        (prot.exec ? 0 : PTE_XN) |
        (prot.global ? 0 : PTE_NG)) >>>
      0
    );
  }

  /** The Linux software PTE stored 2 KiB below the hardware one. */
  static linuxPte(pa: number, prot: PteProt): number {
    return (
      (pa |
        L_PTE_PRESENT |
        L_PTE_YOUNG |
        L_PTE_DIRTY |
        L_PTE_MT_WRITEALLOC |
        L_PTE_SHARED |
        (prot.write ? 0 : L_PTE_RDONLY) |
        (prot.user ? L_PTE_USER : 0) |
        (prot.exec ? 0 : L_PTE_XN)) >>>
      0
    );
  }

  // ---- helpers -----------------------------------------------------------------------

  private checkVa(va: number): void {
    if (typeof va !== 'number' || !Number.isInteger(va) || va < 0 || va >= VA32_LIMIT)
      throw new BadAddressError(va, 'ARMv6 virtual addresses are 32-bit');
    // `&`: exact for the integer below 2^32 just checked, and no float modulo (kernel VAs
    // are above 2^31) on every PTE change.
    if ((va & 0xfff) !== 0) throw new InvalidArgumentError('va', va, 'must be page-aligned');
  }

  private checkHalf(mm: Mm, va: number): void {
    if (mm.kind === 'kernel' && va < TASK_SIZE)
      throw new BadAddressError(va, 'init_mm maps only the kernel half (>= TASK_SIZE)');
    if (mm.kind !== 'kernel' && va >= TASK_SIZE)
      throw new BadAddressError(va, 'the kernel half is shared from init_mm; map it there');
  }

  private l1(mm: Mm, va: number): number {
    return this.u32[(mm.rootPa >>> 2) + (va >>> 20)];
  }

  /** Physical address of the hardware PTE for `va`, or -1 if no coarse table covers it. */
  private ptePa(mm: Mm, va: number): number {
    if (!(va >= 0 && va < VA32_LIMIT)) return -1;
    const d = this.l1(mm, va);
    if ((d & L1_TYPE_MASK) !== L1_TYPE_COARSE) return -1;
    return ((d & L1_COARSE_BASE_MASK) >>> 0) + ((va >>> 12) & 0xff) * 4;
  }

  /** Writes the pair of L1 entries for a fresh L2 page, in `mm` and (kernel half) every mm. */
  private populate(mm: Mm, va: number): void {
    const pfn = this.m.phys.allocFrame(mm.id);
    this.m.phys.frameFlags[pfn] |= PG.PAGETABLE;
    const page = pfn * PAGE_SIZE;
    const domain = va >= TASK_SIZE ? DOMAIN_KERNEL : DOMAIN_USER;
    const desc = (off: number) =>
      ((page + PTE_HWTABLE_OFF + off) | L1_BIT4 | (domain << L1_DOMAIN_SHIFT) | L1_TYPE_COARSE) >>>
      0;
    const even = (va >>> 21) * 2;
    const targets = va >= TASK_SIZE ? this.m.mms.filter((x) => x !== mm).concat(mm) : [mm];
    // Linux syncs other pgds lazily (do_translation_fault copies init_mm's entry); the
    // model copies at once, which gives every access the same result without the fault.
    for (const t of targets) {
      this.u32[(t.rootPa >>> 2) + even] = desc(0);
      this.u32[(t.rootPa >>> 2) + even + 1] = desc(1024);
    }
  }

  // ---- PageTableOps ------------------------------------------------------------------

  map(mm: Mm, va: number, pa: number, prot: PteProt): number {
    this.checkVa(va);
    this.checkHalf(mm, va);
    if (!Number.isInteger(pa) || pa < 0 || pa >= this.m.phys.size || pa % PAGE_SIZE !== 0)
      throw new InvalidArgumentError('pa', pa, 'must be a page-aligned physical address');
    const pfn = pa / PAGE_SIZE;
    const d = this.l1(mm, va);
    const type = d & L1_TYPE_MASK;
    if (type !== L1_TYPE_FAULT && type !== L1_TYPE_COARSE)
      throw new InvalidArgumentError('va', va, 'lies inside a section mapping');
    let e = this.ptePa(mm, va);
    let oldPfn = -1;
    if (e >= 0 && (this.u32[e >>> 2] & PTE_SMALL) !== 0)
      oldPfn = (this.u32[e >>> 2] & PTE_BASE_MASK) >>> 12;
    if (oldPfn !== pfn && this.rmap.count[pfn] > 0 && !this.policy.allowAliases) {
      const existing = this.rmap.firstVa[pfn];
      const direct = this.m.layout.directMap + pa;
      if (this.policy.booting() && mm.kind === 'kernel' && existing === direct) {
        // A static section takes its frame out of the direct map before any CPU ran.
        this.unmap(mm, direct);
        e = this.ptePa(mm, va);
      } else {
        throw new AliasRefusedError(pfn, existing, va);
      }
    }
    let writes = 1;
    if (e < 0) {
      this.populate(mm, va);
      e = this.ptePa(mm, va);
      writes += 2;
    }
    if (oldPfn >= 0 && oldPfn !== pfn) this.rmap.remove(oldPfn, va);
    this.u32[e >>> 2] = ShortDescriptorTables.hwPte(pa, prot);
    this.u32[(e - PTE_HWTABLE_OFF) >>> 2] = ShortDescriptorTables.linuxPte(pa, prot);
    if (oldPfn !== pfn) this.rmap.add(pfn, va);
    return writes;
  }

  unmap(mm: Mm, va: number): boolean {
    this.checkVa(va);
    const e = this.ptePa(mm, va);
    if (e < 0) return false;
    const pte = this.u32[e >>> 2];
    if ((pte & PTE_SMALL) === 0) return false;
    this.u32[e >>> 2] = 0;
    this.u32[(e - PTE_HWTABLE_OFF) >>> 2] = 0;
    this.rmap.remove((pte & PTE_BASE_MASK) >>> 12, va);
    return true;
  }

  protect(mm: Mm, va: number, prot: PteProt): boolean {
    this.checkVa(va);
    const e = this.ptePa(mm, va);
    if (e < 0) return false;
    const pte = this.u32[e >>> 2];
    if ((pte & PTE_SMALL) === 0) return false;
    const pa = (pte & PTE_BASE_MASK) >>> 0;
    this.u32[e >>> 2] = ShortDescriptorTables.hwPte(pa, prot);
    this.u32[(e - PTE_HWTABLE_OFF) >>> 2] = ShortDescriptorTables.linuxPte(pa, prot);
    return true;
  }

  lookup(mm: Mm, va: number, out: WalkResult): boolean {
    out.va = va;
    return this.translate(mm, DACR_DEFAULT, out) === 0;
  }

  walk(cpu: Cpu, mm: Mm, _write: boolean, out: WalkResult): number {
    // ARMv6 has no hardware access/dirty flags: the walk only reads.
    const dacr = cpu.regs.DACR ?? DACR_DEFAULT;
    return this.translate(mm, dacr, out);
  }

  /**
   * The hardware translation of `out.va` (no allocation: the VA travels in `out`, not as
   * an argument): fills `out`, returns a FAULT code.
   */
  private translate(mm: Mm, dacr: number, out: WalkResult): number {
    const va = out.va;
    out.fault = FAULT.NOT_PRESENT;
    if (!(va >= 0 && va < VA32_LIMIT)) return FAULT.NOT_PRESENT;
    const l1Pa = mm.rootPa + (va >>> 20) * 4;
    const d = this.u32[l1Pa >>> 2];
    const type = d & L1_TYPE_MASK;
    if (type === L1_TYPE_FAULT || type === 0x3) return FAULT.NOT_PRESENT;
    const domain = (d >>> L1_DOMAIN_SHIFT) & 0xf;
    let pa: number;
    let flags: number;
    let leaf: number;
    if (type === L1_TYPE_SECTION) {
      if ((d & SECT_SUPER) !== 0) return FAULT.ARCH; // supersections: never created here
      pa = ((d & SECT_BASE_MASK) >>> 0) + (va & 0x000ff000);
      flags = permFlags(
        (d & SECT_APX) !== 0,
        (d >>> SECT_AP_SHIFT) & 3,
        (d & SECT_XN) !== 0,
        (d & SECT_NG) !== 0,
      );
      leaf = l1Pa;
    } else {
      leaf = ((d & L1_COARSE_BASE_MASK) >>> 0) + ((va >>> 12) & 0xff) * 4;
      const p = this.u32[leaf >>> 2];
      if ((p & 3) === 0) return FAULT.NOT_PRESENT;
      const large = (p & 3) === 1;
      pa = large ? ((p & LPTE_BASE_MASK) >>> 0) + (va & 0xf000) : (p & PTE_BASE_MASK) >>> 0;
      flags = permFlags(
        (p & PTE_APX) !== 0,
        (p >>> PTE_AP_SHIFT) & 3,
        large ? (p & LPTE_XN) !== 0 : (p & PTE_XN) !== 0,
        (p & PTE_NG) !== 0,
      );
    }
    const access = (dacr >>> (domain * 2)) & 3;
    if (access === 0 || access === 2) return FAULT.ARCH; // domain fault
    if (access === 3) flags |= TLBF.R | TLBF.W | TLBF.D; // manager: no permission checks
    out.pa = pa;
    out.flags = flags | this.policy.extraFlags;
    out.level = 1;
    out.leafPa = leaf;
    out.fault = 0;
    return 0;
  }

  forEachLeaf(
    mm: Mm,
    fn: (va: number, pa: number, flags: number, level: number) => void,
    frameMask = 0,
    memo?: LeafMemo,
  ): void {
    if (frameMask !== 0) {
      this.scanMasked(mm, fn, frameMask, memo?.frameMask === frameMask ? memo : undefined);
      return;
    }
    const root = mm.rootPa >>> 2;
    const extra = this.policy.extraFlags;
    for (let i = 0; i < L1_ENTRIES; i++) {
      const d = this.u32[root + i];
      const type = d & L1_TYPE_MASK;
      const base = i * 2 ** 20;
      if (type === L1_TYPE_SECTION && (d & SECT_SUPER) === 0) {
        const f =
          permFlags(
            (d & SECT_APX) !== 0,
            (d >>> SECT_AP_SHIFT) & 3,
            (d & SECT_XN) !== 0,
            (d & SECT_NG) !== 0,
          ) | extra;
        const pa = (d & SECT_BASE_MASK) >>> 0;
        for (let j = 0; j < 256; j++) fn(base + j * PAGE_SIZE, pa + j * PAGE_SIZE, f, 1);
      } else if (type === L1_TYPE_COARSE) {
        const t = ((d & L1_COARSE_BASE_MASK) >>> 0) >>> 2;
        for (let j = 0; j < 256; j++) {
          const p = this.u32[t + j];
          if ((p & 3) === 0) continue;
          const large = (p & 3) === 1;
          const va = base + j * PAGE_SIZE;
          const pa = large
            ? ((p & LPTE_BASE_MASK) >>> 0) + (va & 0xf000)
            : (p & PTE_BASE_MASK) >>> 0;
          const f = permFlags(
            (p & PTE_APX) !== 0,
            (p >>> PTE_AP_SHIFT) & 3,
            large ? (p & LPTE_XN) !== 0 : (p & PTE_XN) !== 0,
            (p & PTE_NG) !== 0,
          );
          fn(va, pa, f | extra, 1);
        }
      }
    }
  }

  /**
   * `forEachLeaf` for the audit: only pages whose frame has a flag of `mask`, tested
   * before the flags are decoded. Nearly every section page and small page maps
   * unprotected memory: those cost a load and a test each. With a memo, an L1 entry
   * another mm of the memo had at the same index (the kernel half) replays its leaves.
   */
  private scanMasked(
    mm: Mm,
    fn: (va: number, pa: number, flags: number, level: number) => void,
    mask: number,
    memo: LeafMemo | undefined,
  ): void {
    const u = this.u32;
    const root = mm.rootPa >>> 2;
    const record = (va: number, pa: number, f: number, level: number) => {
      memo?.add(va, pa, f, level);
      fn(va, pa, f, level);
    };
    // Imported constants in locals: each use of an imported binding is a module-cell load.
    const typeMask = L1_TYPE_MASK;
    const section = L1_TYPE_SECTION;
    const coarse = L1_TYPE_COARSE;
    const superSection = SECT_SUPER;
    // With a memo: an unchanged L1 table is visited at the slots its last scan picked.
    const cached = memo?.slotsOf(mm.rootPa, 0, L1_ENTRIES * 4);
    const picks = cached === undefined ? memo?.pickBuffer(0, L1_ENTRIES) : undefined;
    let picked = 0;
    const n = cached === undefined ? L1_ENTRIES : cached.length;
    for (let k = 0; k < n; k++) {
      const i = cached === undefined ? k : cached[k];
      const d = u[root + i];
      const type = d & typeMask;
      if (type === 0 || !((type === section && (d & superSection) === 0) || type === coarse))
        continue;
      if (picks !== undefined) picks[picked++] = i;
      if (memo === undefined) {
        this.scanL1Entry(i, d, fn, mask);
        continue;
      }
      const r = memo.find(i, d, 0);
      if (r >= 0) {
        memo.replay(r, fn);
        continue;
      }
      memo.begin(i, d, 0);
      this.scanL1Entry(i, d, record, mask, memo);
      memo.end();
    }
    if (picks !== undefined) memo?.keepSlots(mm.rootPa, 0, L1_ENTRIES * 4, picks, picked);
  }

  /**
   * The pages of L1 entry `i` (a section or a coarse table) whose frame has a flag of
   * `mask`. Every PA here is page-aligned and below 4 GiB, so its frame is `pa >>> 12`
   * if that is in memory.
   */
  private scanL1Entry(
    i: number,
    d: number,
    fn: (va: number, pa: number, flags: number, level: number) => void,
    mask: number,
    memo?: LeafMemo,
  ): void {
    const u = this.u32;
    const frameFlags = this.m.phys.frameFlags;
    const frames = this.m.phys.frameCount;
    const extra = this.policy.extraFlags;
    const base = i * 2 ** 20;
    if ((d & L1_TYPE_MASK) === L1_TYPE_SECTION) {
      const first = (d >>> 20) << 8;
      const end = Math.min(first + 256, frames);
      for (let pfn = first; pfn < end; pfn++) {
        if ((frameFlags[pfn] & mask) === 0) continue;
        const f =
          permFlags(
            (d & SECT_APX) !== 0,
            (d >>> SECT_AP_SHIFT) & 3,
            (d & SECT_XN) !== 0,
            (d & SECT_NG) !== 0,
          ) | extra;
        fn(base + (pfn - first) * PAGE_SIZE, pfn * PAGE_SIZE, f, 1);
      }
      return;
    }
    const t = ((d & L1_COARSE_BASE_MASK) >>> 0) >>> 2;
    // A table is 1 KiB-aligned and memory is whole pages: all of it is in memory or none.
    if (t >= u.length) return;
    // With a memo: an unchanged table is visited at the slots its last scan picked.
    const cached = memo?.slotsOf(t * 4, 1, 1024);
    const picks = cached === undefined ? memo?.pickBuffer(1, 256) : undefined;
    let picked = 0;
    const n = cached === undefined ? 256 : cached.length;
    for (let k = 0; k < n; k++) {
      const j = cached === undefined ? k : cached[k];
      const p = u[t + j];
      if ((p & 3) === 0) continue;
      const large = (p & 3) === 1;
      const pfn = large ? ((p >>> 16) << 4) + (j & 0xf) : p >>> 12;
      if (pfn >= frames || (frameFlags[pfn] & mask) === 0) continue;
      if (picks !== undefined) picks[picked++] = j;
      const f = permFlags(
        (p & PTE_APX) !== 0,
        (p >>> PTE_AP_SHIFT) & 3,
        large ? (p & LPTE_XN) !== 0 : (p & PTE_XN) !== 0,
        (p & PTE_NG) !== 0,
      );
      fn(base + j * PAGE_SIZE, pfn * PAGE_SIZE, f | extra, 1);
    }
    if (picks !== undefined) memo?.keepSlots(t * 4, 1, 1024, picks, picked);
  }

  tableFrames(mm: Mm): number[] {
    const first = mm.rootPa / PAGE_SIZE;
    const out = [first, first + 1, first + 2, first + 3];
    const seen = new Set<number>();
    const [lo, hi] = mm.kind === 'kernel' ? [KERNEL_L1_FIRST, L1_ENTRIES] : [0, KERNEL_L1_FIRST];
    for (let i = lo; i < hi; i++) {
      const d = this.u32[(mm.rootPa >>> 2) + i];
      if ((d & L1_TYPE_MASK) !== L1_TYPE_COARSE) continue;
      const pfn = Math.floor(((d & L1_COARSE_BASE_MASK) >>> 0) / PAGE_SIZE);
      if (!seen.has(pfn)) {
        seen.add(pfn);
        out.push(pfn);
      }
    }
    return out;
  }

  /**
   * free_pgd_range() for [start, end): an L2 page (two hardware tables, 2 MiB) left with
   * no entry is freed, and its pair of L1 entries cleared — in every mm for the kernel half.
   */
  pruneTables(mm: Mm, start: number, end: number): number {
    const span = 2 * 2 ** 20;
    let freed = 0;
    for (let va = start - (start % span); va < end && va < VA32_LIMIT; va += span) {
      const even = (va >>> 21) * 2;
      const d = this.u32[(mm.rootPa >>> 2) + even];
      if ((d & L1_TYPE_MASK) !== L1_TYPE_COARSE) continue;
      const hw = (d & L1_COARSE_BASE_MASK) >>> 0;
      const pagePa = hw - (hw % PAGE_SIZE);
      const w = pagePa >>> 2;
      let empty = true;
      for (let i = 0; i < PAGE_SIZE / 4 && empty; i++) empty = this.u32[w + i] === 0;
      if (!empty) continue;
      const targets = va >= TASK_SIZE ? this.m.mms : [mm];
      for (const t of targets) {
        const e = (t.rootPa >>> 2) + even;
        if (this.u32[e] !== d) continue;
        this.u32[e] = 0;
        this.u32[e + 1] = 0;
      }
      this.m.phys.frameFlags[pagePa / PAGE_SIZE] &= ~PG.PAGETABLE;
      this.m.phys.freeFrame(pagePa / PAGE_SIZE);
      freed++;
    }
    return freed;
  }

  /** Frees a user mm's L2 pages (and drops their mappings from the reverse map). */
  destroy(mm: Mm): void {
    if (mm.kind === 'kernel') return;
    const root = mm.rootPa >>> 2;
    for (let i = 0; i < KERNEL_L1_FIRST; i += 2) {
      const d = this.u32[root + i];
      if ((d & L1_TYPE_MASK) !== L1_TYPE_COARSE) continue;
      const page = (d & L1_COARSE_BASE_MASK) >>> 0;
      const pagePa = page - (page % PAGE_SIZE);
      for (let j = 0; j < 512; j++) {
        const p = this.u32[((pagePa + PTE_HWTABLE_OFF) >>> 2) + j];
        if ((p & PTE_SMALL) !== 0)
          this.rmap.remove((p & PTE_BASE_MASK) >>> 12, i * 2 ** 20 + j * PAGE_SIZE);
      }
      this.u32[root + i] = 0;
      this.u32[root + i + 1] = 0;
      this.m.phys.freeFrame(pagePa / PAGE_SIZE);
    }
  }
}
