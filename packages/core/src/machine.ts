import { checkRange, checkVa, PAGE_SIZE } from './addr.js';
import type {
  ArchImpl,
  Backend,
  ProtLevel,
  PteProt,
  Steps,
  WriteRareMechanism,
} from './backend.js';
import { WalkResult } from './backend.js';
import { costVector, type EventName } from './costs.js';
import { drain } from './drain.js';
import { Cpu } from './cpu.js';
import { InvalidArgumentError, StateError, UnknownMechanismError } from './errors.js';
import { type AuditFinding, auditProtections } from './audit.js';
import { resetMachineStats, machineStats } from './machine-stats.js';
import type { Mm, MmKind } from './mm.js';
import { MmRoom } from './mms.js';
import { PhysMem } from './phys.js';
import { type MachineLayout, poolLayout } from './pool-layout.js';
import { ProtectionRoom } from './protection.js';
import { type PtdumpOptions, ptdump } from './ptdump.js';
import { mulberry32 } from './rng.js';
import { ImageRoom, type Section, type SectionName, type StaticSymbol } from './sections.js';
import { type SecurityEvent, SecurityRoom } from './security.js';
import { type IpiRound, SmpRoom } from './smp.js';
import { Counters, type MachineStats } from './stats.js';
import { TracedCounters, Trace } from './trace.js';
import { tracedMechanism } from './trace-window.js';
import type { AreaOwner, VmapArea } from './vmap.js';
import { type VaReserve, type VfreeOptions, type VmallocOptions, VmallocRoom } from './vmalloc.js';

// The rooms' public types, where they have always been importable from.
export { drain } from './drain.js';
export { type MachineLayout, poolLayout } from './pool-layout.js';
export { SECTIONS, type Section, type SectionName, type StaticSymbol } from './sections.js';
export type { SecurityEvent } from './security.js';
export { RESERVE_GRANULE, VaReserve, type VfreeOptions, type VmallocOptions } from './vmalloc.js';

/** The direct map's protection: RW, NX, global (one object, for every frame). */
const PAGE_KERNEL: PteProt = { write: true, exec: false, global: true };

/** The resolved machine options (see config.ts for the user-facing schema). */
export interface MachineOptions {
  readonly backend: Backend;
  readonly mechanism?: string;
  readonly cpus?: number;
  readonly memoryMiB?: number;
  readonly tlbEntries?: number;
  readonly seed?: number;
  readonly trace?: boolean;
  readonly costs?: Partial<Record<EventName, number>>;
  readonly clockGHz?: number;
  /** Pages per static section. */
  readonly sectionPages?: number;
  /** Trace process id (one per run/backend in a combined trace). */
  readonly tracePid?: number;
  /**
   * Size of the reserved write-rare range in MiB (the read-only pool range that follows
   * it has the same size). Default: the backend's `layout.wrDefaultMiB`, else 64.
   */
  readonly wrRangeMiB?: number;
  /** Freed virtual ranges held back before reuse (0: reused right after the shootdown). */
  readonly vaQuarantine?: number;
}

/**
 * The simulated machine: physical memory, the kernel mm and its layout, CPUs with their
 * TLBs, the backend's architecture and write-rare mechanism, counters and a trace. Each
 * concept lives in a room of its own (the image and its static sections, mms, vmalloc,
 * protection, SMP work, write-rare windows and security events, stats); this class is
 * their one public face.
 */
export class Machine {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly; the
  // write-rare path reads them on every call (docs/decisions.md §9).
  declare readonly backend: Backend;
  declare readonly arch: ArchImpl;
  declare readonly layout: MachineLayout;
  declare readonly phys: PhysMem;
  declare readonly counters: Counters;
  declare readonly trace: Trace;
  declare readonly kernelMm: Mm;
  declare readonly cpuCount: number;
  declare readonly seed: number;
  declare readonly clockGHz: number;
  /** A deterministic random source (randomized alias bases, ...), seeded from the config. */
  declare readonly random: () => number;
  declare readonly mechanismName: string;
  private mech: WriteRareMechanism | undefined;
  private readonly cpus: Cpu[] = [];
  declare private readonly security: SecurityRoom;
  declare private readonly smp: SmpRoom;
  declare private readonly mmRoom: MmRoom;
  declare private readonly image: ImageRoom;
  declare private readonly areas: VmallocRoom;
  declare private readonly protection: ProtectionRoom;
  private readonly scratch = new WalkResult();
  private isDisposed = false;

  constructor(opts: MachineOptions) {
    const cpus = opts.cpus ?? 1;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 256) {
      throw new InvalidArgumentError('cpus', cpus, 'must be an integer in [1, 256]');
    }
    const tlbEntries = opts.tlbEntries ?? 1024;
    if (
      !Number.isInteger(tlbEntries) ||
      tlbEntries < 8 ||
      tlbEntries > 65536 ||
      (tlbEntries & (tlbEntries - 1)) !== 0
    ) {
      throw new InvalidArgumentError(
        'tlbEntries',
        tlbEntries,
        'must be a power of two in [8, 65536]',
      );
    }
    this.backend = opts.backend;
    this.layout = poolLayout(opts.backend, opts.wrRangeMiB);
    const vaq = opts.vaQuarantine ?? 0;
    if (!Number.isInteger(vaq) || vaq < 0 || vaq > 65536)
      throw new InvalidArgumentError('vaQuarantine', vaq, 'must be an integer in [0, 65536]');
    this.cpuCount = cpus;
    this.seed = opts.seed ?? 1;
    this.clockGHz = opts.clockGHz ?? 3;
    this.random = mulberry32(this.seed);
    const mechanism = opts.mechanism ?? opts.backend.defaultMechanism;
    if (!opts.backend.mechanisms.includes(mechanism)) {
      throw new UnknownMechanismError(opts.backend.name, mechanism, opts.backend.mechanisms);
    }
    this.mechanismName = mechanism;
    this.phys = new PhysMem(opts.memoryMiB ?? 64);
    const cost = costVector(opts.backend.costs, opts.costs);
    // A traced machine draws every charged event; an untraced one keeps the plain class.
    const counters = opts.trace ? new TracedCounters(cpus, cost) : new Counters(cpus, cost);
    this.counters = counters;
    this.trace = new Trace(
      opts.trace ?? false,
      this.counters,
      opts.tracePid ?? 1,
      `${opts.backend.name}/${mechanism}`,
      this.clockGHz,
      opts.backend.traceLabels,
    );
    if (counters instanceof TracedCounters) counters.trace = this.trace;
    this.security = new SecurityRoom(cpus, this.phys, this.counters, this.trace);
    this.smp = new SmpRoom(this.cpus, this.counters, this.trace);
    this.mmRoom = new MmRoom(this, this.cpus, this.security);
    this.image = new ImageRoom(this);
    this.areas = new VmallocRoom(this, this.cpus, this.security, vaq);
    this.protection = new ProtectionRoom(this, this.image, this.areas, this.security);

    this.arch = opts.backend.attach(this);
    this.kernelMm = this.arch.createMm('kernel', 'init_mm');
    for (let i = 0; i < cpus; i++) {
      const cpu = new Cpu(i, this, this.phys, this.counters, tlbEntries, this.kernelMm);
      cpu.bindArch(this.arch);
      this.cpus.push(cpu);
    }
    this.mapDirectMap();
    this.image.mapSections(opts.sectionPages ?? 4);
    this.arch.boot?.();
    this.resetStats();
  }

  /** The direct map of all physical memory: RW, NX, global (PAGE_KERNEL), in the arch's page sizes. */
  private mapDirectMap(): void {
    if (this.arch.mapDirectMap) {
      this.arch.mapDirectMap(this.kernelMm, this.phys.frameCount);
      return;
    }
    const { directMap } = this.layout;
    const pt = this.arch.pt;
    for (let pfn = 0; pfn < this.phys.frameCount; pfn++)
      pt.map(this.kernelMm, directMap + pfn * PAGE_SIZE, pfn * PAGE_SIZE, PAGE_KERNEL);
  }

  // ---- CPUs and mms ------------------------------------------------------------------

  cpu(i: number): Cpu {
    if (!Number.isInteger(i) || i < 0 || i >= this.cpuCount || this.disposed) {
      this.alive();
      throw new InvalidArgumentError('cpu', i, `must be an integer in [0, ${this.cpuCount})`);
    }
    return this.cpus[i];
  }

  /** Registers an mm created by the arch (called by ArchImpl.createMm implementations). */
  registerMm(kind: MmKind, name: string, rootPa: number, asid?: number): Mm {
    return this.mmRoom.register(kind, name, rootPa, asid);
  }

  /** The id the next registered mm gets (backends that tag table frames with it). */
  get nextMmIdValue(): number {
    return this.mmRoom.nextId;
  }

  /**
   * Retires an mm nobody runs any more (a destroyed pool's alias mm): its tables are
   * freed, and its ASID is handed out again only after every TLB dropped its entries, so
   * a new mm in its place starts with a fresh context.
   */
  retireMm(mm: Mm): void {
    this.mmRoom.retire(mm);
  }

  get mms(): readonly Mm[] {
    return this.mmRoom.live;
  }

  createMm(kind: MmKind, name: string): Mm {
    this.alive();
    return this.arch.createMm(kind, name);
  }

  /**
   * A context switch to `mm`. An alias mm (kind 'wr') is loaded only by its write-rare
   * mechanism, inside a window, as only text_poke loads poking_mm: asked for here, it is
   * refused and recorded.
   */
  switchMm(cpu: Cpu, mm: Mm): void {
    this.mmRoom.switchMm(cpu, mm);
  }

  /** The write-rare mechanism the machine was built with. */
  get mechanism(): WriteRareMechanism {
    if (!this.mech) {
      const mech = this.arch.mechanism(this.mechanismName);
      this.mech = this.trace.enabled ? tracedMechanism(mech, this) : mech;
    }
    return this.mech;
  }

  // ---- static sections ---------------------------------------------------------------

  /** Reserves a static variable in a section (before finishBoot, as the linker would). */
  defineStatic(section: SectionName, size: number, name: string): number {
    return this.image.defineStatic(section, size, name);
  }

  symbol(name: string): StaticSymbol | undefined {
    return this.image.symbol(name);
  }

  section(name: SectionName): Section {
    return this.image.section(name);
  }

  /** The static section containing [va, va+len), or undefined. */
  sectionOf(va: number, len = 1): Section | undefined {
    return this.image.sectionOf(va, len);
  }

  get booted(): boolean {
    return this.image.booted;
  }

  /** mark_rodata_ro(): .rodata and .data..ro_after_init read-only, .data..wr_after_init write-rare. */
  finishBoot(cpu = 0): void {
    this.image.finishBoot((start, size, level) => this.protect(start, size, level, cpu));
  }

  // ---- vmalloc areas -----------------------------------------------------------------

  /**
   * An owner handle for areas (a pool, a subsystem). Only the holder of the handle may
   * protect or free the areas allocated with it; an id alone proves nothing.
   */
  registerOwner(name: string): AreaOwner {
    return this.areas.registerOwner(name);
  }

  /**
   * Gives an owner handle back once it owns nothing (a destroyed pool): the machine
   * forgets it, and the backend drops what it kept per owner (x86's per-pool alias mm is
   * retired). Only the holder can name the handle.
   */
  releaseOwner(owner: AreaOwner, cpu = 0): void {
    this.areas.releaseOwner(owner, cpu);
  }

  /**
   * Reserves `bytes` (whole pages) of a range for one owner: only vmalloc calls that name
   * this reserve and its owner allocate there, so an address inside it names the owner
   * with a range check. Given back with `releaseVa` once nothing is allocated in it.
   */
  reserveVa(
    bytes: number,
    opts: { range: 'wr' | 'ro' | 'vmalloc'; owner: AreaOwner; name?: string },
  ): VaReserve {
    return this.areas.reserveVa(bytes, opts);
  }

  /** The live reserve containing `va`, or undefined: one lookup by its 2 MiB granule. */
  reserveOf(va: number): VaReserve | undefined {
    return this.areas.reserveOf(va);
  }

  /** Gives a reserve back to its range (its owner's handle; nothing may be allocated in it). */
  releaseVa(reserve: VaReserve, owner: AreaOwner): void {
    this.areas.releaseVa(reserve, owner);
  }

  /** Allocates and maps a virtually contiguous area (RW), all or nothing. */
  vmalloc(size: number, opts: VmallocOptions = {}): VmapArea {
    this.alive();
    return this.areas.vmalloc(size, opts);
  }

  /**
   * Unmaps an area and releases (or quarantines) its frames, with the needed shootdown.
   * An owned area needs its owner's handle; an area a write-rare window is writing is
   * busy. Every argument is checked before anything changes.
   */
  vfree(area: VmapArea, opts: VfreeOptions = {}, cpu = 0): void {
    this.areas.vfree(area, opts, cpu);
  }

  /** The live area containing `va` (address → page → area, as vmalloc_to_page()->private). */
  findArea(va: number): VmapArea | undefined {
    return this.areas.findArea(va);
  }

  /** The live area with this id (a freed area's id names nothing: ids are never reused). */
  areaById(id: number): VmapArea | undefined {
    return this.areas.areaById(id);
  }

  get liveAreas(): readonly VmapArea[] {
    return this.areas.liveAreas;
  }

  /** O(1): does `va` lie in the reserved write-rare range? (RO pools are not there.) */
  inWrRange(va: number): boolean {
    return va >= this.layout.wrStart && va < this.layout.wrEnd;
  }

  /** O(1): does `va` lie in the read-only pool range? */
  inRoRange(va: number): boolean {
    return va >= this.layout.roStart && va < this.layout.roEnd;
  }

  /** Owner handles issued and not released (a destroyed pool releases its own). */
  get liveOwners(): number {
    return this.areas.liveOwners;
  }

  /** Live reserves (audits, tests). */
  get liveReserves(): readonly VaReserve[] {
    return this.areas.liveReserves;
  }

  /**
   * Bytes of each VA range handed out and not given back (areas with their guard pages,
   * reserves, and ranges waiting out the VA quarantine).
   */
  vaInUse(): { vmalloc: number; wr: number; ro: number } {
    return this.areas.vaInUse();
  }

  // ---- protection --------------------------------------------------------------------

  /**
   * Moves kernel pages [start, start+len) to `level`, only toward more restrictive
   * (rw → wr → ro) and never past the ceiling of the memory behind them (an area's,
   * fixed at allocation; `.data..wr_after_init` stays write-rare). An owned area is
   * protected only whole and only with its owner's handle. Checks everything before
   * changing anything.
   */
  protect(start: number, len: number, level: ProtLevel, cpu = 0, owner?: AreaOwner): void {
    this.alive();
    drain(this.protection.protectSteps(start, len, level, cpu, owner));
  }

  protectSteps(start: number, len: number, level: ProtLevel, cpu = 0, owner?: AreaOwner): Steps {
    this.alive();
    return this.protection.protectSteps(start, len, level, cpu, owner);
  }

  /** The protection level of the frame behind a kernel VA, or undefined if unmapped. */
  protectionOf(va: number): ProtLevel | undefined {
    return this.protection.protectionOf(va);
  }

  frameLevel(pfn: number): ProtLevel {
    return this.protection.frameLevel(pfn);
  }

  // ---- open windows pin their target frames -------------------------------------------

  /**
   * A write-rare window on `cpu` starts writing frame `pfn` (resolved when the window was
   * built): it must still be write-rare memory of the same area, and it stays pinned
   * (vfree and protect-to-ro refuse it) until `unpinFrame`. Throws, with a security
   * event, if the frame changed under the window.
   */
  pinFrame(cpu: Cpu, pfn: number, areaId: number): void {
    this.security.pinFrame(cpu, pfn, areaId);
  }

  unpinFrame(pfn: number): void {
    this.security.unpinFrame(pfn);
  }

  /** Open windows targeting `pfn` (audits, tests). */
  framePins(pfn: number): number {
    return this.security.framePins(pfn);
  }

  // ---- software views of memory ------------------------------------------------------

  /** Software translation through an mm's tables (no TLB, no A/D): the PA, or -1. */
  translate(va: number, mm: Mm = this.kernelMm): number {
    checkVa(va);
    const w = this.scratch;
    if (!this.arch.pt.lookup(mm, va, w) || w.fault !== 0) return -1;
    return w.pa + (va % PAGE_SIZE);
  }

  /**
   * The bytes at [va, va+len) as the tables map them, read straight from physical memory:
   * no TLB, no A/D bits, no counters (a debugger's view). Null if any page is unmapped.
   */
  peek(va: number, len: number, mm: Mm = this.kernelMm): Uint8Array | null {
    checkRange(va, len, true);
    const out = new Uint8Array(len);
    const w = this.scratch;
    for (let i = 0; i < len; ) {
      const at = va + i;
      if (!this.arch.pt.lookup(mm, at, w) || w.fault !== 0) return null;
      const off = at % PAGE_SIZE;
      const n = Math.min(len - i, PAGE_SIZE - off);
      out.set(this.phys.bytes.subarray(w.pa + off, w.pa + off + n), i);
      i += n;
    }
    return out;
  }

  /** The direct-map VA of a physical address. */
  directMapVa(pa: number): number {
    return this.layout.directMap + pa;
  }

  // ---- cross-CPU work ----------------------------------------------------------------

  /**
   * Sends an IPI from `from` to each target and runs `handler` there, one step per target;
   * the sender then waits for every acknowledgement (smp_call_function_many, wait=1).
   */
  ipi(from: Cpu, targets: readonly number[], name: string, handler: (target: Cpu) => void): Steps {
    return this.smp.ipi(from, targets, name, handler);
  }

  /**
   * The same IPIs as a step program (`run` delivers them all at once, without the steps'
   * labels); `handler(target, a, b)` gets `a` and `b` passed through, so a hot caller
   * binds it once rather than making a closure per round.
   */
  ipiRound(
    from: Cpu,
    targets: readonly number[],
    name: string,
    handler: (target: Cpu, a: number, b: number) => void,
    a: number,
    b: number,
  ): IpiRound {
    return this.smp.ipiRound(from, targets, name, handler, a, b);
  }

  /** A broadcast TLB maintenance instruction (TLBI …IS + DSB ISH): hardware updates every TLB. */
  broadcastTlbi(from: Cpu, name: string, fn: (target: Cpu) => void): void {
    this.smp.broadcastTlbi(from, name, fn);
  }

  /** Ids of every CPU but `cpu`. */
  otherCpus(cpu: Cpu): number[] {
    return this.smp.otherCpus(cpu);
  }

  // ---- write-rare windows and security events ----------------------------------------

  /** Mechanisms mark their window open on a CPU; audits allow its writable aliases there. */
  openWindow(cpu: Cpu): void {
    this.security.openWindow(cpu);
  }

  closeWindow(cpu: Cpu): void {
    this.security.closeWindow(cpu);
  }

  windowOpen(cpu: Cpu | number): boolean {
    return this.security.windowOpen(cpu);
  }

  reportSecurityEvent(ev: Omit<SecurityEvent, 'cycles'>): void {
    this.security.report(ev);
  }

  securityEvents(): readonly SecurityEvent[] {
    return this.security.list();
  }

  // ---- stats, audit, dumps -----------------------------------------------------------

  stats(): MachineStats {
    return machineStats(this.counters, this.cpus);
  }

  resetStats(): void {
    resetMachineStats(this.counters, this.cpus);
    this.trace.clear();
  }

  auditProtections(): AuditFinding[] {
    this.alive();
    return auditProtections(this, this.cpus);
  }

  /**
   * The mm's page tables in the architecture kernel's own ptdump format when the backend
   * has one and no range is asked; otherwise the generic run-per-line format.
   */
  ptdump(mm: Mm = this.kernelMm, opts: PtdumpOptions = {}): string {
    this.alive();
    if (this.arch.ptdump && opts.start === undefined && opts.end === undefined)
      return this.arch.ptdump(mm);
    return ptdump(this, mm, opts);
  }

  toChromeTrace() {
    return this.trace.toChromeTrace(this.cpuCount);
  }

  // ---- lifetime ----------------------------------------------------------------------

  /**
   * Ends the machine: its physical memory goes to the next machine of the same size
   * (moved, not copied, and zeroed there, so that one reads exactly as new memory). A
   * program that builds machine after machine (a fuzzer, a sweep) calls it when done
   * with one: allocating the memory was most of building a machine. Afterwards the
   * machine's entry points refuse (`EDISPOSED`), every view of its memory is detached,
   * and every TLB is empty, so an access through a `Cpu` kept from before walks empty
   * tables and faults. A second call does nothing.
   */
  dispose(): void {
    if (this.isDisposed) return;
    this.isDisposed = true;
    for (const cpu of this.cpus) cpu.tlb.flushAll();
    this.phys.release();
  }

  /** Whether `dispose` ran (or the memory was released behind the machine's back). */
  get disposed(): boolean {
    return this.isDisposed || this.phys.released;
  }

  private alive(): void {
    if (this.disposed)
      throw new StateError(
        'EDISPOSED',
        `machine ${this.backend.name}/${this.mechanismName} was disposed`,
      );
  }
}
