import * as core from '@prmem/core';
import {
  type ArchImpl,
  BadAddressError,
  CpuMutex,
  canonical,
  type Cpu,
  type FaultRecord,
  InvalidArgumentError,
  type Machine,
  OutOfMemoryError,
  type Mm,
  type MmKind,
  MAX_ASID,
  type ProtLevel,
  type Steps,
  WalkResult,
  type WriteRareMechanism,
  loadMm,
} from '@prmem/core';
import * as bits from './bits.js';
import * as constants from './constants.js';
import * as layout from './layout.js';
import {
  createMechanism,
  type MechanismName,
  pluginOf,
  type X86MechanismNeeds,
} from './mech/index.js';
import { X86PageTable } from './pagetable.js';
import { x86Ptdump } from './ptdump.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const {
  ACC_EXEC,
  ACC_WRITE,
  EV,
  FAULT,
  PAGE_SIZE,
  PF_ERR,
  PG,
  TLBF,
  TLBF_PKEY_MASK,
  TLBF_PKEY_SHIFT,
} = core;
const { CR0_WP, pkrsAd, pkrsWd } = bits;
const {
  ALIAS_PROT,
  DEFAULT_CR0,
  DEFAULT_CR4,
  DEFAULT_PKRS,
  FLUSH_CEILING,
  MIRROR_ORIGIN,
  MIRROR_SPAN,
  POKE_SLOT_SIZE,
  WR_PKEY,
} = constants;
const { USER_END } = layout;

const GIB = 2 ** 30;
const MIB2 = 2 ** 21;
/** PCIDs tracked per CPU before the table grows. */
const SEEN_INITIAL = 16;
const TIB = 2 ** 40;

/**
 * The x86-64 architecture bound to one machine: paging, CR3/PCID switches, INVLPG and IPI
 * shootdowns, CR0.WP and PKRS, page protection with the direct-map alias, and the
 * write-rare mechanisms.
 */
export class X86Arch implements ArchImpl {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare readonly m: Machine;
  declare readonly pt: X86PageTable;
  /** mm->context.tlb_gen, by mm id: bumped when an mm's user-half entries go away. */
  private readonly mmGen: number[] = [];
  /** Per CPU, by PCID: the tlb_gen its TLB entries are current with (-1: none). */
  private readonly seen: Int32Array[] = [];
  private readonly mechs = new Map<string, WriteRareMechanism>();
  private readonly poolMms = new Map<number, Mm>();
  private wr: Mm | undefined;
  /** Serialises alias windows, as text_mutex serialises text_poke: they share wr_mm. */
  readonly textMutex = new CpuMutex('text_mutex');
  /** Randomized bases (as poking_addr), chosen at boot from the machine seed. */
  pokingBase = 0;
  mirrorBase = 0;
  private readonly w = new WalkResult();

  constructor(m: Machine) {
    this.m = m;
    this.pt = new X86PageTable(m, (cpu, flags) => this.checkAccess(cpu, flags, ACC_WRITE) === 0);
  }

  get mechanismName(): MechanismName {
    return this.m.mechanismName as MechanismName;
  }

  /** What the machine's mechanism needs of this architecture (it declares it; no name tests here). */
  get needs(): X86MechanismNeeds {
    return (pluginOf(this.mechanismName) as { needs: X86MechanismNeeds }).needs;
  }

  // ---- mms and CR3 -------------------------------------------------------------------

  createMm(kind: MmKind, name: string): Mm {
    const pfn = this.m.phys.allocFrame();
    this.m.phys.frameFlags[pfn] |= PG.PAGETABLE;
    const root = pfn * PAGE_SIZE;
    if (kind !== 'kernel') {
      // pgd_alloc(): the kernel half (PML4 entries 256–511) is shared, copied by value.
      const k = this.m.kernelMm.rootPa;
      this.m.phys.bytes.copyWithin(root + PAGE_SIZE / 2, k + PAGE_SIZE / 2, k + PAGE_SIZE);
    }
    const mm = this.m.registerMm(kind, name, root);
    this.m.phys.frameOwner[pfn] = mm.id;
    this.mmGen[mm.id] = 0;
    return mm;
  }

  boot(): void {
    for (let i = 0; i < this.m.cpuCount; i++) {
      const cpu = this.m.cpu(i);
      cpu.regs.cr0 = DEFAULT_CR0;
      cpu.regs.cr4 = DEFAULT_CR4;
      cpu.regs.pkrs = DEFAULT_PKRS;
      this.seen[i] = new Int32Array(SEEN_INITIAL).fill(-1);
      this.seenSet(cpu, this.m.kernelMm.asid, 0);
      this.setCr3(cpu, this.m.kernelMm);
    }
    // poking_addr-style randomization: the per-CPU poking slots somewhere in [1, 64) TiB,
    // the persistent mirror in [64, 73) TiB; both 1 GiB aligned, so they never overlap.
    const pokeSpan = 64 * TIB - TIB - 256 * POKE_SLOT_SIZE;
    this.pokingBase = TIB + Math.floor((this.m.random() * pokeSpan) / GIB) * GIB;
    const mirrorSpan = USER_END - 64 * TIB - MIRROR_SPAN - GIB;
    this.mirrorBase = 64 * TIB + Math.floor((this.m.random() * mirrorSpan) / GIB) * GIB;
    if (this.needs.aliasMm) this.wrMm();
  }

  /**
   * init_memory_mapping(): the direct map in the largest pages alignment allows — 1 GiB
   * (direct_gbpages), then 2 MiB, then 4 KiB for the tail — all PAGE_KERNEL (RW, NX, G).
   */
  mapDirectMap(mm: Mm, frames: number): void {
    const bytes = frames * PAGE_SIZE;
    const base = this.m.layout.directMap;
    const prot = { write: true, exec: false, global: true } as const;
    for (let off = 0; off < bytes; ) {
      if (off % GIB === 0 && bytes - off >= GIB) {
        this.pt.mapLarge(mm, base + off, off, 3, prot);
        off += GIB;
      } else if (off % MIB2 === 0 && bytes - off >= MIB2) {
        this.pt.mapLarge(mm, base + off, off, 2, prot);
        off += MIB2;
      } else {
        this.pt.map(mm, base + off, off, prot);
        off += PAGE_SIZE;
      }
    }
  }

  /** The write-rare alias mm (`wr_mm`, like `poking_mm`), created on first use. */
  wrMm(): Mm {
    this.wr ??= this.createMm('wr', 'wr_mm');
    return this.wr;
  }

  /** The alias mm of a pool (alias-mm-per-pool): one mm_struct per owner id. */
  poolMm(owner: number): Mm {
    if (owner < 0) return this.wrMm();
    let mm = this.poolMms.get(owner);
    if (!mm) {
      mm = this.createMm('wr', `wr_mm/pool${owner}`);
      this.poolMms.set(owner, mm);
    }
    return mm;
  }

  /** A pool's owner handle was released: its alias mm is retired (tables freed, PCID recycled). */
  releaseOwner(_cpu: Cpu, owner: number): void {
    const mm = this.poolMms.get(owner);
    if (!mm) return;
    this.poolMms.delete(owner);
    this.m.retireMm(mm);
  }

  aliasMms(): readonly Mm[] {
    return this.wr ? [this.wr, ...this.poolMms.values()] : [...this.poolMms.values()];
  }

  /** The writable mirror address of a kernel VA (alias-mm-mirror). */
  mirrorAddress(va: number): number {
    return this.mirrorBase + (va - MIRROR_ORIGIN);
  }

  /** The first alias address of a CPU's poking slot (alias-mm, alias-mm-per-pool). */
  pokingSlot(cpu: Cpu): number {
    return this.pokingBase + cpu.id * POKE_SLOT_SIZE;
  }

  private setCr3(cpu: Cpu, mm: Mm): void {
    // CR3: PML4 address | PCID; NOFLUSH (bit 63) is an instruction hint, never stored.
    cpu.regs.cr3lo = ((mm.rootPa >>> 0) | mm.asid) >>> 0;
    cpu.regs.cr3hi = Math.floor(mm.rootPa / 0x1_0000_0000);
    cpu.mm = mm;
    cpu.asid = mm.asid;
  }

  /**
   * switch_mm_irqs_off(): a CR3 write. With NOFLUSH when this CPU's entries for the PCID
   * are current (the mm's tlb_gen has not moved since it last ran here); otherwise the
   * write drops the PCID's non-global entries, keeping global ones.
   */
  switchMm(cpu: Cpu, mm: Mm): void {
    if (cpu.mm === mm) return;
    const gen = this.mmGen[mm.id] ?? 0;
    const noflush = this.seenGen(cpu, mm.asid) === gen;
    this.setCr3(cpu, mm);
    loadMm(cpu, mm);
    if (!noflush) {
      cpu.tlb.flushAsid(mm.asid);
      this.m.counters.charge(cpu.id, EV.localFlushAsid);
    }
    this.seenSet(cpu, mm.asid, gen);
    if (this.m.trace.enabled) {
      this.m.trace.annotate(cpu.id, { mm: mm.name, pcid: mm.asid, noflush });
    }
  }

  /** The tlb_gen `cpu`'s entries of PCID `asid` are current with, -1 if it has none. */
  private seenGen(cpu: Cpu, asid: number): number {
    const seen = this.seen[cpu.id];
    return asid < seen.length ? seen[asid] : -1;
  }

  private seenSet(cpu: Cpu, asid: number, gen: number): void {
    let seen = this.seen[cpu.id];
    if (asid >= seen.length) {
      // Grown as PCIDs come into use: most machines use a handful, not 4,095.
      const grown = new Int32Array(Math.min(MAX_ASID + 1, Math.max(2 * seen.length, asid + 1)));
      grown.fill(-1).set(seen);
      this.seen[cpu.id] = seen = grown;
    }
    seen[asid] = gen;
  }

  /** Audits: a PCID whose mm's tlb_gen moved on is flushed at the next switch, so dead. */
  asidLive(cpu: Cpu, asid: number): boolean {
    const mm = this.m.mms.find((x) => x.asid === asid);
    return mm === undefined || this.pcidCurrent(cpu, mm);
  }

  /** Whether `cpu` may use its TLB entries of `mm` without a flush (tests, audits). */
  pcidCurrent(cpu: Cpu, mm: Mm): boolean {
    return this.seenGen(cpu, mm.asid) === (this.mmGen[mm.id] ?? 0);
  }

  // ---- TLB maintenance ---------------------------------------------------------------

  /** INVLPG: the page's global entry and its entry in the current PCID, on this CPU only. */
  flushLocalPage(cpu: Cpu, va: number): void {
    cpu.tlb.flushPage(va - (va & 0xfff), cpu.asid);
    this.m.counters.charge(cpu.id, EV.localFlushPage);
    if (this.m.trace.enabled) this.traceFlush(cpu, va);
  }

  /** Trace details of an INVLPG (traced machines only; kept out of the hot path). */
  private traceFlush(cpu: Cpu, va: number): void {
    this.m.trace.annotate(cpu.id, { va: canonical(va), pcid: cpu.asid });
  }

  flushKernelRange(cpu: Cpu, start: number, end: number): Steps {
    const s = start - (start % PAGE_SIZE);
    const e = Math.ceil(end / PAGE_SIZE) * PAGE_SIZE;
    return this.shootdown(cpu, [[s, e]], 'flush_tlb_kernel_range');
  }

  /**
   * on_each_cpu(flush): INVLPG every page of `runs` up to FLUSH_CEILING pages, a full
   * flush (global entries too) above it or when `forceFull` (flush_tlb_all); the caller
   * flushes itself, then IPIs the others, each handled on the target's own clock.
   */
  *shootdown(
    cpu: Cpu,
    runs: readonly (readonly [number, number])[],
    name: string,
    forceFull = false,
  ): Steps {
    let pages = 0;
    for (const [s, e] of runs) pages += (e - s) / PAGE_SIZE;
    if (pages === 0 && !forceFull) return;
    const full = forceFull || pages > FLUSH_CEILING;
    const flush = (t: Cpu) => {
      if (full) {
        t.tlb.flushAll();
        this.m.counters.charge(t.id, EV.localFlushAll);
        return;
      }
      for (const [s, e] of runs) for (let b = s; b < e; b += PAGE_SIZE) this.flushLocalPage(t, b);
    };
    flush(cpu);
    yield `${name}: ${full ? 'flush all' : `invlpg x${pages}`} on CPU${cpu.id}`;
    yield* this.m.ipi(cpu, this.m.otherCpus(cpu), name, flush);
  }

  /**
   * flush_tlb_mm_range() for a user-half range of `mm`: bump its tlb_gen, so every CPU
   * flushes the PCID the next time it loads the mm; flush now where the mm is loaded
   * (locally, and by IPI on the others).
   */
  *flushMmRange(cpu: Cpu, mm: Mm, pages: readonly number[]): Steps {
    if (pages.length === 0) return;
    const gen = (this.mmGen[mm.id] ?? 0) + 1;
    this.mmGen[mm.id] = gen;
    const flush = (t: Cpu) => {
      if (pages.length > FLUSH_CEILING) {
        t.tlb.flushAsid(mm.asid);
        this.m.counters.charge(t.id, EV.localFlushAsid);
      } else for (const va of pages) this.flushLocalPage(t, va);
      this.seenSet(t, mm.asid, gen);
    };
    if (cpu.mm === mm) flush(cpu);
    const targets: number[] = [];
    for (let i = 0; i < this.m.cpuCount; i++)
      if (i !== cpu.id && this.m.cpu(i).mm === mm) targets.push(i);
    yield `flush_tlb_mm_range ${mm.name}: tlb_gen ${gen}`;
    yield* this.m.ipi(cpu, targets, 'flush_tlb_mm_range', flush);
  }

  // ---- access checks -----------------------------------------------------------------

  /** CR0.WP of a CPU (set unless the CPU cleared it). */
  wpSet(cpu: Cpu): boolean {
    const cr0 = cpu.regs.cr0;
    return cr0 === undefined || (cr0 & CR0_WP) !== 0;
  }

  checkAccess(cpu: Cpu, flags: number, access: number): number {
    // SMAP/SMEP are on: the model's kernel never touches user pages (US=1).
    if ((flags & TLBF.U) !== 0) return FAULT.USER;
    if (access === ACC_EXEC) return (flags & TLBF.X) !== 0 ? 0 : FAULT.EXEC_PROTECT;
    const wp = this.wpSet(cpu);
    // Supervisor writes ignore RW=0 while CR0.WP is clear (SDM 4.6.1).
    if (access === ACC_WRITE && (flags & TLBF.W) === 0 && wp) return FAULT.WRITE_PROTECT;
    const pkey = (flags & TLBF_PKEY_MASK) >>> TLBF_PKEY_SHIFT;
    if (pkey !== 0) {
      const pkrs = cpu.regs.pkrs ?? DEFAULT_PKRS;
      if ((pkrs & pkrsAd(pkey)) !== 0) return FAULT.PKEY;
      // PKRS.WD denies supervisor writes only while CR0.WP is set (SDM 4.6.2).
      if (access === ACC_WRITE && wp && (pkrs & pkrsWd(pkey)) !== 0) return FAULT.PKEY;
    }
    return 0;
  }

  /**
   * The #PF error code and CR2 (SDM Vol. 3A §4.7): P is clear only for a not-present
   * entry (a reserved-bit fault sets P and RSVD); U/S is 0, the model's accesses are all
   * supervisor ones; I/D is set for fetches (EFER.NXE is on); SS is never set.
   */
  faultRecord(_cpu: Cpu, va: number, access: number, code: number): FaultRecord {
    let e = code === FAULT.NOT_PRESENT ? 0 : PF_ERR.P;
    if (access === ACC_WRITE) e |= PF_ERR.W;
    if (access === ACC_EXEC) e |= PF_ERR.I;
    if (code === FAULT.RSVD) e |= PF_ERR.RSVD;
    if (code === FAULT.PKEY) e |= PF_ERR.PK;
    return { arch: 'x86', errorCode: e, cr2: va };
  }

  /** dump_pagetables.c's format (see ptdump.ts). */
  ptdump(mm: Mm): string {
    return x86Ptdump(this.m, mm);
  }

  /** A keyed page is not writable: PKRS write-disables its key outside a window. */
  leafWritable(_mm: Mm, flags: number): boolean {
    return (flags & TLBF.W) !== 0 && (flags & TLBF_PKEY_MASK) === 0;
  }

  auditCpu(cpu: Cpu, inWindow: boolean): string[] {
    const out: string[] = [];
    if (!this.wpSet(cpu)) {
      out.push(
        inWindow
          ? 'CR0.WP clear (cr0-wp window): every read-only page is writable on this CPU'
          : 'CR0.WP clear outside a write-rare window',
      );
    }
    const pkrs = cpu.regs.pkrs ?? DEFAULT_PKRS;
    if (!inWindow && (pkrs & pkrsWd(WR_PKEY)) === 0)
      out.push(`PKRS grants write to key ${WR_PKEY} outside a write-rare window`);
    return out;
  }

  // ---- protection --------------------------------------------------------------------

  /** Checks a setProtection request; throws a typed error and changes nothing if bad. */
  validateRange(start: number, end: number, level: ProtLevel): number[] {
    for (const v of [start, end]) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 48)
        throw new BadAddressError(v, 'must be an integer in [0, 2^48]');
      if (v % PAGE_SIZE !== 0) throw new BadAddressError(v, 'must be page-aligned');
    }
    if (start >= end) throw new BadAddressError(start, `empty or reversed range to ${end}`);
    if (start < USER_END) throw new BadAddressError(start, 'not a kernel-half address');
    if (level !== 'rw' && level !== 'wr' && level !== 'ro')
      throw new InvalidArgumentError('level', level, "must be 'rw', 'wr' or 'ro'");
    if (this.needs.mirror && level === 'wr' && start < MIRROR_ORIGIN)
      throw new BadAddressError(
        start,
        `the write-rare mirror covers only ${canonical(MIRROR_ORIGIN)} and up`,
      );
    const pas: number[] = [];
    // Large pages the change must split (each split takes a table frame): 1 GiB regions
    // split once to 2 MiB pages, 2 MiB regions once to 4 KiB pages.
    const splits = new Set<number>();
    const kmm = this.m.kernelMm;
    const need = (va: number) => {
      const lvl = this.pt.leafLevel(kmm, va);
      if (lvl === 3) splits.add(-1 - Math.floor(va / GIB));
      if (lvl >= 2) splits.add(Math.floor(va / MIB2));
    };
    for (let va = start; va < end; va += PAGE_SIZE) {
      if (!this.pt.lookup(kmm, va, this.w))
        throw new BadAddressError(va, 'not mapped in the kernel');
      pas.push(this.w.pa);
      need(va);
      const alias = this.m.directMapVa(this.w.pa);
      if (alias !== va) need(alias);
    }
    if (splits.size > this.m.phys.freeFrames)
      throw new OutOfMemoryError(
        'page-table frames for CPA splits',
        splits.size,
        this.m.phys.freeFrames,
      );
    return pas;
  }

  /** Large pages split so far by protection changes (the direct map's fragmentation). */
  cpaSplits = 0;

  /**
   * CPA's split: while `va` lies in a large page, split_large_page() it (a new table,
   * 513 PTE writes) and flush_tlb_all(), which __split_large_page does before the
   * attribute change so no CPU holds a large and a small translation of one address.
   */
  *splitFor(cpu: Cpu, va: number): Steps {
    for (;;) {
      const from = this.pt.leafLevel(this.m.kernelMm, va);
      const writes = this.pt.splitLarge(this.m.kernelMm, va);
      if (writes === 0) return;
      this.cpaSplits++;
      this.m.counters.charge(cpu.id, EV.cpaSplit);
      this.m.counters.charge(cpu.id, EV.pteWrite, writes);
      if (this.m.trace.enabled)
        this.m.trace.instant(cpu.id, 'split_large_page', 'cpa', {
          va: canonical(va),
          from: from === 3 ? '1G' : '2M',
        });
      yield `split_large_page ${canonical(va)} (${from === 3 ? '1G' : '2M'})`;
      yield* this.shootdown(cpu, [], 'split_large_page: flush_tlb_all', true);
    }
  }

  /**
   * set_memory_ro()/set_memory_rw() with CPA's alias processing: the PTEs of [start, end)
   * and of each frame's direct-map alias (splitting large pages on the way), then one
   * flush on every CPU: a full one when an alias changed, since cpa_process_alias() sets
   * force_flush_all, else INVLPGs up to the ceiling. Under `pks` a write-rare page stays
   * RW and carries WR_PKEY; under `alias-mm-mirror` its writable mirror in wr_mm is added
   * ('wr') or removed (anything else).
   */
  *setProtection(cpu: Cpu, start: number, end: number, level: ProtLevel): Steps {
    const pas = this.validateRange(start, end, level);
    const m = this.m;
    const needs = this.needs;
    const keyed = needs.wrPkey && level === 'wr';
    const mirror = needs.mirror ? this.wrMm() : undefined;
    const w = this.w;
    let aliasChanged = false;
    const mirrorGone: number[] = [];
    for (let i = 0; i < pas.length; i++) {
      const va = start + i * PAGE_SIZE;
      yield* this.splitFor(cpu, va);
      this.pt.lookup(m.kernelMm, va, w);
      const prot = {
        write: level === 'rw' || keyed,
        exec: (w.flags & TLBF.X) !== 0,
        global: true,
        pkey: keyed ? WR_PKEY : 0,
      };
      this.pt.protect(m.kernelMm, va, prot);
      let ptes = 1;
      const alias = m.directMapVa(pas[i]);
      if (alias !== va && this.pt.lookup(m.kernelMm, alias, w)) {
        yield* this.splitFor(cpu, alias);
        this.pt.protect(m.kernelMm, alias, { ...prot, exec: false });
        ptes++;
        aliasChanged = true;
      }
      if (mirror) {
        const mva = this.mirrorAddress(va);
        if (level === 'wr') {
          this.pt.map(mirror, mva, pas[i], ALIAS_PROT);
          ptes++;
        } else if (this.pt.unmap(mirror, mva)) {
          mirrorGone.push(mva);
          ptes++;
        }
      }
      m.counters.charge(cpu.id, EV.pteWrite, ptes);
      yield `set_memory_${level} ${canonical(va)}`;
    }
    if (mirror) yield* this.flushMmRange(cpu, mirror, mirrorGone);
    // Mirror tables the range alone used are empty once its entries are gone and flushed.
    if (mirror && mirrorGone.length > 0)
      this.pt.pruneTables(mirror, this.mirrorAddress(start), this.mirrorAddress(end));
    yield* this.shootdown(cpu, [[start, end]], `cpa_flush (${level})`, aliasChanged);
  }

  // ---- mechanisms --------------------------------------------------------------------

  mechanism(name: string): WriteRareMechanism {
    let mech = this.mechs.get(name);
    if (!mech) {
      mech = createMechanism(this, name);
      this.mechs.set(name, mech);
    }
    return mech;
  }
}
