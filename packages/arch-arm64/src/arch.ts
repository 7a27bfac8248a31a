import {
  ACC_EXEC,
  ACC_WRITE,
  ACCESS_NAMES,
  type ArchImpl,
  BadAddressError,
  canonical,
  CpuMutex,
  type Cpu,
  EV,
  FAULT,
  type FaultRecord,
  InvalidArgumentError,
  type Machine,
  MAX_ASID,
  type Mm,
  type MmKind,
  PAGE_SIZE,
  PG,
  type ProtLevel,
  StateError,
  type Steps,
  TLBF,
  UnknownMechanismError,
  VA_LIMIT,
  WalkResult,
  type WriteRareMechanism,
  loadMm,
} from '@prmem/core';
import type { HypervisorProfile } from './costs.js';
import { paHi } from './descriptors.js';
import { El2 } from './el2.js';
import { ALIAS_MAX, ALIAS_MIN, ALIAS_WINDOW_PAGES, ARM64_LAYOUT, KERNEL_HALF } from './layout.js';
import { type Arm64MechanismNeeds, MECHANISMS, pluginOf } from './mech/index.js';
import { A64F, Stage1 } from './pagetable.js';
import { arm64Ptdump, arm64Stage2Ptdump } from './ptdump.js';
import { IPA_BITS, S2_FAULT, S2_START_LEVEL } from './stage2.js';

/** ESR_ELx.EC values (ARM ARM D17.2.37): instruction/data abort from a lower or the same EL. */
const EC = { IABT_LOW: 0x20, IABT_CUR: 0x21, DABT_LOW: 0x24, DABT_CUR: 0x25 } as const;
/** DFSC/IFSC fault kinds; the low two bits are the lookup level. */
const FSC = { TRANSLATION: 0x04, ACCESS_FLAG: 0x08, PERMISSION: 0x0c } as const;
const ESR_IL = 1 << 25;
const ISS_S1PTW = 1 << 7;
const ISS_WNR = 1 << 6;

/**
 * How the linear map is built, the arm64 trade-off between TLB reach and changing the
 * linear alias of protected memory:
 * - `pages`: page granularity, as `rodata=full` (CONFIG_RODATA_FULL_DEFAULT_ENABLED, the
 *   default) forces, so set_memory_*() can change a linear-map alias without
 *   break-before-make;
 * - `blocks`: 1 GiB / 2 MiB blocks (`rodata=on`): can_set_direct_map() is false and a
 *   protection change leaves the linear-map alias as it is (writable);
 * - `blocks-bbml2`: blocks, split on demand before an alias changes, which only a CPU with
 *   FEAT_BBM level 2 without conflict aborts (BBML2_NOABORT) allows without break-before-make.
 */
export type LinearMap = 'pages' | 'blocks' | 'blocks-bbml2';
export const LINEAR_MAPS: readonly LinearMap[] = ['pages', 'blocks', 'blocks-bbml2'];

/** Linux's MAX_TLBI_OPS: past this many pages a range flush becomes TLBI VMALLE1IS. */
export const MAX_TLBI_OPS = 512;

/**
 * arm64 bound to one machine: the kernel at EL1 with stage-1 tables (TTBR1 for the kernel
 * half, TTBR0 per mm with its ASID) and, from boot, an EL2 that owns stage 2.
 */
export class Arm64Arch implements ArchImpl {
  readonly pt: Stage1;
  /** wr_mm of the alias-mm mechanism (created at boot under alias-mm only). */
  wrMm!: Mm;
  /** Serialises alias-mm windows, as text_mutex serialises text_poke: they share wr_mm. */
  readonly textMutex = new CpuMutex('text_mutex');
  /** Randomized base of alias-mm's window in wr_mm's TTBR0 half. */
  aliasBase = 0;
  private el2Impl: El2 | undefined;
  private kmm: Mm | undefined;
  private ttbr1 = 0;
  private kernelTtbr0 = 0;
  /** What the kernel registered with EL2: start → [end, level] (its own bookkeeping). */
  private readonly registered = new Map<number, number>();
  private readonly w = new WalkResult();

  /** Linear-map blocks split by protection changes (blocks-bbml2). */
  cpaSplits = 0;

  constructor(
    readonly m: Machine,
    readonly profile: HypervisorProfile,
    readonly linearMap: LinearMap = 'pages',
  ) {
    this.pt = new Stage1(m.phys, {
      ttbr1: () => this.ttbr1,
      ttbr0: (mm) => (mm === this.kmm ? this.kernelTtbr0 : mm.rootPa),
      stage2: () => this.el2Impl?.stage2,
      allocTable: (mm) => this.allocTable(mm.id),
    });
  }

  /** What the machine's mechanism needs of this architecture (it declares it; no name tests here). */
  private get needs(): Arm64MechanismNeeds {
    return (pluginOf(this.m.mechanismName) as { needs: Arm64MechanismNeeds }).needs;
  }

  /** The EL2 model (exists once the machine has booted). */
  get el2(): El2 {
    if (!this.el2Impl) throw new StateError('ENOEL2', 'EL2 is set up at boot');
    return this.el2Impl;
  }

  private allocTable(owner: number): number {
    const pfn = this.m.phys.allocFrame(owner);
    this.m.phys.frameFlags[pfn] |= PG.PAGETABLE;
    return pfn * PAGE_SIZE;
  }

  createMm(kind: MmKind, name: string): Mm {
    if (kind === 'kernel') {
      if (this.kmm) throw new StateError('EKERNELMM', 'the kernel mm exists already');
      this.ttbr1 = this.allocTable(-1);
      this.kernelTtbr0 = this.allocTable(-1);
      this.kmm = this.m.registerMm('kernel', name, this.ttbr1);
      return this.kmm;
    }
    if (this.m.mms.length >= MAX_ASID)
      throw new StateError('EASID', 'out of ASIDs (rollover is not modeled)');
    const root = this.allocTable(-1);
    const mm = this.m.registerMm(kind, name, root);
    this.m.phys.frameOwner[root / PAGE_SIZE] = mm.id;
    return mm;
  }

  /** map_mem(): the linear map, in blocks where alignment allows unless page granularity is asked. */
  mapDirectMap(mm: Mm, frames: number): void {
    const prot = { write: true, exec: false, global: true } as const;
    const bytes = frames * PAGE_SIZE;
    const base = this.m.layout.directMap;
    for (let off = 0; off < bytes; ) {
      if (this.linearMap !== 'pages' && off % 2 ** 30 === 0 && bytes - off >= 2 ** 30) {
        this.pt.mapBlock(mm, base + off, off, 1, prot);
        off += 2 ** 30;
      } else if (this.linearMap !== 'pages' && off % 2 ** 21 === 0 && bytes - off >= 2 ** 21) {
        this.pt.mapBlock(mm, base + off, off, 2, prot);
        off += 2 ** 21;
      } else {
        this.pt.map(mm, base + off, off, prot);
        off += PAGE_SIZE;
      }
    }
  }

  boot(): void {
    this.el2Impl = new El2(this.m, this.pt, () => this.kernelMm);
    for (let i = 0; i < this.m.cpuCount; i++) {
      const cpu = this.m.cpu(i);
      setTtbr(cpu, 'TTBR1_EL1', this.ttbr1, 0);
      setTtbr(cpu, 'TTBR0_EL1', this.ttbr0Of(cpu.mm), cpu.mm.asid);
    }
    if (this.needs.aliasMm) {
      this.wrMm = this.createMm('wr', 'wr_mm');
      // One window of ALIAS_WINDOW_PAGES per CPU, so concurrent windows never share an alias.
      const slots = (ALIAS_MAX - ALIAS_MIN) / PAGE_SIZE - ALIAS_WINDOW_PAGES * this.m.cpuCount;
      this.aliasBase = ALIAS_MIN + Math.floor(this.m.random() * slots) * PAGE_SIZE;
    }
  }

  private get kernelMm(): Mm {
    if (!this.kmm) throw new StateError('ENOKERNELMM', 'no kernel mm yet');
    return this.kmm;
  }

  private ttbr0Of(mm: Mm): number {
    return mm === this.kmm ? this.kernelTtbr0 : mm.rootPa;
  }

  /** MSR TTBR0_EL1 (ASID in bits 48–63, TCR_EL1.A1 = 0) + ISB. No flush: entries are ASID-tagged. */
  switchMm(cpu: Cpu, mm: Mm): void {
    setTtbr(cpu, 'TTBR0_EL1', this.ttbr0Of(mm), mm.asid);
    loadMm(cpu, mm);
    if (this.m.trace.enabled) this.traceNote(cpu, { mm: mm.name, asid: mm.asid });
  }

  /** TLBI VAE1 (+ DSB NSH) on this CPU only. */
  flushLocalPage(cpu: Cpu, va: number): void {
    cpu.tlb.flushPage(va - (va % PAGE_SIZE), cpu.asid);
    this.m.counters.charge(cpu.id, EV.localFlushPage);
    if (this.m.trace.enabled) this.traceNote(cpu, { va: canonical(va), asid: cpu.asid });
  }

  /** Trace details of the instruction just charged (traced machines only). */
  private traceNote(cpu: Cpu, args: Record<string, unknown>): void {
    this.m.trace.annotate(cpu.id, args);
  }

  /**
   * flush_tlb_kernel_range(): one TLBI VAALE1IS per page, then DSB ISH — or TLBI
   * VMALLE1IS past MAX_TLBI_OPS pages. Hardware broadcasts: no IPI.
   */
  *flushKernelRange(cpu: Cpu, start: number, end: number): Steps {
    const pages = Math.ceil((end - start) / PAGE_SIZE);
    if (pages <= 0) return;
    if (pages > MAX_TLBI_OPS) {
      this.m.broadcastTlbi(cpu, 'TLBI VMALLE1IS', (t) => {
        t.tlb.flushAll();
      });
    } else {
      this.m.broadcastTlbi(cpu, `TLBI VAALE1IS x${pages}`, (t) => {
        t.tlb.flushRange(start, end);
      });
      if (pages > 1) this.m.counters.charge(cpu.id, EV.tlbiBroadcast, pages - 1);
    }
    yield `TLBI …IS ${canonical(start)}+${pages}p; DSB ISH`;
  }

  /** Stage 1's permission check first; stage 2's (or its missing mapping) only after it. */
  checkAccess(_cpu: Cpu, flags: number, access: number): number {
    if (access === ACC_WRITE && (flags & TLBF.W) === 0)
      return (flags & A64F.S1W) !== 0 ? FAULT.STAGE2 : FAULT.WRITE_PROTECT;
    if (access === ACC_EXEC && (flags & TLBF.X) === 0)
      return (flags & A64F.S1X) !== 0 ? FAULT.STAGE2 : FAULT.EXEC_PROTECT;
    if ((flags & A64F.S2NONE) !== 0) return FAULT.STAGE2;
    return 0;
  }

  /**
   * ESR and FAR as the CPU reports the fault. A stage-1 fault is taken to EL1 (EC "same
   * EL"); a stage-2 fault to EL2 (EC "lower EL") with HPFAR_EL2 holding the faulting IPA
   * (the table's, with S1PTW, for a fault on the walk). The level in the fault status is
   * the lookup that faulted: the invalid descriptor, or the leaf for a permission fault.
   * A descriptor fetch is a read, so WnR is 0 with S1PTW.
   */
  faultRecord(cpu: Cpu, va: number, access: number, code: number): FaultRecord {
    const exec = access === ACC_EXEC;
    const w = this.w;
    w.va = va;
    const mapped = this.pt.lookup(cpu.mm, va, w);
    const d = this.pt.diag;
    let stage: 1 | 2 = 1;
    let fsc: number = FSC.PERMISSION | this.pt.leafLevel;
    let s1ptw = false;
    let ipa = -1;
    if (code === FAULT.STAGE2) {
      stage = 2;
      if (mapped && w.fault === 0) {
        // Stage 1 allows it; stage 2 denies the write or fetch at its leaf.
        ipa = w.pa;
        const s2 = this.el2.stage2;
        s2.permOf(ipa);
        fsc = FSC.PERMISSION | s2.lastLevel;
      } else {
        s1ptw = d.s1ptw;
        ipa = d.ipa;
        fsc =
          (d.s2Kind === S2_FAULT.PERMISSION
            ? FSC.PERMISSION
            : d.s2Kind === S2_FAULT.ACCESS_FLAG
              ? FSC.ACCESS_FLAG
              : FSC.TRANSLATION) | d.level;
      }
    } else if (code === FAULT.NOT_PRESENT || !mapped) {
      fsc = FSC.TRANSLATION | d.level;
    }
    const ec = stage === 2 ? (exec ? EC.IABT_LOW : EC.DABT_LOW) : exec ? EC.IABT_CUR : EC.DABT_CUR;
    const wnr = !exec && !s1ptw && access === ACC_WRITE;
    const esr = ec * 2 ** 26 + ESR_IL + (s1ptw ? ISS_S1PTW : 0) + (wnr ? ISS_WNR : 0) + fsc;
    const page = ipa < 0 ? 0 : ipa - (ipa % PAGE_SIZE);
    return stage === 2
      ? {
          arch: 'arm64',
          el: 2,
          stage,
          esr,
          ec,
          wnr,
          s1ptw,
          fsc,
          far: va,
          hpfar: (page / PAGE_SIZE) * 16,
          ipa: page,
        }
      : { arch: 'arm64', el: 1, stage, esr, ec, wnr, s1ptw, fsc, far: va };
  }

  /** arch/arm64/mm/ptdump.c's kernel_page_tables format for the kernel mm; TTBR0 for others. */
  ptdump(mm: Mm): string {
    return arm64Ptdump(this.m, mm, mm === this.kmm ? this.ttbr1 : this.ttbr0Of(mm));
  }

  /** EL2's stage-2 tables in KVM's stage2_page_tables format. */
  stage2Ptdump(): string {
    return arm64Stage2Ptdump(this.m, this.el2.stage2.rootPa, S2_START_LEVEL, IPA_BITS);
  }

  /** A stage-1 writable mapping of a stage-2 read-only frame is not writable. */
  leafWritable(_mm: Mm, flags: number): boolean {
    return (flags & TLBF.W) !== 0 && (flags & A64F.S2RO) === 0;
  }

  /** A stage-2 fault is taken to EL2, which logs it; the kernel cannot fix it up. */
  onFault(cpu: Cpu, va: number, access: number, code: number): void {
    if (code !== FAULT.STAGE2) return;
    this.m.counters.charge(cpu.id, EV.stage2Fault);
    const ok = this.pt.lookup(cpu.mm, va, this.w);
    const d = this.pt.diag;
    const ipa = !ok
      ? 'no IPA'
      : this.w.fault === 0
        ? `IPA ${canonical(this.w.pa + (va % PAGE_SIZE))}`
        : d.s1ptw
          ? `IPA ${canonical(d.ipa)} (stage-1 table walk)`
          : `IPA ${canonical(this.w.pa + (va % PAGE_SIZE))}`;
    this.m.reportSecurityEvent({
      kind: 'stage2-fault',
      cpu: cpu.id,
      address: va,
      // ESR_EL2.ISS.SAS would give the size; the fault hook is not told it.
      size: 0,
      operation: ACCESS_NAMES[access] ?? 'access',
      detail: `stage-2 ${ACCESS_NAMES[access] ?? ''} fault at EL2 (${ipa}); not delivered to the kernel`,
    });
  }

  *setProtection(cpu: Cpu, start: number, end: number, level: ProtLevel): Steps {
    if (level !== 'rw' && level !== 'wr' && level !== 'ro')
      throw new InvalidArgumentError('level', level, "must be 'rw', 'wr' or 'ro'");
    for (const [v, what] of [
      [start, 'start'],
      [end, 'end'],
    ] as const) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < KERNEL_HALF || v > VA_LIMIT)
        throw new BadAddressError(v, `${what} must be a kernel (TTBR1) address`);
      if (v % PAGE_SIZE !== 0) throw new BadAddressError(v, `${what} must be page-aligned`);
    }
    if (end <= start)
      throw new InvalidArgumentError('range', end - start, 'end must be above start');
    const pas: number[] = [];
    for (let va = start; va < end; va += PAGE_SIZE) {
      if (!this.pt.lookup(this.kernelMm, va, this.w) || this.w.fault !== 0)
        throw new BadAddressError(va, 'not mapped in the kernel');
      pas.push(this.w.pa);
    }
    const size = end - start;
    const el2 = this.el2;
    // EL2 first: a refused registration leaves stage 1 untouched.
    if (level === 'rw') {
      if (this.registered.get(start) === end) {
        yield* el2.call(cpu, { fn: 'unregister', start, size });
        this.registered.delete(start);
      }
    } else if (level === 'ro' || this.needs.el2WriteRare) {
      // EL2 protection is monotonic unless the memory was allocated reclaimable (HKIP's
      // *_RECL pools): the image and non-reclaimable areas are registered for good.
      const area = this.m.findArea(start);
      const reclaimable = area?.reclaimable;
      yield* el2.call(cpu, {
        fn: level === 'ro' ? 'register_ro' : 'register_rowm',
        start,
        size,
        reclaimable,
      });
      this.registered.set(start, end);
    }
    const prot = { write: level === 'rw', exec: false, global: true };
    const aliases: number[] = [];
    for (let i = 0; i < pas.length; i++) {
      this.pt.protect(this.kernelMm, start + i * PAGE_SIZE, prot);
      const alias = this.m.directMapVa(pas[i]);
      if (alias >= start && alias < end) continue;
      // rodata=on: the linear map is not changed at all (can_set_direct_map() is false).
      if (this.linearMap === 'blocks') continue;
      // BBML2_NOABORT: the block is split in place; the alias's TLBI below drops the old
      // block's entry (a stale block entry beside new pages cannot abort on such a CPU).
      for (let n = this.pt.splitBlock(this.kernelMm, alias); n > 0; ) {
        this.cpaSplits++;
        this.m.counters.charge(cpu.id, EV.cpaSplit);
        this.m.counters.charge(cpu.id, EV.pteWrite, n);
        this.m.trace.instant(cpu.id, 'split linear-map block', 'cpa', { va: canonical(alias) });
        n = this.pt.splitBlock(this.kernelMm, alias);
      }
      if (this.pt.protect(this.kernelMm, alias, prot)) aliases.push(alias);
    }
    this.m.counters.charge(cpu.id, EV.pteWrite, pas.length + aliases.length);
    yield 'stage-1 PTEs and linear-map aliases';
    yield* this.flushKernelRange(cpu, start, end);
    // change_memory_common() flushes each linear-map alias page on its own.
    for (const a of aliases) yield* this.flushKernelRange(cpu, a, a + PAGE_SIZE);
  }

  mechanism(name: string): WriteRareMechanism {
    const plugin = pluginOf(name);
    if (!plugin) throw new UnknownMechanismError('arm64', name, MECHANISMS);
    if (name !== this.m.mechanismName)
      throw new StateError(
        'EMECHANISM',
        `this machine was built for ${this.m.mechanismName}; ${name} needs its own machine (its stage-2 registrations differ)`,
        { mechanism: name },
      );
    return plugin.create(this);
  }

  aliasMms(): readonly Mm[] {
    return this.needs.aliasMm && this.wrMm ? [this.wrMm] : [];
  }
}

/** Stores a TTBR as two u32 halves in cpu.regs (`<name>_LO`, `<name>_HI`). */
function setTtbr(cpu: Cpu, name: 'TTBR0_EL1' | 'TTBR1_EL1', base: number, asid: number): void {
  // Constant keys: a key built per write was a string concatenation on every switch.
  const keys = name === 'TTBR0_EL1' ? TTBR0_KEYS : TTBR1_KEYS;
  cpu.regs[keys[0]] = base >>> 0;
  cpu.regs[keys[1]] = ((asid << 16) | paHi(base)) >>> 0;
}

const TTBR0_KEYS = ['TTBR0_EL1_LO', 'TTBR0_EL1_HI'] as const;
const TTBR1_KEYS = ['TTBR1_EL1_LO', 'TTBR1_EL1_HI'] as const;

export { ARM64_LAYOUT };
