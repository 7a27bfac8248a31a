import { canonical, checkRange, checkSize, checkVa, PAGE_SIZE, pageUp } from './addr.js';
import {
  type ArchImpl,
  type Backend,
  type KernelLayout,
  PROT_ORDER,
  type ProtLevel,
  type Steps,
  WalkResult,
  type WriteRareMechanism,
} from './backend.js';
import * as costs from './costs.js';
import { costVector, EVENT_COUNT, EVENT_NAMES, type EventName } from './costs.js';
import { Cpu } from './cpu.js';
import {
  BadAddressError,
  InvalidArgumentError,
  OutOfMemoryError,
  StateError,
  UnknownMechanismError,
} from './errors.js';
import { Mm, type MmKind } from './mm.js';
import { deadlock, WAIT_STEP } from './mutex.js';
import * as phys from './phys.js';
import { PG_PROTECTED, PhysMem } from './phys.js';
import {
  type CpuStats,
  Counters,
  type EventCounts,
  emptyCounts,
  type MachineStats,
} from './stats.js';
import { MAX_ASID } from './tlb.js';
import { TracedCounters, Trace } from './trace.js';
import { tracedMechanism } from './trace-window.js';
import { AreaOwner, areaState, VM, VmapArea } from './vmap.js';
import { VaSpace } from './vaspace.js';
import { auditProtections, type AuditFinding } from './audit.js';
import { ptdump, type PtdumpOptions } from './ptdump.js';
import { mulberry32 } from './rng.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { EV } = costs;
const { PG } = phys;

/** MiB in bytes. */
const MIB = 1024 * 1024;
/** Reserves take whole, aligned 2 MiB granules of their range. */
export const RESERVE_GRANULE = 2 * MIB;

/** The static sections a caller can reserve variables in. */
export const SECTIONS = [
  '.rodata',
  '.data..ro_after_init',
  '.data..wr_after_init',
  '.data',
] as const;
export type SectionName = (typeof SECTIONS)[number];
/** The protection each section gets at finishBoot() (mark_rodata_ro). */
const SECTION_LEVEL: Readonly<Record<SectionName, ProtLevel>> = {
  '.rodata': 'ro',
  '.data..ro_after_init': 'ro',
  '.data..wr_after_init': 'wr',
  '.data': 'rw',
};

export interface Section {
  readonly name: SectionName;
  readonly start: number;
  readonly size: number;
  /** Frame of each page: the kernel image is physically fixed (`__pa_symbol`, no walk). */
  readonly pfns: Int32Array;
  used: number;
}

export interface StaticSymbol {
  readonly name: string;
  readonly va: number;
  readonly size: number;
  readonly section: SectionName;
}

export interface SecurityEvent {
  /** What was refused or caught: 'wr-refused', 'stage2-fault', 'hvc-refused', ... */
  readonly kind: string;
  readonly cpu: number;
  readonly address: number;
  readonly size: number;
  /** The operation that was attempted (wrAssign, HVC write_64, plain write, ...). */
  readonly operation: string;
  readonly detail: string;
  /** The CPU's clock when it happened. */
  readonly cycles: number;
}

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

/** The machine's layout: the backend's, with the pool ranges sized by the config. */
export interface MachineLayout extends KernelLayout {
  /** The read-only pool range: RO pools allocate here, apart from write-rare targets. */
  readonly roStart: number;
  readonly roEnd: number;
}

/** A sub-range of a pool range, reserved for one owner (`reserveVa`): only it allocates there. */
export class VaReserve {
  /** @internal made by Machine.reserveVa */
  constructor(
    readonly id: number,
    readonly name: string,
    readonly range: 'wr' | 'ro' | 'vmalloc',
    readonly start: number,
    readonly end: number,
    /** @internal */ readonly space: VaSpace,
    /** @internal */ readonly ownerId: number,
  ) {}

  /** Bytes of areas (with their guard pages) allocated in it now. */
  get used(): number {
    return this.space.inUse;
  }
}

export interface VmallocOptions {
  /**
   * 'vmalloc' (the general range), 'wr' (the reserved write-rare range) or 'ro' (the
   * read-only pool range).
   */
  readonly range?: 'vmalloc' | 'wr' | 'ro';
  /** Allocate inside this reserved sub-range (`reserveVa`; same owner, same range). */
  readonly reserve?: VaReserve;
  /** VM_PMALLOC* flags (VM.ALLOC and VM.WR_RANGE are the machine's to set). */
  readonly flags?: number;
  /**
   * The owner handle from `registerOwner`: only its holder may then protect or free the
   * area. Without one, the area is anybody's (plain vmalloc memory).
   */
  readonly owner?: AreaOwner;
  /** The most restrictive level the area may ever reach (default 'ro'). */
  readonly ceiling?: 'wr' | 'ro';
  /**
   * May its protection be released when it is freed (default true)? A protected area
   * that is not reclaimable keeps its frames protected for good: vfree unmaps it and
   * parks the frames (HKIP's *_NO_RECL pools).
   */
  readonly reclaimable?: boolean;
  readonly name?: string;
}

export interface VfreeOptions {
  /** Scrub and keep the frames out of the free list (a destroyed pool's quarantine). */
  readonly quarantine?: boolean;
  /** The owner handle the area was allocated with (required for an owned area). */
  readonly owner?: AreaOwner;
}

const VMALLOC_KEYS = [
  'range',
  'reserve',
  'flags',
  'owner',
  'ceiling',
  'reclaimable',
  'name',
] as const;
const VFREE_KEYS = ['quarantine', 'owner'] as const;
/** Area flags a caller may pass (the rest are the machine's). */
const CALLER_VM_FLAGS = VM.PMALLOC | VM.PMALLOC_WR;

/**
 * The simulated machine: physical memory, the kernel mm and its layout, CPUs with their
 * TLBs, the backend's architecture and write-rare mechanism, counters and a trace.
 */
export class Machine {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
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
  /** Live mms by id (a retired mm leaves: ids are never reused). */
  private readonly mmMap = new Map<number, Mm>();
  private nextMmId = 0;
  /** ASIDs of retired mms, handed out again after a flush of every TLB. */
  private readonly freeAsids: number[] = [];
  /** Live areas by id (ids are never reused: a stale handle never names a new area). */
  private readonly areas = new Map<number, VmapArea>();
  private nextAreaId = 0;
  /** The owner handle of each live owned area, by area id. */
  private readonly areaOwners = new Map<number, AreaOwner>();
  /** The VA space each live area came from (its range or a reserve). */
  private readonly areaSpaces = new Map<number, VaSpace>();
  private readonly reserves = new Map<number, VaReserve>();
  private readonly reserveByGranule = new Map<number, VaReserve>();
  private nextReserveId = 0;
  private readonly sectionMap = new Map<SectionName, Section>();
  /** The same sections as an array: `sectionOf` is on every write-rare check's path. */
  private readonly sectionList: Section[] = [];
  private readonly symbols = new Map<string, StaticSymbol>();
  private readonly secEvents: SecurityEvent[] = [];
  /** Live owner handles this machine issued, by id: a handle is honoured only if it is one of these. */
  private readonly ownerMap = new Map<number, AreaOwner>();
  private nextOwnerId = 0;
  declare private readonly windows: Int32Array;
  /** Per frame: open write-rare windows that target it (vfree and protect wait for them). */
  declare private readonly pins: Int32Array;
  declare private readonly spaces: Readonly<Record<'vmalloc' | 'wr' | 'ro', VaSpace>>;
  private nextAsid = 1;
  private bootDone = false;
  private readonly scratch = new WalkResult();

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
    this.windows = new Int32Array(cpus);
    this.pins = new Int32Array(this.phys.frameCount);
    const L = this.layout;
    this.spaces = {
      vmalloc: new VaSpace('vmalloc', L.vmallocStart, L.vmallocEnd, vaq),
      wr: new VaSpace('wr', L.wrStart, L.wrEnd, vaq),
      ro: new VaSpace('ro', L.roStart, L.roEnd, vaq),
    };

    this.arch = opts.backend.attach(this);
    this.kernelMm = this.arch.createMm('kernel', 'init_mm');
    for (let i = 0; i < cpus; i++) {
      const cpu = new Cpu(i, this, this.phys, this.counters, tlbEntries, this.kernelMm);
      cpu.bindArch(this.arch);
      this.cpus.push(cpu);
    }
    this.bootMappings(opts.sectionPages ?? 4);
    this.arch.boot?.();
    this.resetStats();
  }

  /** Registers an mm created by the arch (called by ArchImpl.createMm implementations). */
  registerMm(kind: MmKind, name: string, rootPa: number, asid?: number): Mm {
    if (
      asid === undefined &&
      kind !== 'kernel' &&
      this.nextAsid > MAX_ASID &&
      this.freeAsids.length === 0
    ) {
      // No rollover model: the 12-bit tag space (0xfff is the global tag) is exhausted.
      throw new OutOfMemoryError('ASIDs', 1, 0);
    }
    if (asid !== undefined && (!Number.isInteger(asid) || asid < 0 || asid > MAX_ASID)) {
      throw new InvalidArgumentError('asid', asid, `must be an integer in [0, ${MAX_ASID}]`);
    }
    let tag = asid ?? (kind === 'kernel' ? 0 : -1);
    if (tag < 0) {
      const reused = this.freeAsids.shift();
      if (reused === undefined) tag = this.nextAsid++;
      else {
        // A retired mm's ASID: its entries may still sit in any TLB (lazily dropped PCIDs
        // included), so every CPU drops them before the new mm can run with it.
        tag = reused;
        for (const c of this.cpus) c.tlb.flushAsid(tag);
      }
    }
    const mm = new Mm(this.nextMmId++, name, kind, rootPa, tag);
    this.mmMap.set(mm.id, mm);
    return mm;
  }

  /** The id the next registered mm gets (backends that tag table frames with it). */
  get nextMmIdValue(): number {
    return this.nextMmId;
  }

  /**
   * Retires an mm nobody runs any more (a destroyed pool's alias mm): its tables are
   * freed, and its ASID is handed out again only after every TLB dropped its entries, so
   * a new mm in its place starts with a fresh context.
   */
  retireMm(mm: Mm): void {
    if (!(mm instanceof Mm) || this.mmMap.get(mm.id) !== mm || mm.kind === 'kernel')
      throw new InvalidArgumentError('mm', mm, 'not a live non-kernel mm of this machine');
    for (const c of this.cpus)
      if (c.mm === mm)
        throw new StateError('EBUSY', `retireMm: CPU${c.id} runs ${mm.name}`, { cpu: c.id });
    this.arch.pt.destroy?.(mm);
    const root = mm.rootPa / PAGE_SIZE;
    const rootFrames = this.arch.rootFrames ?? 1;
    for (let i = 0; i < rootFrames; i++) {
      this.phys.frameFlags[root + i] &= ~PG.PAGETABLE;
      this.phys.freeFrame(root + i);
    }
    this.mmMap.delete(mm.id);
    this.freeAsids.push(mm.asid);
  }

  private bootMappings(sectionPages: number): void {
    const pt = this.arch.pt;
    const { directMap } = this.layout;
    // The direct map of all physical memory: RW, NX, global (PAGE_KERNEL), in the
    // architecture's page sizes when it says so.
    if (this.arch.mapDirectMap) this.arch.mapDirectMap(this.kernelMm, this.phys.frameCount);
    else
      for (let pfn = 0; pfn < this.phys.frameCount; pfn++) {
        pt.map(this.kernelMm, directMap + pfn * PAGE_SIZE, pfn * PAGE_SIZE, {
          write: true,
          exec: false,
          global: true,
        });
      }
    let va = this.layout.imageStart;
    for (const name of SECTIONS) {
      const pfns = this.phys.allocFrames(sectionPages);
      for (let i = 0; i < pfns.length; i++) {
        this.phys.frameFlags[pfns[i]] |= PG.KERNEL_IMAGE;
        pt.map(this.kernelMm, va + i * PAGE_SIZE, pfns[i] * PAGE_SIZE, {
          write: true,
          exec: false,
          global: true,
        });
      }
      const sec = {
        name,
        start: va,
        size: sectionPages * PAGE_SIZE,
        pfns: Int32Array.from(pfns),
        used: 0,
      };
      this.sectionMap.set(name, sec);
      this.sectionList.push(sec);
      va += sectionPages * PAGE_SIZE;
    }
  }

  // ---- CPUs and mms ------------------------------------------------------------------

  cpu(i: number): Cpu {
    if (!Number.isInteger(i) || i < 0 || i >= this.cpuCount) {
      throw new InvalidArgumentError('cpu', i, `must be an integer in [0, ${this.cpuCount})`);
    }
    return this.cpus[i];
  }

  get mms(): readonly Mm[] {
    return [...this.mmMap.values()];
  }

  createMm(kind: MmKind, name: string): Mm {
    return this.arch.createMm(kind, name);
  }

  /**
   * A context switch to `mm`. An alias mm (kind 'wr') is loaded only by its write-rare
   * mechanism, inside a window, as only text_poke loads poking_mm: asked for here, it is
   * refused and recorded.
   */
  switchMm(cpu: Cpu, mm: Mm): void {
    if (!(mm instanceof Mm) || this.mmMap.get(mm.id) !== mm)
      throw new InvalidArgumentError('mm', mm, 'not an mm of this machine');
    if (mm.kind === 'wr') {
      this.reportSecurityEvent({
        kind: 'switch-refused',
        cpu: cpu.id,
        address: mm.rootPa,
        size: 0,
        operation: 'switchMm',
        detail: `${mm.name} is an alias mm: only its mechanism loads it`,
      });
      throw new StateError('EPERM', `switchMm: ${mm.name} is loaded only by its mechanism`, {
        mm: mm.name,
      });
    }
    this.arch.switchMm(cpu, mm);
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
    const sec = this.sectionMap.get(section);
    if (!sec)
      throw new InvalidArgumentError('section', section, `must be one of ${SECTIONS.join(', ')}`);
    checkSize(size, false, sec.size);
    if (typeof name !== 'string' || name.length === 0)
      throw new InvalidArgumentError('name', name, 'must be a non-empty string');
    if (this.symbols.has(name))
      throw new InvalidArgumentError('name', name, 'symbol already defined');
    if (this.bootDone)
      throw new StateError('EBOOTDONE', `cannot define static ${name} after finishBoot()`, {
        name,
      });
    const align = Math.min(8, 2 ** Math.ceil(Math.log2(size)));
    const off = Math.ceil(sec.used / align) * align;
    if (off + size > sec.size)
      throw new OutOfMemoryError(`section ${section}`, size, sec.size - off);
    sec.used = off + size;
    const va = sec.start + off;
    this.symbols.set(name, { name, va, size, section });
    return va;
  }

  symbol(name: string): StaticSymbol | undefined {
    return this.symbols.get(name);
  }

  section(name: SectionName): Section {
    const s = this.sectionMap.get(name);
    if (!s) throw new InvalidArgumentError('section', name, 'unknown section');
    return s;
  }

  /** The static section containing [va, va+len), or undefined. */
  sectionOf(va: number, len = 1): Section | undefined {
    for (let i = 0; i < this.sectionList.length; i++) {
      const s = this.sectionList[i];
      if (va >= s.start && va + len <= s.start + s.size) return s;
    }
    return undefined;
  }

  get booted(): boolean {
    return this.bootDone;
  }

  /** mark_rodata_ro(): .rodata and .data..ro_after_init read-only, .data..wr_after_init write-rare. */
  finishBoot(cpu = 0): void {
    if (this.bootDone) throw new StateError('EBOOTDONE', 'finishBoot() was already called');
    for (const s of this.sectionMap.values()) {
      const level = SECTION_LEVEL[s.name];
      if (level !== 'rw') this.protect(s.start, s.size, level, cpu);
    }
    this.bootDone = true;
  }

  // ---- vmalloc areas -----------------------------------------------------------------

  /**
   * An owner handle for areas (a pool, a subsystem). Only the holder of the handle may
   * protect or free the areas allocated with it; an id alone proves nothing.
   */
  registerOwner(name: string): AreaOwner {
    if (typeof name !== 'string' || name.length === 0)
      throw new InvalidArgumentError('owner name', name, 'must be a non-empty string');
    const o = new AreaOwner(this.nextOwnerId++, name);
    this.ownerMap.set(o.id, o);
    return o;
  }

  /**
   * Gives an owner handle back once it owns nothing (a destroyed pool): the machine
   * forgets it, and the backend drops what it kept per owner (x86's per-pool alias mm is
   * retired). Only the holder can name the handle.
   */
  releaseOwner(owner: AreaOwner, cpu = 0): void {
    if (!this.isOwner(owner))
      throw new InvalidArgumentError('owner', owner, 'not a live handle from registerOwner()');
    this.cpu(cpu);
    for (const o of this.areaOwners.values())
      if (o === owner)
        throw new StateError('EBUSY', `releaseOwner: ${owner.name} still owns an area`, {
          owner: owner.name,
        });
    for (const r of this.reserves.values())
      if (r.ownerId === owner.id)
        throw new StateError('EBUSY', `releaseOwner: ${owner.name} still holds a reserve`, {
          owner: owner.name,
        });
    this.arch.releaseOwner?.(this.cpus[cpu], owner.id);
    this.ownerMap.delete(owner.id);
  }

  /** Whether `o` is a handle this machine issued. */
  private isOwner(o: unknown): o is AreaOwner {
    return o instanceof AreaOwner && this.ownerMap.get(o.id) === o;
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
    checkSize(bytes, false, 2 ** 47);
    checkOptions('reserveVa options', opts, ['range', 'owner', 'name']);
    const { range, owner } = opts;
    if (range !== 'vmalloc' && range !== 'wr' && range !== 'ro')
      throw new InvalidArgumentError('range', range, "must be 'vmalloc', 'wr' or 'ro'");
    if (!this.isOwner(owner))
      throw new InvalidArgumentError('owner', owner, 'not a handle from registerOwner()');
    const name = opts.name ?? owner.name;
    if (typeof name !== 'string') throw new InvalidArgumentError('name', name, 'must be a string');
    // Whole 2 MiB granules, so that `reserveOf` names the reserve of an address in O(1).
    const size = Math.ceil(bytes / RESERVE_GRANULE) * RESERVE_GRANULE;
    const space = this.spaces[range];
    const at = space.alloc(size, RESERVE_GRANULE);
    if (at < 0)
      throw new OutOfMemoryError(
        `${range} address space for the reserve of ${name}`,
        size,
        space.largestFree,
      );
    // The owner allocates from exactly the bytes it asked for; the rest of the last
    // granule stays unused (and names the same owner).
    const usable = pageUp(bytes);
    const r = new VaReserve(
      this.nextReserveId++,
      name,
      range,
      at,
      at + usable,
      new VaSpace(name, at, at + usable, 0),
      owner.id,
    );
    this.reserves.set(r.id, r);
    for (let g = at; g < at + size; g += RESERVE_GRANULE) this.reserveByGranule.set(g, r);
    return r;
  }

  /** The live reserve containing `va`, or undefined: one lookup by its 2 MiB granule. */
  reserveOf(va: number): VaReserve | undefined {
    if (typeof va !== 'number' || !Number.isInteger(va) || va < 0 || va >= 2 ** 48)
      return undefined;
    return this.reserveByGranule.get(va - (va % RESERVE_GRANULE));
  }

  /** Gives a reserve back to its range (its owner's handle; nothing may be allocated in it). */
  releaseVa(reserve: VaReserve, owner: AreaOwner): void {
    if (!(reserve instanceof VaReserve) || this.reserves.get(reserve.id) !== reserve)
      throw new InvalidArgumentError('reserve', reserve, 'not a live reserve of this machine');
    if (!this.isOwner(owner) || owner.id !== reserve.ownerId)
      throw new StateError('EPERM', `releaseVa: ${reserve.name} belongs to another owner`, {
        reserve: reserve.name,
      });
    if (reserve.space.inUse > 0)
      throw new StateError('EBUSY', `releaseVa: ${reserve.name} still holds areas`, {
        reserve: reserve.name,
      });
    const span = Math.ceil((reserve.end - reserve.start) / RESERVE_GRANULE) * RESERVE_GRANULE;
    this.spaces[reserve.range].free(reserve.start, span);
    this.reserves.delete(reserve.id);
    for (let g = reserve.start; g < reserve.start + span; g += RESERVE_GRANULE)
      this.reserveByGranule.delete(g);
  }

  /** Allocates and maps a virtually contiguous area (RW), all or nothing. */
  vmalloc(size: number, opts: VmallocOptions = {}): VmapArea {
    checkSize(size, false, this.phys.size);
    checkOptions('vmalloc options', opts, VMALLOC_KEYS);
    const reserve = opts.reserve;
    if (
      reserve !== undefined &&
      (!(reserve instanceof VaReserve) || this.reserves.get(reserve.id) !== reserve)
    )
      throw new InvalidArgumentError('reserve', reserve, 'not a live reserve of this machine');
    const range = opts.range ?? reserve?.range ?? 'vmalloc';
    if (range !== 'vmalloc' && range !== 'wr' && range !== 'ro')
      throw new InvalidArgumentError('range', range, "must be 'vmalloc', 'wr' or 'ro'");
    if (reserve && reserve.range !== range)
      throw new InvalidArgumentError(
        'range',
        range,
        `the reserve is in the ${reserve.range} range`,
      );
    const callerFlags = opts.flags ?? 0;
    if (!Number.isInteger(callerFlags) || (callerFlags & ~CALLER_VM_FLAGS) !== 0)
      throw new InvalidArgumentError('flags', callerFlags, 'only VM.PMALLOC and VM.PMALLOC_WR');
    if (opts.owner !== undefined && !this.isOwner(opts.owner))
      throw new InvalidArgumentError('owner', opts.owner, 'not a handle from registerOwner()');
    const ceiling = opts.ceiling ?? 'ro';
    if (ceiling !== 'wr' && ceiling !== 'ro')
      throw new InvalidArgumentError('ceiling', ceiling, "must be 'wr' or 'ro'");
    const reclaimable = opts.reclaimable ?? true;
    if (typeof reclaimable !== 'boolean')
      throw new InvalidArgumentError('reclaimable', reclaimable, 'must be a boolean');
    if (reserve && opts.owner?.id !== reserve.ownerId)
      throw new StateError('EPERM', `vmalloc: the reserve of ${reserve.name} is another owner's`, {
        reserve: reserve.name,
      });
    const id = this.nextAreaId;
    const name = opts.name ?? `vmalloc#${id}`;
    if (typeof name !== 'string') throw new InvalidArgumentError('name', name, 'must be a string');
    const bytes = pageUp(size);
    const pages = bytes / PAGE_SIZE;
    const space = reserve ? reserve.space : this.spaces[range];
    // Worst case for new tables: one per 512 pages per level below the root, plus a path.
    const tables = (this.arch.pt.levels - 1) * (Math.ceil(pages / 512) + 1);
    if (pages + tables > this.phys.freeFrames)
      throw new OutOfMemoryError(
        `physical frames (${pages} for the area, up to ${tables} for its page tables)`,
        pages + tables,
        this.phys.freeFrames,
      );
    // The guard page that follows every area is taken too, but is not usable space: the
    // message counts only what a caller could allocate.
    const start = space.alloc(bytes + PAGE_SIZE);
    if (start < 0)
      throw new OutOfMemoryError(
        reserve
          ? `the range reserved for ${reserve.name} (${reserve.end - reserve.start} bytes)`
          : `${range} address space`,
        bytes,
        Math.max(0, space.largestFree - PAGE_SIZE),
      );
    this.nextAreaId++;
    const ownerId = opts.owner ? opts.owner.id : -1;
    const pfns = this.phys.allocFrames(pages, ownerId);
    this.arch.vmapFrames?.(this.cpus[0], pfns);
    for (let i = 0; i < pages; i++) {
      this.phys.frameFlags[pfns[i]] |= PG.VMALLOC;
      this.phys.frameArea[pfns[i]] = id;
      this.arch.pt.map(this.kernelMm, start + i * PAGE_SIZE, pfns[i] * PAGE_SIZE, {
        write: true,
        exec: false,
        global: true,
      });
    }
    this.counters.charge(0, EV.pteWrite, pages);
    const flags = callerFlags | VM.ALLOC | (range === 'wr' ? VM.WR_RANGE : 0);
    const area = new VmapArea(id, start, bytes, flags, pfns, name, ownerId, ceiling, reclaimable);
    this.areas.set(id, area);
    if (opts.owner) this.areaOwners.set(id, opts.owner);
    this.areaSpaces.set(id, space);
    return area;
  }

  /**
   * Unmaps an area and releases (or quarantines) its frames, with the needed shootdown.
   * An owned area needs its owner's handle; an area a write-rare window is writing is
   * busy. Every argument is checked before anything changes.
   */
  vfree(area: VmapArea, opts: VfreeOptions = {}, cpu = 0): void {
    if (!(area instanceof VmapArea) || (!area.freed && this.areas.get(area.id) !== area))
      throw new InvalidArgumentError('area', area, 'not an area of this machine');
    checkOptions('vfree options', opts, VFREE_KEYS);
    if (opts.quarantine !== undefined && typeof opts.quarantine !== 'boolean')
      throw new InvalidArgumentError('quarantine', opts.quarantine, 'must be a boolean');
    const c = this.cpu(cpu);
    if (area.freed)
      throw new StateError('EDOUBLEFREE', `area ${area.name} was already freed`, { area: area.id });
    this.checkOwner(c, area, opts.owner, 'vfree');
    this.checkNotPinned(c, area.pfns, 'vfree', area.start);
    // A protected area that is not reclaimable keeps its frames protected for good: it is
    // unmapped, and its frames never go back to the allocator.
    const keep = area.level !== 'rw' && !area.reclaimable;
    // Protection is released only here, when the memory goes away (the hypervisor
    // unregisters the range; the direct-map alias becomes writable again).
    if (area.level !== 'rw' && !keep) drain(this.arch.setProtection(c, area.start, area.end, 'rw'));
    for (let i = 0; i < area.pfns.length; i++)
      this.arch.pt.unmap(this.kernelMm, area.start + i * PAGE_SIZE);
    this.counters.charge(cpu, EV.pteWrite, area.pfns.length);
    drain(this.arch.flushKernelRange(c, area.start, area.end));
    // Table pages the area alone used are empty now: freed, as free_pgd_range() does.
    this.arch.pt.pruneTables?.(this.kernelMm, area.start, area.end);
    if (!keep) this.arch.vunmapFrames?.(c, area.pfns);
    for (const pfn of area.pfns) {
      this.phys.frameArea[pfn] = -1;
      if (keep) {
        this.phys.frameFlags[pfn] |= PG.QUARANTINED;
        continue;
      }
      this.phys.bytes.fill(0, pfn * PAGE_SIZE, (pfn + 1) * PAGE_SIZE);
      this.phys.frameFlags[pfn] &= ~(PG_PROTECTED | PG.VMALLOC);
      if (opts.quarantine) this.phys.frameFlags[pfn] |= PG.QUARANTINED;
      else this.phys.freeFrame(pfn);
    }
    areaState.markFreed(area);
    if (!keep) areaState.setLevel(area, 'rw');
    this.areaOwners.delete(area.id);
    this.areas.delete(area.id);
    // No CPU translates the range any more (the shootdown above): it, and its guard
    // page, may be handed out again once the VA quarantine has passed it — except the
    // range of memory protected for good, which stays its own (EL2 keeps it registered).
    if (!keep) this.areaSpaces.get(area.id)?.free(area.start, area.size + PAGE_SIZE);
    this.areaSpaces.delete(area.id);
  }

  /** Refuses (with a security event) a change to an owned area by anyone but its owner. */
  private checkOwner(cpu: Cpu, area: VmapArea, owner: unknown, op: string): void {
    const o = this.areaOwners.get(area.id);
    if (o === undefined || owner === o) return;
    this.reportSecurityEvent({
      kind: 'owner-refused',
      cpu: cpu.id,
      address: area.start,
      size: area.size,
      operation: op,
      detail: `${area.name} belongs to ${o.name}`,
    });
    throw new StateError('EPERM', `${op}: ${area.name} belongs to ${o.name}`, {
      area: area.id,
      owner: o.name,
    });
  }

  private checkNotPinned(cpu: Cpu, pfns: readonly number[], op: string, va: number): void {
    for (const pfn of pfns) {
      if (this.pins[pfn] === 0) continue;
      this.reportSecurityEvent({
        kind: 'busy-refused',
        cpu: cpu.id,
        address: va,
        size: pfns.length * PAGE_SIZE,
        operation: op,
        detail: `frame ${pfn} is the target of an open write-rare window`,
      });
      throw new StateError('EBUSY', `${op}: a write-rare window is writing frame ${pfn}`, {
        pfn,
      });
    }
  }

  /** The live area containing `va` (address → page → area, as vmalloc_to_page()->private). */
  findArea(va: number): VmapArea | undefined {
    if (typeof va !== 'number' || !Number.isInteger(va) || va < 0 || va >= 2 ** 48)
      return undefined;
    const w = this.scratch;
    if (!this.arch.pt.lookup(this.kernelMm, va, w) || w.fault !== 0) return undefined;
    const id = this.phys.frameArea[w.pa / PAGE_SIZE];
    if (id < 0) return undefined;
    const a = this.areas.get(id);
    return a && !a.freed && a.contains(va) ? a : undefined;
  }

  /** The live area with this id (a freed area's id names nothing: ids are never reused). */
  areaById(id: number): VmapArea | undefined {
    return this.areas.get(id);
  }

  get liveAreas(): readonly VmapArea[] {
    return [...this.areas.values()];
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
    return this.ownerMap.size;
  }

  /** Live reserves (audits, tests). */
  get liveReserves(): readonly VaReserve[] {
    return [...this.reserves.values()];
  }

  /**
   * Bytes of each VA range handed out and not given back (areas with their guard pages,
   * reserves, and ranges waiting out the VA quarantine).
   */
  vaInUse(): { vmalloc: number; wr: number; ro: number } {
    const s = this.spaces;
    return { vmalloc: s.vmalloc.inUse, wr: s.wr.inUse, ro: s.ro.inUse };
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
    drain(this.protectSteps(start, len, level, cpu, owner));
  }

  *protectSteps(start: number, len: number, level: ProtLevel, cpu = 0, owner?: AreaOwner): Steps {
    checkRange(start, len);
    if (start % PAGE_SIZE !== 0 || len % PAGE_SIZE !== 0 || len === 0) {
      throw new InvalidArgumentError('range', start, 'protection works on whole pages');
    }
    if (level !== 'wr' && level !== 'ro')
      throw new InvalidArgumentError('level', level, "must be 'wr' or 'ro'");
    const c = this.cpu(cpu);
    const pfns: number[] = [];
    const w = this.scratch;
    let area: VmapArea | undefined;
    for (let va = start; va < start + len; va += PAGE_SIZE) {
      if (!this.arch.pt.lookup(this.kernelMm, va, w) || w.fault !== 0)
        throw new BadAddressError(va, 'not mapped in the kernel');
      const pfn = w.pa / PAGE_SIZE;
      const cur = this.frameLevel(pfn);
      if (PROT_ORDER[level] < PROT_ORDER[cur]) {
        throw new StateError(
          'EPROTDOWNGRADE',
          `cannot move ${canonical(va)} from ${cur} to ${level}`,
          { va, from: cur, to: level },
        );
      }
      // The memory's ceiling, found through the frame: the same page reached through the
      // direct map has the same ceiling as through its area.
      const a = this.areaOfFrame(pfn);
      const ceiling = a ? a.ceiling : this.frameCeiling(pfn);
      if (PROT_ORDER[level] > PROT_ORDER[ceiling]) {
        this.reportSecurityEvent({
          kind: 'ceiling-refused',
          cpu: c.id,
          address: va,
          size: len,
          operation: `protect ${level}`,
          detail: `the memory at ${canonical(va)} may never be more restrictive than ${ceiling}`,
        });
        throw new StateError(
          'ECEILING',
          `cannot move ${canonical(va)} to ${level}: its ceiling is ${ceiling}`,
          { va, level, ceiling },
        );
      }
      if (a && this.areaOwners.has(a.id)) {
        this.checkOwner(c, a, owner, `protect ${level}`);
        if (a !== area && (a.start !== start || a.size !== len)) {
          throw new InvalidArgumentError(
            'range',
            start,
            `${a.name} is owned: it is protected whole, [${canonical(a.start)}, ${canonical(a.end)})`,
          );
        }
      }
      area ??= a;
      pfns.push(pfn);
    }
    if (level === 'ro') this.checkNotPinned(c, pfns, `protect ${level}`, start);
    const saved = pfns.map((pfn) => this.phys.frameFlags[pfn]);
    for (const pfn of pfns) {
      this.phys.frameFlags[pfn] =
        (this.phys.frameFlags[pfn] & ~PG_PROTECTED) | (level === 'ro' ? PG.PROT_RO : PG.PROT_WR);
    }
    const whole = area !== undefined && area.start === start && area.size === len;
    const areaLevel = area?.level;
    const areaFlags = area?.flags;
    if (area && whole) {
      areaState.setLevel(area, level);
      if ((area.flags & VM.PMALLOC) !== 0)
        areaState.setFlags(area, area.flags | VM.PMALLOC_PROTECTED);
    }
    try {
      yield* this.arch.setProtection(c, start, start + len, level);
    } catch (e) {
      // The arch refused (e.g. a hypervisor that will not register the range) and changed
      // nothing: neither may we.
      pfns.forEach((pfn, i) => {
        this.phys.frameFlags[pfn] = saved[i];
      });
      if (area && areaLevel !== undefined && areaFlags !== undefined) {
        areaState.setLevel(area, areaLevel);
        areaState.setFlags(area, areaFlags);
      }
      throw e;
    }
  }

  /** The live area whose page `pfn` backs, or undefined. */
  private areaOfFrame(pfn: number): VmapArea | undefined {
    const id = this.phys.frameArea[pfn];
    const a = id >= 0 ? this.areas.get(id) : undefined;
    return a && !a.freed ? a : undefined;
  }

  /** The ceiling of a frame outside any area: `.data..wr_after_init` stays write-rare. */
  private frameCeiling(pfn: number): 'wr' | 'ro' {
    if ((this.phys.frameFlags[pfn] & PG.KERNEL_IMAGE) === 0) return 'ro';
    const wr = this.sectionMap.get('.data..wr_after_init');
    return wr?.pfns.includes(pfn) ? 'wr' : 'ro';
  }

  // ---- open windows pin their target frames -------------------------------------------

  /**
   * A write-rare window on `cpu` starts writing frame `pfn` (resolved when the window was
   * built): it must still be write-rare memory of the same area, and it stays pinned
   * (vfree and protect-to-ro refuse it) until `unpinFrame`. Throws, with a security
   * event, if the frame changed under the window.
   */
  pinFrame(cpu: Cpu, pfn: number, areaId: number): void {
    const f = this.phys.frameFlags[pfn];
    if ((f & PG.PROT_WR) === 0 || this.phys.frameArea[pfn] !== areaId) {
      this.reportSecurityEvent({
        kind: 'stale-window',
        cpu: cpu.id,
        address: pfn * PAGE_SIZE,
        size: PAGE_SIZE,
        operation: 'write-rare window',
        detail: `frame ${pfn} is no longer the write-rare frame the window was built for`,
      });
      throw new StateError('ESTALE', `frame ${pfn} changed before the window opened`, { pfn });
    }
    this.pins[pfn]++;
  }

  unpinFrame(pfn: number): void {
    if (this.pins[pfn] > 0) this.pins[pfn]--;
  }

  /** Open windows targeting `pfn` (audits, tests). */
  framePins(pfn: number): number {
    return this.pins[pfn] ?? 0;
  }

  /** The protection level of the frame behind a kernel VA, or undefined if unmapped. */
  protectionOf(va: number): ProtLevel | undefined {
    const w = this.scratch;
    if (!this.arch.pt.lookup(this.kernelMm, va, w) || w.fault !== 0) return undefined;
    return this.frameLevel(w.pa / PAGE_SIZE);
  }

  frameLevel(pfn: number): ProtLevel {
    const f = this.phys.frameFlags[pfn];
    return (f & PG.PROT_RO) !== 0 ? 'ro' : (f & PG.PROT_WR) !== 0 ? 'wr' : 'rw';
  }

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
  *ipi(from: Cpu, targets: readonly number[], name: string, handler: (target: Cpu) => void): Steps {
    const c = this.counters;
    const trace = this.trace;
    const flows: number[] = [];
    for (let i = 0; i < targets.length; i++) {
      // Each send is a slice holding its flow's start (Perfetto drops a flow outside one).
      if (trace.enabled) trace.begin(from.id, `IPI send: ${name}`, 'ipi', { target: targets[i] });
      c.charge(from.id, EV.ipiSent);
      flows.push(trace.flowStart(from.id, name));
      trace.end(from.id);
    }
    let done = c.clock[from.id];
    for (let i = 0; i < targets.length; i++) {
      const t = this.cpus[targets[i]];
      const start = Math.max(c.clock[t.id], c.clock[from.id]);
      c.clock[t.id] = start;
      if (trace.enabled) trace.begin(t.id, `IPI handler: ${name}`, 'ipi', { from: from.id });
      trace.flowEnd(t.id, name, flows[i]);
      c.charge(t.id, EV.ipiHandled);
      handler(t);
      trace.end(t.id);
      done = Math.max(done, c.clock[t.id]);
      yield this.ipiLabel(name, from.id, t.id);
    }
    c.clock[from.id] = done;
  }

  /** IPI step labels, made once per (name, sender, target): a shootdown is on hot paths. */
  private readonly ipiLabels = new Map<string, string[]>();
  private ipiLabel(name: string, from: number, to: number): string {
    let row = this.ipiLabels.get(name);
    if (row === undefined) {
      row = [];
      this.ipiLabels.set(name, row);
    }
    const k = from * this.cpuCount + to;
    let label = row[k];
    if (label === undefined) {
      label = `${name}: IPI CPU${from} -> CPU${to}`;
      row[k] = label;
    }
    return label;
  }

  /** A broadcast TLB maintenance instruction (TLBI …IS + DSB ISH): hardware updates every TLB. */
  broadcastTlbi(from: Cpu, name: string, fn: (target: Cpu) => void): void {
    this.counters.charge(from.id, EV.tlbiBroadcast);
    for (const t of this.cpus) fn(t);
    this.counters.charge(from.id, EV.dsb);
    if (this.trace.enabled) this.trace.annotate(from.id, { op: name });
  }

  /** Ids of every CPU but `cpu`. */
  otherCpus(cpu: Cpu): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.cpuCount; i++) if (i !== cpu.id) out.push(i);
    return out;
  }

  // ---- write-rare windows and security events ----------------------------------------

  /** Mechanisms mark their window open on a CPU; audits allow its writable aliases there. */
  openWindow(cpu: Cpu): void {
    this.windows[cpu.id]++;
    this.counters.charge(cpu.id, EV.wrWindow);
    if (this.trace.enabled) this.trace.instant(cpu.id, 'window writable', 'wr');
  }

  closeWindow(cpu: Cpu): void {
    if (this.windows[cpu.id] > 0) this.windows[cpu.id]--;
    if (this.trace.enabled) this.trace.instant(cpu.id, 'window closed', 'wr');
  }

  windowOpen(cpu: Cpu | number): boolean {
    return this.windows[typeof cpu === 'number' ? cpu : cpu.id] > 0;
  }

  reportSecurityEvent(ev: Omit<SecurityEvent, 'cycles'>): void {
    const e = { ...ev, cycles: this.counters.clock[ev.cpu] ?? 0 };
    this.secEvents.push(e);
    this.trace.instant(ev.cpu, `security: ${ev.kind}`, 'security', {
      address: canonical(ev.address),
      operation: ev.operation,
    });
  }

  securityEvents(): readonly SecurityEvent[] {
    return this.secEvents.slice();
  }

  // ---- stats, audit, dumps -----------------------------------------------------------

  stats(): MachineStats {
    const total = emptyCounts();
    const perCpu: CpuStats[] = [];
    let cycles = 0;
    let maxCycles = 0;
    const hitCost = this.counters.cost[EV.memAccess];
    for (const cpu of this.cpus) {
      const events: EventCounts = emptyCounts();
      for (let e = 0; e < EVENT_COUNT; e++) {
        const n = this.counters.counts[cpu.id * EVENT_COUNT + e];
        events[EVENT_NAMES[e]] = n;
      }
      events.memAccess += cpu.hits;
      const cyc = this.counters.clock[cpu.id] + cpu.hits * hitCost;
      for (const n of EVENT_NAMES) total[n] += events[n];
      cycles += cyc;
      maxCycles = Math.max(maxCycles, cyc);
      perCpu.push({ cpu: cpu.id, cycles: cyc, events });
    }
    return { events: total, cycles, maxCycles, perCpu };
  }

  resetStats(): void {
    this.counters.reset();
    for (const c of this.cpus) c.hits = 0;
    this.trace.clear();
  }

  auditProtections(): AuditFinding[] {
    return auditProtections(this, this.cpus);
  }

  /**
   * The mm's page tables in the architecture kernel's own ptdump format when the backend
   * has one and no range is asked; otherwise the generic run-per-line format.
   */
  ptdump(mm: Mm = this.kernelMm, opts: PtdumpOptions = {}): string {
    if (this.arch.ptdump && opts.start === undefined && opts.end === undefined)
      return this.arch.ptdump(mm);
    return ptdump(this, mm, opts);
  }

  toChromeTrace() {
    return this.trace.toChromeTrace(this.cpuCount);
  }
}

/** Refuses an options argument that is not a plain object or has keys nobody reads. */
function checkOptions(what: string, opts: unknown, keys: readonly string[]): void {
  if (opts === undefined) return;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts))
    throw new InvalidArgumentError(what, opts, 'must be an object');
  for (const k of Object.keys(opts))
    if (!keys.includes(k))
      throw new InvalidArgumentError(what, k, `unknown option (known: ${keys.join(', ')})`);
}

/**
 * Runs a step generator to completion (the synchronous form of a multi-step operation).
 * A step that waits for another CPU throws EDEADLK (after unwinding the generator)
 * instead of spinning: with no scheduler, the other CPU never runs.
 */
export function drain<T>(steps: Generator<unknown, T, void>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    const v = r.value;
    if (typeof v === 'string' && v.startsWith(WAIT_STEP)) {
      steps.return(undefined as T);
      deadlock(v);
    }
  }
}

/**
 * The backend's layout with the pool ranges sized: the backend's [wrStart, wrEnd) is the
 * room it leaves for them; the write-rare range takes `wrRangeMiB` from its start and the
 * read-only pool range as much right after it.
 */
export function poolLayout(backend: Backend, wrRangeMiB?: number): MachineLayout {
  const L = backend.layout;
  const room = L.wrEnd - L.wrStart;
  const max = Math.floor(room / 2 / MIB);
  const mib = wrRangeMiB ?? L.wrDefaultMiB ?? Math.min(64, max);
  if (!Number.isInteger(mib) || mib < 1 || mib > max)
    throw new InvalidArgumentError(
      'wrRangeMiB',
      mib,
      `must be an integer in [1, ${max}]: ${backend.name} leaves ${Math.floor(room / MIB)} MiB for the write-rare and read-only pool ranges, of equal size`,
    );
  const wrEnd = L.wrStart + mib * MIB;
  return { ...L, wrEnd, roStart: wrEnd, roEnd: wrEnd + mib * MIB };
}
