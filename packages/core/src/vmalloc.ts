import { checkSize, PAGE_SIZE, pageUp } from './addr.js';
import { WalkResult } from './backend.js';
import type { Cpu } from './cpu.js';
import * as costs from './costs.js';
import { drain } from './drain.js';
import { InvalidArgumentError, OutOfMemoryError, StateError } from './errors.js';
import type { Machine } from './machine.js';
import * as phys from './phys.js';
import { PG_PROTECTED } from './phys.js';
import type { SecurityRoom } from './security.js';
import { VaSpace } from './vaspace.js';
import { AreaOwner, areaState, VM, VmapArea } from './vmap.js';

// Bound in this module (docs/decisions.md §10).
const { EV } = costs;
const { PG } = phys;

/** Reserves take whole, aligned 2 MiB granules of their range. */
export const RESERVE_GRANULE = 2 * 1024 * 1024;

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
 * vmalloc: the three VA ranges (general, write-rare, read-only pools) and the reserves in
 * them, areas with their guard pages and frames (area ↔ frames both ways), owner handles,
 * and vfree's unmap, shootdown and release.
 * @internal a room of `Machine`, which is its public face
 */
export class VmallocRoom {
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
  /** Live owner handles this machine issued, by id: a handle is honoured only if it is one of these. */
  private readonly ownerMap = new Map<number, AreaOwner>();
  private nextOwnerId = 0;
  private readonly spaces: Readonly<Record<'vmalloc' | 'wr' | 'ro', VaSpace>>;
  private readonly scratch = new WalkResult();

  constructor(
    private readonly m: Machine,
    private readonly cpus: readonly Cpu[],
    private readonly security: SecurityRoom,
    vaQuarantine: number,
  ) {
    const L = m.layout;
    this.spaces = {
      vmalloc: new VaSpace('vmalloc', L.vmallocStart, L.vmallocEnd, vaQuarantine),
      wr: new VaSpace('wr', L.wrStart, L.wrEnd, vaQuarantine),
      ro: new VaSpace('ro', L.roStart, L.roEnd, vaQuarantine),
    };
  }

  registerOwner(name: string): AreaOwner {
    if (typeof name !== 'string' || name.length === 0)
      throw new InvalidArgumentError('owner name', name, 'must be a non-empty string');
    const o = new AreaOwner(this.nextOwnerId++, name);
    this.ownerMap.set(o.id, o);
    return o;
  }

  releaseOwner(owner: AreaOwner, cpu: number): void {
    if (!this.isOwner(owner))
      throw new InvalidArgumentError('owner', owner, 'not a live handle from registerOwner()');
    this.m.cpu(cpu);
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
    this.m.arch.releaseOwner?.(this.cpus[cpu], owner.id);
    this.ownerMap.delete(owner.id);
  }

  /** Whether `o` is a handle this machine issued. */
  private isOwner(o: unknown): o is AreaOwner {
    return o instanceof AreaOwner && this.ownerMap.get(o.id) === o;
  }

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

  reserveOf(va: number): VaReserve | undefined {
    if (typeof va !== 'number' || !Number.isInteger(va) || va < 0 || va >= 2 ** 48)
      return undefined;
    return this.reserveByGranule.get(va - (va % RESERVE_GRANULE));
  }

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

  vmalloc(size: number, opts: VmallocOptions): VmapArea {
    const { phys, arch, kernelMm } = this.m;
    checkSize(size, false, phys.size);
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
    const tables = (arch.pt.levels - 1) * (Math.ceil(pages / 512) + 1);
    if (pages + tables > phys.freeFrames)
      throw new OutOfMemoryError(
        `physical frames (${pages} for the area, up to ${tables} for its page tables)`,
        pages + tables,
        phys.freeFrames,
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
    const pfns = phys.allocFrames(pages, ownerId);
    arch.vmapFrames?.(this.cpus[0], pfns);
    for (let i = 0; i < pages; i++) {
      phys.frameFlags[pfns[i]] |= PG.VMALLOC;
      phys.frameArea[pfns[i]] = id;
      arch.pt.map(kernelMm, start + i * PAGE_SIZE, pfns[i] * PAGE_SIZE, {
        write: true,
        exec: false,
        global: true,
      });
    }
    this.m.counters.charge(0, EV.pteWrite, pages);
    const flags = callerFlags | VM.ALLOC | (range === 'wr' ? VM.WR_RANGE : 0);
    const area = new VmapArea(id, start, bytes, flags, pfns, name, ownerId, ceiling, reclaimable);
    this.areas.set(id, area);
    if (opts.owner) this.areaOwners.set(id, opts.owner);
    this.areaSpaces.set(id, space);
    return area;
  }

  vfree(area: VmapArea, opts: VfreeOptions, cpu: number): void {
    if (!(area instanceof VmapArea) || (!area.freed && this.areas.get(area.id) !== area))
      throw new InvalidArgumentError('area', area, 'not an area of this machine');
    checkOptions('vfree options', opts, VFREE_KEYS);
    if (opts.quarantine !== undefined && typeof opts.quarantine !== 'boolean')
      throw new InvalidArgumentError('quarantine', opts.quarantine, 'must be a boolean');
    const c = this.m.cpu(cpu);
    if (area.freed)
      throw new StateError('EDOUBLEFREE', `area ${area.name} was already freed`, { area: area.id });
    this.checkOwner(c, area, opts.owner, 'vfree');
    this.security.checkNotPinned(c, area.pfns, 'vfree', area.start);
    const { phys, arch, kernelMm } = this.m;
    // A protected area that is not reclaimable keeps its frames protected for good: it is
    // unmapped, and its frames never go back to the allocator.
    const keep = area.level !== 'rw' && !area.reclaimable;
    // Protection is released only here, when the memory goes away (the hypervisor
    // unregisters the range; the direct-map alias becomes writable again).
    if (area.level !== 'rw' && !keep) drain(arch.setProtection(c, area.start, area.end, 'rw'));
    for (let i = 0; i < area.pfns.length; i++) arch.pt.unmap(kernelMm, area.start + i * PAGE_SIZE);
    this.m.counters.charge(cpu, EV.pteWrite, area.pfns.length);
    drain(arch.flushKernelRange(c, area.start, area.end));
    // Table pages the area alone used are empty now: freed, as free_pgd_range() does.
    arch.pt.pruneTables?.(kernelMm, area.start, area.end);
    if (!keep) arch.vunmapFrames?.(c, area.pfns);
    for (const pfn of area.pfns) {
      phys.frameArea[pfn] = -1;
      if (keep) {
        phys.frameFlags[pfn] |= PG.QUARANTINED;
        continue;
      }
      phys.bytes.fill(0, pfn * PAGE_SIZE, (pfn + 1) * PAGE_SIZE);
      phys.frameFlags[pfn] &= ~(PG_PROTECTED | PG.VMALLOC);
      if (opts.quarantine) phys.frameFlags[pfn] |= PG.QUARANTINED;
      else phys.freeFrame(pfn);
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

  /** Whether the area has an owner (then only its handle may protect or free it). */
  isOwned(area: VmapArea): boolean {
    return this.areaOwners.has(area.id);
  }

  /** Refuses (with a security event) a change to an owned area by anyone but its owner. */
  checkOwner(cpu: Cpu, area: VmapArea, owner: unknown, op: string): void {
    const o = this.areaOwners.get(area.id);
    if (o === undefined || owner === o) return;
    this.security.report({
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

  findArea(va: number): VmapArea | undefined {
    if (typeof va !== 'number' || !Number.isInteger(va) || va < 0 || va >= 2 ** 48)
      return undefined;
    const w = this.scratch;
    if (!this.m.arch.pt.lookup(this.m.kernelMm, va, w) || w.fault !== 0) return undefined;
    const id = this.m.phys.frameArea[w.pa / PAGE_SIZE];
    if (id < 0) return undefined;
    const a = this.areas.get(id);
    return a && !a.freed && a.contains(va) ? a : undefined;
  }

  areaById(id: number): VmapArea | undefined {
    return this.areas.get(id);
  }

  /** The live area whose page `pfn` backs, or undefined. */
  areaOfFrame(pfn: number): VmapArea | undefined {
    const id = this.m.phys.frameArea[pfn];
    const a = id >= 0 ? this.areas.get(id) : undefined;
    return a && !a.freed ? a : undefined;
  }

  get liveAreas(): readonly VmapArea[] {
    return [...this.areas.values()];
  }

  get liveOwners(): number {
    return this.ownerMap.size;
  }

  get liveReserves(): readonly VaReserve[] {
    return [...this.reserves.values()];
  }

  vaInUse(): { vmalloc: number; wr: number; ro: number } {
    const s = this.spaces;
    return { vmalloc: s.vmalloc.inUse, wr: s.wr.inUse, ro: s.ro.inUse };
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
