import {
  ACC_EXEC,
  ACC_READ,
  ACC_WRITE,
  type ArchImpl,
  BadAddressError,
  type Cpu,
  drain,
  EV,
  FAULT,
  type FaultRecord,
  InvalidArgumentError,
  type IpiRound,
  type Machine,
  type Mm,
  type MmKind,
  OutOfMemoryError,
  PAGE_SIZE,
  PG,
  type ProtLevel,
  type PteProt,
  type Steps,
  stepsOf,
  TLBF,
  UnknownMechanismError,
  WalkResult,
  type WriteRareMechanism,
  loadMm,
} from '@prmem/core';

/** The offset bits of a page: a module constant V8 folds (docs/decisions.md §10). */
const PAGE_MASK = 0xfff;
import { type DcacheGeometry, ViptDcache } from './dcache.js';
import {
  DACR_DEFAULT,
  L1_DOMAIN_SHIFT,
  L1_TABLE_BYTES,
  L1_TYPE_COARSE,
  L1_TYPE_MASK,
  L1_TYPE_SECTION,
} from './descriptors.js';

/** ARMv6 fault status FS[4:0] (ARM ARM B4.6, VMSA): section / page forms. */
const FS = {
  TRANSLATION_SECTION: 0b00101,
  TRANSLATION_PAGE: 0b00111,
  DOMAIN_SECTION: 0b01001,
  DOMAIN_PAGE: 0b01011,
  PERMISSION_SECTION: 0b01101,
  PERMISSION_PAGE: 0b01111,
} as const;
/** DFSR[11]: the abort was caused by a write (ARMv6). */
const DFSR_WNR = 1 << 11;
import { LOWMEM_MAX_BYTES } from './layout.js';
import { MECHANISMS, pluginOf } from './mech/index.js';
import { KERNEL_L1_FIRST, ShortDescriptorTables } from './pagetable.js';
import { armPtdump } from './ptdump.js';
import { FrameMapCount } from './rmap.js';

export interface NommuOptions {
  /**
   * Debug switch: let the MMU create aliases (a second mapping of a frame). The VIPT cache
   * model then runs on every access, so the incoherence aliases cause can be seen.
   */
  readonly allowAliases?: boolean;
  readonly dcache?: DcacheGeometry;
}

/** PAGE_KERNEL on this arch: privileged RW, XN, global. */
export const PAGE_KERNEL: PteProt = { write: true, exec: false, global: true };
export const PAGE_KERNEL_RO: PteProt = { write: false, exec: false, global: true };

/** ARMv6 ASIDs are 8-bit (CONTEXTIDR[7:0]); 0 stays with init_mm. */
export const ASID_LIMIT = 256;

/**
 * The architecture bound to one machine: ARMv6 short descriptors, an MMU model that refuses
 * aliases, IPI shootdowns (no broadcast TLB maintenance before ARMv7 MP), and a VIPT
 * aliasing D-cache that runs when the alias debug switch is on.
 */
export class NommuArch implements ArchImpl {
  readonly pt: ShortDescriptorTables;
  /** The L1 table is 16 KiB: four frames. */
  readonly rootFrames = 4;
  readonly rmap: FrameMapCount;
  readonly allowAliases: boolean;
  /** The D-cache model; present only with allowAliases (see README: why). */
  readonly dcache: ViptDcache | undefined;
  /** The CPU holding the write-rare lock, -1 if none (windows are serialized). */
  wrLockOwner = -1;
  private booting = true;
  private nextAsid = 1;
  private readonly mechs = new Map<string, WriteRareMechanism>();
  private readonly w = new WalkResult();

  constructor(
    readonly m: Machine,
    opts: NommuOptions,
    readonly geometry: DcacheGeometry,
  ) {
    if (m.phys.size > LOWMEM_MAX_BYTES) {
      throw new InvalidArgumentError(
        'memoryMiB',
        m.phys.size / (1024 * 1024),
        `must fit in lowmem (the direct map holds at most ${LOWMEM_MAX_BYTES / (1024 * 1024)} MiB)`,
      );
    }
    this.allowAliases = opts.allowAliases ?? false;
    this.dcache = this.allowAliases ? new ViptDcache(geometry, m.phys.bytes) : undefined;
    this.rmap = new FrameMapCount(m.phys.frameCount);
    const extraFlags = this.dcache ? TLBF.SLOW_R | TLBF.SLOW_W : 0;
    this.pt = new ShortDescriptorTables(m, this.rmap, {
      allowAliases: this.allowAliases,
      booting: () => this.booting,
      extraFlags,
    });
  }

  // ---- address spaces ----------------------------------------------------------------

  createMm(kind: MmKind, name: string): Mm {
    const asid = kind === 'kernel' ? 0 : this.nextAsid;
    if (asid >= ASID_LIMIT) throw new OutOfMemoryError('ARMv6 ASIDs (8-bit)', 1, 0);
    const id = this.m.nextMmIdValue;
    const pfn = this.m.phys.allocContiguous(L1_TABLE_BYTES / PAGE_SIZE, 4, id);
    for (let i = 0; i < 4; i++) this.m.phys.frameFlags[pfn + i] |= PG.PAGETABLE;
    const root = pfn * PAGE_SIZE;
    if (kind !== 'kernel') {
      // pgd_alloc(): copy init_mm's kernel-half entries.
      const k = this.m.kernelMm.rootPa;
      const from = k + KERNEL_L1_FIRST * 4;
      this.m.phys.bytes.copyWithin(root + KERNEL_L1_FIRST * 4, from, k + L1_TABLE_BYTES);
      this.nextAsid++;
    }
    return this.m.registerMm(kind, name, root, asid);
  }

  boot(): void {
    this.booting = false;
    for (let i = 0; i < this.m.cpuCount; i++) {
      const c = this.m.cpu(i);
      c.regs.DACR = DACR_DEFAULT;
      c.regs.TTBR0 = c.mm.rootPa;
      c.regs.CONTEXTIDR = c.mm.asid;
    }
  }

  /** cpu_v6_switch_mm: CONTEXTIDR then TTBR0; ASID-tagged entries need no flush. */
  switchMm(cpu: Cpu, mm: Mm): void {
    cpu.regs.CONTEXTIDR = mm.asid;
    cpu.regs.TTBR0 = mm.rootPa;
    loadMm(cpu, mm);
  }

  // ---- TLB maintenance ---------------------------------------------------------------

  /** TLBIMVA: the page's entry for the current ASID, or its global entry. */
  flushLocalPage(cpu: Cpu, va: number): void {
    // `& PAGE_MASK`: VAs here are below 2^32 (exact), and no float modulo per flush.
    cpu.tlb.flushPage(va - (va & PAGE_MASK), cpu.asid);
    this.m.counters.charge(cpu.id, EV.localFlushPage);
    if (this.m.trace.enabled) this.traceFlush(cpu, va);
  }

  /** Trace details of a TLBIMVA (traced machines only; kept out of the hot path). */
  private traceFlush(cpu: Cpu, va: number): void {
    this.m.trace.annotate(cpu.id, { va: `0x${va.toString(16)}`, asid: cpu.asid });
  }

  /** Every CPU but `cpu`, the targets of its shootdowns (made once per CPU). */
  private othersOf(cpu: Cpu): readonly number[] {
    let o = this.others[cpu.id];
    if (o === undefined) {
      o = this.m.otherCpus(cpu);
      this.others[cpu.id] = o;
    }
    return o;
  }

  private readonly others: (readonly number[])[] = [];

  /** local_flush_tlb_kernel_range on v6: one TLBIMVA per page (v6wbi_flush_kern_tlb_range). */
  localFlushKernelRange(cpu: Cpu, start: number, end: number): void {
    for (let va = start - (start & PAGE_MASK); va < end; va += PAGE_SIZE)
      this.flushLocalPage(cpu, va);
  }

  /**
   * flush_tlb_kernel_range: ARMv6 SMP has no broadcast TLB maintenance (ID_MMFR3[15:12] < 2,
   * tlb_ops_need_broadcast()), so Linux runs the local flush on every CPU by IPI
   * (on_each_cpu, arch/arm/kernel/smp_tlb.c). One step per target CPU.
   */
  flushKernelRange(cpu: Cpu, start: number, end: number): Steps {
    return stepsOf(this.flushKernelRangeRound(cpu, start, end));
  }

  /**
   * `flushKernelRange` as a step program: the local flush now, the IPIs as the caller
   * steps (or runs) them, with a handler bound once (a hot window's shootdowns).
   */
  flushKernelRangeRound(cpu: Cpu, start: number, end: number): IpiRound {
    this.localFlushKernelRange(cpu, start, end);
    return this.m.ipiRound(
      cpu,
      this.othersOf(cpu),
      'flush_tlb_kernel_range',
      this.flushOnTarget,
      start,
      end,
    );
  }

  private readonly flushOnTarget = (t: Cpu, start: number, end: number): void =>
    this.localFlushKernelRange(t, start, end);

  checkAccess(_cpu: Cpu, flags: number, access: number): number {
    if (access === ACC_WRITE) return (flags & TLBF.W) !== 0 ? 0 : FAULT.WRITE_PROTECT;
    if (access === ACC_EXEC)
      return (flags & (TLBF.X | TLBF.R)) === (TLBF.X | TLBF.R) ? 0 : FAULT.EXEC_PROTECT;
    if (access === ACC_READ && (flags & TLBF.R) === 0) return FAULT.ARCH;
    return 0;
  }

  /**
   * DFSR (data aborts) or IFSR (prefetch aborts, exec) with DFAR/IFAR, as an ARMv6 core
   * records them: the status says translation, domain or permission fault, for a section
   * or a page; DFSR carries the L1 entry's domain and, for a write, WnR.
   */
  faultRecord(cpu: Cpu, va: number, access: number, code: number): FaultRecord {
    const mm = cpu.mm;
    const d = va >= 0 && va < 2 ** 32 ? this.m.phys.u32[(mm.rootPa >>> 2) + (va >>> 20)] : 0;
    const type = d & L1_TYPE_MASK;
    const section = type === L1_TYPE_SECTION;
    const domain = type === L1_TYPE_COARSE || section ? (d >>> L1_DOMAIN_SHIFT) & 0xf : 0;
    const dacr = cpu.regs.DACR ?? DACR_DEFAULT;
    const da = (dacr >>> (domain * 2)) & 3;
    let status: number;
    if (code === FAULT.NOT_PRESENT)
      status = type === L1_TYPE_COARSE ? FS.TRANSLATION_PAGE : FS.TRANSLATION_SECTION;
    else if (code === FAULT.ARCH && (da === 0 || da === 2))
      status = section ? FS.DOMAIN_SECTION : FS.DOMAIN_PAGE;
    else status = section ? FS.PERMISSION_SECTION : FS.PERMISSION_PAGE;
    const prefetch = access === ACC_EXEC;
    const wnr = access === ACC_WRITE;
    // FS[4] is FSR bit 10; FS[3:0] bits 0-3; the domain sits in bits 4-7 of the DFSR.
    const fsr =
      ((status & 0x10) << 6) |
      (status & 0xf) |
      (prefetch ? 0 : (domain << 4) | (wnr ? DFSR_WNR : 0));
    return { arch: 'armv6', fsr, status, domain, wnr: !prefetch && wnr, far: va, prefetch };
  }

  /** arch/arm/mm/dump.c's kernel_page_tables format. */
  ptdump(mm: Mm): string {
    return armPtdump(this.m, mm);
  }

  // ---- protection --------------------------------------------------------------------

  /** The kernel PTEs of [start, end) as [va, pa] pairs; throws before any change if a hole. */
  kernelPages(start: number, end: number): number[] {
    const out: number[] = [];
    for (let va = start - (start % PAGE_SIZE); va < end; va += PAGE_SIZE) {
      if (!this.pt.lookup(this.m.kernelMm, va, this.w))
        throw new BadAddressError(va, 'not mapped in the kernel');
      out.push(va, this.w.pa);
    }
    return out;
  }

  /** Rewrites the kernel PTEs of [start, end) writable or read-only; returns PTE writes. */
  setKernelPtes(cpu: Cpu, start: number, end: number, write: boolean): number {
    const prot = write ? PAGE_KERNEL : PAGE_KERNEL_RO;
    let n = 0;
    for (let va = start - (start & PAGE_MASK); va < end; va += PAGE_SIZE) {
      if (this.pt.protect(this.m.kernelMm, va, prot)) n++;
    }
    this.m.counters.charge(cpu.id, EV.pteWrite, n);
    return n;
  }

  *setProtection(cpu: Cpu, start: number, end: number, level: ProtLevel): Steps {
    const pages = this.kernelPages(start, end);
    // With aliases forbidden a protected frame has no direct-map alias left to change;
    // with the debug switch on one may exist and is changed too.
    const aliases: number[] = [];
    for (let i = 0; i < pages.length; i += 2) {
      const dm = this.m.directMapVa(pages[i + 1]);
      if (dm !== pages[i] && this.pt.lookup(this.m.kernelMm, dm, this.w)) aliases.push(dm);
    }
    const write = level === 'rw';
    this.setKernelPtes(cpu, start, end, write);
    for (const a of aliases) this.setKernelPtes(cpu, a, a + PAGE_SIZE, write);
    yield write ? 'set_memory_rw: ptes' : 'set_memory_ro: ptes';
    yield* this.flushKernelRange(cpu, start, end);
    for (const a of aliases) yield* this.flushKernelRange(cpu, a, a + PAGE_SIZE);
  }

  // ---- the direct map and vmalloc ----------------------------------------------------

  /**
   * Before vmalloc maps frames elsewhere, they leave the direct map (their one mapping
   * moves): PTE clears, then one shootdown round for all of them.
   */
  vmapFrames(cpu: Cpu, pfns: readonly number[]): void {
    const gone: number[] = [];
    for (const pfn of pfns) {
      const dm = this.m.directMapVa(pfn * PAGE_SIZE);
      if (this.dcache) this.chargeFlush(cpu, this.dcache.flushFrame(pfn));
      if (this.pt.unmap(this.m.kernelMm, dm)) gone.push(dm);
    }
    if (gone.length === 0) return;
    this.m.counters.charge(cpu.id, EV.pteWrite, gone.length);
    const flush = (t: Cpu) => {
      for (const va of gone) this.flushLocalPage(t, va);
    };
    flush(cpu);
    drain(this.m.ipi(cpu, this.othersOf(cpu), 'flush_tlb_kernel_range', flush));
  }

  /** After vfree unmapped an area, its frames return to the direct map (no flush needed). */
  vunmapFrames(cpu: Cpu, pfns: readonly number[]): void {
    let n = 0;
    for (const pfn of pfns) {
      // flush_cache_vunmap: the area's lines must not be written back over the next user.
      if (this.dcache) this.chargeFlush(cpu, this.dcache.flushFrame(pfn));
      if (this.rmap.count[pfn] === 0) {
        this.pt.map(
          this.m.kernelMm,
          this.m.directMapVa(pfn * PAGE_SIZE),
          pfn * PAGE_SIZE,
          PAGE_KERNEL,
        );
        n++;
      }
    }
    this.m.counters.charge(cpu.id, EV.pteWrite, n);
  }

  // ---- the D-cache -------------------------------------------------------------------

  memAccess(_cpu: Cpu, va: number, pa: number, bytes: Uint8Array, write: boolean): void {
    if (this.dcache) this.dcache.access(va, pa, bytes, write);
    else if (write) this.m.phys.bytes.set(bytes, pa);
    else bytes.set(this.m.phys.bytes.subarray(pa, pa + bytes.length));
  }

  /**
   * flush_dcache_page: cleans and invalidates the frame's lines in every colour, so every
   * mapping sees memory again. Returns the lines flushed (each counted as cacheFlush).
   */
  flushDcachePage(cpu: Cpu, pfn: number): number {
    this.m.phys.checkPfn(pfn);
    if (!this.dcache) return 0;
    const n = this.dcache.flushFrame(pfn);
    this.chargeFlush(cpu, n);
    return n;
  }

  private chargeFlush(cpu: Cpu, lines: number): void {
    if (lines > 0) this.m.counters.charge(cpu.id, EV.cacheFlush, lines);
  }

  /** The page colour of a VA in the configured cache (1 colour: no aliasing possible). */
  colourOf(va: number): number {
    const wayBytes = (this.geometry.sizeKiB * 1024) / this.geometry.ways;
    return Math.floor(va / PAGE_SIZE) % Math.max(1, wayBytes / PAGE_SIZE);
  }

  /** How many mappings a frame has (the reverse map). */
  mapCount(pfn: number): number {
    this.m.phys.checkPfn(pfn);
    return this.rmap.count[pfn];
  }

  // ---- write-rare --------------------------------------------------------------------

  mechanism(name: string): WriteRareMechanism {
    const have = this.mechs.get(name);
    if (have) return have;
    const plugin = pluginOf(name);
    if (!plugin) throw new UnknownMechanismError('nommu-alias', name, MECHANISMS);
    const mech = plugin.create(this);
    this.mechs.set(name, mech);
    return mech;
  }
}

/**
 * The arch of a machine built with this backend; a typed error for any other machine.
 * Every arch package names this accessor `archOf`.
 */
export function archOf(m: Machine): NommuArch {
  if (m.arch instanceof NommuArch) return m.arch;
  throw new InvalidArgumentError(
    'machine',
    m.backend.name,
    'was not built with the nommu-alias backend',
  );
}

/** @deprecated Use `archOf` (the accessor's name in every arch package). */
export const nommuArch = archOf;
