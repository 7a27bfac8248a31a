import {
  type AreaOwner,
  type Cpu,
  drain,
  fromCanonical,
  Machine,
  OutOfMemoryError,
  PAGE_SIZE,
  PROT_ORDER,
  type ProtLevel,
  type Steps,
  type VaReserve,
  VM,
  VmapArea,
} from '@prmem/core';
import { wrBatch, wrMemcpy, wrMemset } from '@prmem/wr-ops';
import { PoolError } from './errors.js';
import {
  CODE_LEVEL,
  LEVEL_CODE,
  MODE_BITS,
  MODES,
  PMALLOC_AUTO,
  PMALLOC_START,
  PMALLOC_WR,
  type PoolMode,
  protectedLevel,
} from './modes.js';
import {
  DESC_MAGIC,
  DESC_SIZE,
  existingRegistry,
  FIXED_MAGIC,
  FIXED_OFF,
  FIXED_RECLAIMABLE,
  FLAG_DESTROYED,
  fixedBytes,
  freeSlot,
  NAME_BYTES,
  OFF,
  type Registry,
  registry,
  slotVa,
  TABLE_PAGES,
  writeSlot,
} from './table.js';

export interface PoolOptions {
  readonly mode: PoolMode;
  /** Minimum size of a new area, in bytes (rounded up to pages). Default: one page. */
  readonly refill?: number;
  /** Alignment of every allocation, a power of two. Default: 8 (ARCH_KMALLOC_MINALIGN). */
  readonly align?: number;
  /** Up to 15 bytes of UTF-8, stored in the pool's read-only descriptor. */
  readonly name?: string;
  /**
   * The most restrictive level the pool may ever reach, fixed at creation. Write-rare
   * modes default to 'wr': such a pool can never be made read-only, so nobody can block
   * its future updates. Pass 'ro' to allow `makeReadOnly()` later. RO modes are 'ro'.
   */
  readonly limit?: 'wr' | 'ro';
  /** The CPU the pool's own work runs on. Default: CPU 0. */
  readonly cpu?: number;
  /**
   * May the pool's protected memory be given back when it is destroyed? Default false,
   * as HKIP's `*_NO_RECL` pools: destroy unmaps a protected area but its frames stay
   * protected and out of the allocator for good (at EL2 too). `true` lets destroy release
   * them (scrubbed; on arm64 the hypervisor unregisters the range).
   */
  readonly reclaimable?: boolean;
  /**
   * Reserve this many bytes of the pool's range (write-rare or read-only) for the pool
   * alone: every area comes from it, so an address inside it names the pool (`findPool`
   * answers from the address, no table walk), and running past it is an `ENOMEM` naming
   * the pool and the sizes. Default: areas come from the shared range.
   */
  readonly reserve?: number;
}

const POOL_OPTIONS: readonly string[] = [
  'reserve',
  'mode',
  'refill',
  'align',
  'name',
  'limit',
  'cpu',
  'reclaimable',
];

export interface DestroyOptions {
  /**
   * Keep the scrubbed frames out of the allocator for good, so memory of a destroyed
   * pool is never handed to another pool. The default gives them back, as
   * `pmalloc_destroy_pool` → `vfree` does (a non-reclaimable pool's protected frames
   * stay protected and out of the allocator whatever this says).
   */
  readonly quarantine?: boolean;
  /** The opposite of `quarantine` (kept for callers written before it): `false` quarantines. */
  readonly reclaim?: boolean;
}

const DESTROY_OPTIONS: readonly string[] = ['quarantine', 'reclaim'];

/** The security event a detected metadata inconsistency records. */
export const POOL_CORRUPT_EVENT = 'pool-metadata-corrupt';

const textEncoder = new TextEncoder();
/** Only createPool constructs pools: a pool made with another registry could aim anywhere. */
const CONSTRUCT = Symbol('createPool');

/** The metadata a decision is made on, read from memory and checked. */
interface Meta {
  readonly bits: number;
  readonly limit: ProtLevel;
  readonly level: ProtLevel;
}

/** A detected inconsistency: where, and what. */
interface Corruption {
  readonly va: number;
  readonly size: number;
  readonly detail: string;
  readonly value: unknown;
}

const isCorruption = (r: Meta | Corruption): r is Corruption => 'detail' in r;

/**
 * A pmalloc pool: areas from the reserved write-rare range, allocation downward from the
 * top of the current area, protection of all its areas at once, monotonic levels
 * (writable → write-rare → read-only, never past the limit fixed at creation), and
 * destruction as the only way to release memory.
 *
 * Its metadata is in simulated memory (table.ts): the creation-time fields in a
 * read-only descriptor page, the changing ones in a write-rare pool table slot. Every
 * decision reads them and first checks them against each other and against the pool's
 * own record of what it did (kept outside simulated memory, as the kernel would derive
 * it from its areas): a corrupted value is refused with `EPOOLCORRUPT` and recorded as a
 * `pool-metadata-corrupt` security event, never obeyed.
 */
export class Pool {
  readonly machine: Machine;
  readonly name: string;
  readonly mode: PoolMode;
  readonly refill: number;
  readonly align: number;
  /** The pool's slot in the pool table. */
  readonly id: number;
  readonly cpu: Cpu;
  /** Fixed at creation: see PoolOptions.reclaimable. */
  readonly reclaimable: boolean;
  /** The machine's owner handle for this pool's areas (only it may protect or free them). */
  private readonly ownerKey: AreaOwner;
  private readonly reg: Registry;
  /** The page holding the read-only descriptor. */
  private readonly fixedArea: VmapArea;
  /** The pool's own sub-range (PoolOptions.reserve), if it has one. */
  private readonly va: VaReserve | undefined;
  private readonly bits: number;
  private readonly limitLevel: ProtLevel;
  private readonly areaList: VmapArea[] = [];
  private readonly areaIds = new Set<number>();
  private cur: VmapArea | undefined;
  /** Allocation cursor: the next object ends here (offset into `cur`). */
  private offset = 0;
  /** The level the pool has reached (what it last wrote to its slot). */
  private reached: ProtLevel = 'rw';
  private dead = false;

  /** @internal use createPool() */
  constructor(
    token: symbol,
    m: Machine,
    reg: Registry,
    id: number,
    fixedArea: VmapArea,
    opts: Required<Omit<PoolOptions, 'cpu' | 'reserve'>>,
    cpu: Cpu,
    ownerKey: AreaOwner,
    va: VaReserve | undefined,
  ) {
    if (token !== CONSTRUCT)
      throw new PoolError('EPOOLARG', String(opts?.name), token, 'pools are made by createPool()');
    this.machine = m;
    this.reg = reg;
    this.id = id;
    this.fixedArea = fixedArea;
    this.name = opts.name;
    this.mode = opts.mode;
    this.bits = MODE_BITS[opts.mode];
    this.limitLevel = opts.limit;
    this.refill = opts.refill;
    this.align = opts.align;
    this.reclaimable = opts.reclaimable;
    this.cpu = cpu;
    this.ownerKey = ownerKey;
    this.va = va;
  }

  /** @internal the id of the pool's reserve (-1: none), for findPool */
  get reservedId(): number {
    return this.va ? this.va.id : -1;
  }

  /** The pool's reserved sub-range, [start, end), or undefined. */
  get reserved(): { readonly start: number; readonly end: number } | undefined {
    return this.va ? { start: this.va.start, end: this.va.end } : undefined;
  }

  /** The id of the pool's area-owner handle: `area.owner` of each of its areas. */
  get ownerId(): number {
    return this.ownerKey.id;
  }

  // ---- the metadata -------------------------------------------------------------------

  /** The pool's slot in the write-rare pool table. */
  get slotVa(): number {
    return slotVa(this.reg, this.id);
  }

  /** The pool's read-only descriptor (mode, limit, refill, align, id, name, reclaimability). */
  get fixedVa(): number {
    return this.fixedArea.start;
  }

  /** The area of the read-only descriptor page (not one of `areas`). */
  get descriptorArea(): VmapArea {
    return this.fixedArea;
  }

  /** Mode bits, as recorded in the read-only descriptor (checked). */
  get modeBits(): number {
    return this.dead ? this.bits : this.check('modeBits').bits;
  }

  /** The pool's protection level (its slot's record, checked; areas added since may be writable). */
  get level(): ProtLevel {
    return this.dead ? this.reached : this.check('level').level;
  }

  /** The most restrictive level the pool may reach, fixed at creation (checked). */
  get limit(): ProtLevel {
    return this.dead ? this.limitLevel : this.check('limit').limit;
  }

  get destroyed(): boolean {
    return this.dead;
  }

  get areas(): readonly VmapArea[] {
    return this.areaList;
  }

  /** Is `area` one of this pool's data areas? O(1). */
  hasArea(area: VmapArea): boolean {
    return (
      area instanceof VmapArea &&
      this.areaIds.has(area.id) &&
      this.machine.areaById(area.id) === area
    );
  }

  /**
   * Reads the metadata as the kernel's tables map it (a software walk: no TLB fill, no
   * counters, like wr-ops' target check) and checks it. Returns the first inconsistency.
   */
  private inspect(): Meta | Corruption {
    const m = this.machine;
    const view = m.phys.view;
    const slot = this.slotVa;
    const page = Math.floor((this.id * DESC_SIZE) / PAGE_SIZE);
    const sp = m.translate(slot);
    if (sp !== this.reg.table.pfns[page] * PAGE_SIZE + (slot % PAGE_SIZE))
      return bad(slot, DESC_SIZE, 'the slot is not mapped to the pool table', sp);
    if (m.frameLevel((sp / PAGE_SIZE) | 0) !== 'wr')
      return bad(slot, DESC_SIZE, 'the pool table page is no longer write-rare', sp);
    const u32 = (pa: number, off: number) => view.getUint32(pa + off, true);
    const magic = u32(sp, OFF.magic);
    if (magic !== DESC_MAGIC) return bad(slot + OFF.magic, 4, 'the slot magic was changed', magic);
    const flags = u32(sp, OFF.flags);
    if (flags !== 0)
      return bad(
        slot + OFF.flags,
        4,
        (flags & FLAG_DESTROYED) !== 0
          ? 'the destroyed flag is set on a live pool'
          : 'unknown flag bits are set',
        flags,
      );
    const ptr = fromCanonical(u32(sp, OFF.fixed), u32(sp, OFF.fixed + 4));
    if (ptr !== this.fixedVa)
      return bad(slot + OFF.fixed, 8, "the descriptor pointer is not this pool's descriptor", ptr);
    const fp = m.translate(ptr);
    if (fp !== this.fixedArea.pfns[0] * PAGE_SIZE || m.frameLevel(fp / PAGE_SIZE) !== 'ro')
      return bad(
        ptr,
        DESC_SIZE,
        'the descriptor page is not the read-only page createPool made',
        fp,
      );
    const fmagic = u32(fp, FIXED_OFF.magic);
    const fid = u32(fp, FIXED_OFF.id);
    if (fmagic !== FIXED_MAGIC || fid !== this.id)
      return bad(ptr, 8, `the descriptor's magic/id are not this pool's (id ${fid})`, fmagic);
    const bits = u32(fp, FIXED_OFF.mode);
    const limitCode = u32(fp, FIXED_OFF.limit);
    if (bits !== this.bits || CODE_LEVEL[limitCode] !== this.limitLevel)
      return bad(ptr + FIXED_OFF.mode, 8, 'the fixed mode or limit changed', bits);
    if (u32(fp, FIXED_OFF.refill) !== this.refill || u32(fp, FIXED_OFF.align) !== this.align)
      return bad(
        ptr + FIXED_OFF.refill,
        8,
        'the fixed refill or align changed',
        u32(fp, FIXED_OFF.refill),
      );
    const rs = fromCanonical(u32(fp, FIXED_OFF.rangeStart), u32(fp, FIXED_OFF.rangeStart + 4));
    const rn = u32(fp, FIXED_OFF.rangeSize);
    if (rs !== (this.va?.start ?? 0) || rn !== (this.va ? this.va.end - this.va.start : 0))
      return bad(ptr + FIXED_OFF.rangeStart, 16, 'the fixed reserved range changed', rs);
    const fflags = u32(fp, FIXED_OFF.flags);
    if (fflags !== (this.reclaimable ? FIXED_RECLAIMABLE : 0))
      return bad(ptr + FIXED_OFF.flags, 4, 'the fixed flags changed', fflags);
    const limit = this.limitLevel;
    const levelCode = u32(sp, OFF.level);
    const level = CODE_LEVEL[levelCode] as ProtLevel | undefined;
    if (level === undefined)
      return bad(slot + OFF.level, 4, 'the level is not a level code', levelCode);
    if (PROT_ORDER[level] > PROT_ORDER[limit])
      return bad(slot + OFF.level, 4, `the level ${level} is above the limit ${limit}`, level);
    if (level !== this.reached)
      return bad(
        slot + OFF.level,
        4,
        `the level reads ${level} but the pool has reached ${this.reached}`,
        level,
      );
    const count = u32(sp, OFF.areaCount);
    if (count !== this.areaList.length)
      return bad(
        slot + OFF.areaCount,
        4,
        `the area count reads ${count}, the pool has ${this.areaList.length}`,
        count,
      );
    const newest = fromCanonical(u32(sp, OFF.newestArea), u32(sp, OFF.newestArea + 4));
    const want = this.areaList.at(-1)?.start ?? 0;
    if (newest !== want)
      return bad(
        slot + OFF.newestArea,
        8,
        'the newest-area pointer is not the newest area',
        newest,
      );
    const gone = this.areaList.find((a) => a.freed);
    if (gone)
      return bad(gone.start, gone.size, `${gone.name} was freed behind the pool's back`, gone);
    return { bits, limit, level };
  }

  private report(op: string, c: Corruption): void {
    this.machine.reportSecurityEvent({
      kind: POOL_CORRUPT_EVENT,
      cpu: this.cpu.id,
      address: c.va,
      size: c.size,
      operation: `pool.${op}`,
      detail: `${this.name}: ${c.detail}`,
    });
  }

  /** The checked metadata of a live pool; a corruption is recorded and refused. */
  private check(op: string): Meta {
    if (this.dead)
      throw new PoolError('EPOOLDESTROYED', this.name, op, `${op} on a destroyed pool`);
    const r = this.inspect();
    if (!isCorruption(r)) return r;
    this.report(op, r);
    throw new PoolError(
      'EPOOLCORRUPT',
      this.name,
      r.value,
      `${op} refused: pool metadata is inconsistent: ${r.detail}`,
    );
  }

  private setFields(fields: readonly (readonly [number, number])[], newestArea?: number): void {
    const base = this.slotVa;
    wrBatch(this.cpu, (w) => {
      for (const [off, v] of fields) w.assign(base + off, v, 4);
      if (newestArea !== undefined) w.ptr(base + OFF.newestArea, newestArea);
    });
  }

  // ---- allocation ---------------------------------------------------------------------

  private checkSize(size: unknown, what = 'allocation size'): asserts size is number {
    if (
      typeof size !== 'number' ||
      !Number.isInteger(size) ||
      size <= 0 ||
      size > this.machine.phys.size
    ) {
      throw new PoolError(
        'EPOOLARG',
        this.name,
        size,
        `${what} must be a positive integer no larger than memory`,
      );
    }
  }

  /** Allocates `size` bytes; returns the address. Memory of a fresh area is zeroed. */
  alloc(size: number): number {
    this.checkSize(size);
    return this.allocChecked(size, this.check('alloc'));
  }

  private allocChecked(size: number, meta: Meta): number {
    const bits = meta.bits;
    const start = (bits & PMALLOC_START) !== 0;
    // Space is taken from the current area only while it is still being filled: a
    // protected area's leftover is given up, except in START_WR pools, which are
    // write-rare from the first allocation and keep filling their area.
    if (this.cur && (start || this.cur.level === 'rw')) {
      const next = roundDown(this.offset - size, this.align);
      if (next >= 0) {
        this.offset = next;
        return this.cur.start + next;
      }
    }
    const bytes = Math.ceil(Math.max(size, this.refill) / PAGE_SIZE) * PAGE_SIZE;
    const wr = (bits & PMALLOC_WR) !== 0;
    // Allocate first: if memory runs out, nothing about the pool has changed.
    const area = this.machine.vmalloc(bytes, {
      // RO pools live in their own range: the address alone says write-rare or not.
      range: wr ? 'wr' : 'ro',
      ...(this.va ? { reserve: this.va } : {}),
      flags: VM.PMALLOC | (wr ? VM.PMALLOC_WR : 0),
      owner: this.ownerKey,
      ceiling: this.limitLevel === 'ro' ? 'ro' : 'wr',
      reclaimable: this.reclaimable,
      name: `${this.name}#${this.areaList.length}`,
    });
    const prev = this.cur;
    if ((bits & PMALLOC_AUTO) !== 0 && prev && prev.level === 'rw')
      this.protectArea(prev, protectedLevel(bits));
    if (start) this.protectArea(area, 'wr');
    this.areaList.push(area);
    this.areaIds.add(area.id);
    this.cur = area;
    this.offset = roundDown(area.size - size, this.align);
    this.setFields([[OFF.areaCount, this.areaList.length]], area.start);
    return area.start + this.offset;
  }

  /** Allocates zeroed memory (through write-rare where the area is already protected). */
  zalloc(size: number): number {
    const va = this.alloc(size);
    this.fill(va, 0, size);
    return va;
  }

  /** An array of `n` elements of `size` bytes, zeroed; the product is overflow-checked. */
  calloc(n: number, size: number): number {
    for (const [what, v] of [
      ['count', n],
      ['element size', size],
    ] as const) {
      if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0)
        throw new PoolError('EPOOLARG', this.name, v, `calloc ${what} must be a positive integer`);
    }
    const total = n * size;
    if (!Number.isSafeInteger(total) || total > this.machine.phys.size) {
      throw new PoolError('EOVERFLOW', this.name, total, `calloc(${n}, ${size}) overflows`);
    }
    return this.zalloc(total);
  }

  /** Copies a string (UTF-8, NUL-terminated) into the pool. */
  strdup(s: string): number {
    if (typeof s !== 'string')
      throw new PoolError('EPOOLARG', this.name, s, 'strdup needs a string');
    const utf8 = textEncoder.encode(s);
    const bytes = new Uint8Array(utf8.length + 1);
    bytes.set(utf8);
    this.checkSize(bytes.length, 'string size');
    const va = this.alloc(bytes.length);
    this.copy(va, bytes);
    return va;
  }

  private fill(va: number, byte: number, len: number): void {
    const area = this.cur!;
    if (area.level === 'rw') this.cpu.writeBytes(va, new Uint8Array(len).fill(byte));
    else wrMemset(this.cpu, va, byte, len);
  }

  private copy(va: number, bytes: Uint8Array): void {
    if (this.cur!.level === 'rw') this.cpu.writeBytes(va, bytes);
    else wrMemcpy(this.cpu, va, bytes);
  }

  // ---- protection ---------------------------------------------------------------------

  private protectArea(area: VmapArea, level: ProtLevel): void {
    this.machine.protect(area.start, area.size, level, this.cpu.id, this.ownerKey);
  }

  /**
   * Protects every area (read-only for RO modes, write-rare for WR modes). Space left in
   * the current area is given up, as in prmem (except START_WR, already write-rare).
   */
  protect(): void {
    drain(this.protectSteps());
  }

  /** `protect()` one architectural step at a time, for a scheduler (checked at its first step). */
  *protectSteps(): Steps {
    const meta = this.check('protect');
    yield* this.raiseSteps(protectedLevel(meta.bits), meta);
  }

  /** Write-rare → read-only, for good. Only a pool whose limit is 'ro' may do it. */
  makeReadOnly(): void {
    const meta = this.check('makeReadOnly');
    if (meta.limit !== 'ro') {
      throw new PoolError(
        'EPOOLMODE',
        this.name,
        this.mode,
        `a ${this.mode} pool was created write-rare for good and can never be made read-only`,
      );
    }
    drain(this.raiseSteps('ro', meta));
  }

  private *raiseSteps(target: ProtLevel, meta: Meta): Steps {
    const current = meta.level;
    if (PROT_ORDER[target] < PROT_ORDER[current]) {
      throw new PoolError(
        'EPOOLDOWNGRADE',
        this.name,
        target,
        `protection is ${current} and can only become more restrictive`,
      );
    }
    if (PROT_ORDER[target] > PROT_ORDER[meta.limit]) {
      throw new PoolError('EPOOLDOWNGRADE', this.name, target, `the pool's limit is ${meta.limit}`);
    }
    const todo = this.areaList.filter((a) => PROT_ORDER[a.level] < PROT_ORDER[target]);
    // Core refuses to make a frame read-only while a write-rare window is writing it:
    // find out before the first area changes, so the pool never ends up half-raised.
    if (target === 'ro')
      for (const a of todo)
        if (a.pfns.some((pfn) => this.machine.framePins(pfn) > 0))
          throw new PoolError(
            'EBUSY',
            this.name,
            a.name,
            `a write-rare window is writing ${a.name}`,
          );
    for (const a of todo)
      if (PROT_ORDER[a.level] < PROT_ORDER[target])
        yield* this.machine.protectSteps(a.start, a.size, target, this.cpu.id, this.ownerKey);
    if ((meta.bits & PMALLOC_START) === 0 || target === 'ro') {
      this.cur = undefined;
      this.offset = 0;
    }
    if (target !== current) {
      this.setFields([[OFF.level, LEVEL_CODE[target]]]);
      this.reached = target;
    }
  }

  // ---- destruction --------------------------------------------------------------------

  /**
   * Releases every area at once: unmapped, scrubbed, quarantined (or reclaimed), and the
   * descriptor page with them. Inconsistent metadata (e.g. a destroyed flag an attacker
   * set) is recorded as a security event but does not stop the release: the pool's own
   * record says what it holds, and destroying is the safe direction — refusing would
   * leave a zombie whose memory can never be released.
   */
  destroy(opts?: DestroyOptions): void {
    const quarantine = destroyOptions(this.name, opts);
    if (this.dead)
      throw new PoolError('EPOOLDESTROYED', this.name, 'destroy', 'destroy on a destroyed pool');
    // A write-rare window still writing one of its frames makes vfree refuse: find out
    // before anything changes, so destroy never stops half-way.
    for (const a of this.areaList)
      if (!a.freed && a.pfns.some((pfn) => this.machine.framePins(pfn) > 0))
        throw new PoolError('EBUSY', this.name, a.name, `a write-rare window is writing ${a.name}`);
    const r = this.inspect();
    if (isCorruption(r)) this.report('destroy', r);
    this.setFields([[OFF.flags, FLAG_DESTROYED]]);
    const free = { quarantine, owner: this.ownerKey };
    for (const a of this.areaList) if (!a.freed) this.machine.vfree(a, free, this.cpu.id);
    if (!this.fixedArea.freed) this.machine.vfree(this.fixedArea, free, this.cpu.id);
    this.dead = true;
    this.cur = undefined;
    this.reg.slots[this.id] = undefined;
    this.reg.byOwner.delete(this.ownerKey.id);
    if (this.va) this.reg.byReserve.delete(this.va.id);
    // The slot is free again: all zero, magic included.
    wrMemset(this.cpu, this.slotVa, 0, DESC_SIZE);
    // Everything else comes back too: the reserved range, and the owner handle (with what
    // the backend keeps per owner: x86's per-pool alias mm and its PCID).
    if (this.va) this.machine.releaseVa(this.va, this.ownerKey);
    this.machine.releaseOwner(this.ownerKey, this.cpu.id);
  }
}

function bad(va: number, size: number, detail: string, value: unknown): Corruption {
  return { va, size, detail, value };
}

function roundDown(v: number, align: number): number {
  return v - (((v % align) + align) % align);
}

/** Own enumerable keys of an options object; anything else is refused. */
function optionKeys(pool: string, opts: unknown, known: readonly string[], what: string): void {
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts))
    throw new PoolError('EPOOLARG', pool, opts, `${what} must be an object`);
  for (const key of Reflect.ownKeys(opts)) {
    if (typeof key !== 'string' || !known.includes(key))
      throw new PoolError(
        'EPOOLARG',
        pool,
        key,
        `unknown ${what} key ${String(key)} (known: ${known.join(', ')})`,
      );
  }
}

/** Checks destroy()'s options; returns whether to quarantine. */
function destroyOptions(pool: string, opts: unknown): boolean {
  if (opts === undefined) return false;
  optionKeys(pool, opts, DESTROY_OPTIONS, 'destroy option');
  const { quarantine, reclaim } = opts as DestroyOptions;
  if (quarantine !== undefined && typeof quarantine !== 'boolean')
    throw new PoolError('EPOOLARG', pool, quarantine, 'quarantine must be a boolean');
  if (reclaim !== undefined && typeof reclaim !== 'boolean')
    throw new PoolError('EPOOLARG', pool, reclaim, 'reclaim must be a boolean');
  if (quarantine !== undefined && reclaim !== undefined && quarantine === reclaim)
    throw new PoolError('EPOOLARG', pool, opts, 'quarantine and reclaim contradict each other');
  return quarantine ?? (reclaim === undefined ? false : !reclaim);
}

/**
 * Frames two vmallocs (the pool table on first use, and the descriptor page) may need at
 * most: core's own worst case per area (its pages, and one table per 512 pages per level
 * below the root, plus a path), summed, so the first cannot succeed and the second fail.
 */
function framesNeeded(m: Machine, areas: readonly number[]): number {
  const below = m.arch.pt.levels - 1;
  return areas.reduce((n, pages) => n + pages + below * (Math.ceil(pages / 512) + 1), 0);
}

/** Creates a pool: its read-only descriptor page, then its slot in the pool table. */
export function createPool(m: Machine, opts: PoolOptions): Pool {
  if (!(m instanceof Machine)) throw new PoolError('EPOOLARG', '?', m, 'not a Machine');
  optionKeys('?', opts, POOL_OPTIONS, 'pool option');
  // Each option is read once: a getter cannot answer differently later.
  const { mode, name: nameOpt, refill: refillOpt, align: alignOpt, limit: limitOpt } = opts;
  const cpuOpt = opts.cpu;
  const reclaimOpt = opts.reclaimable;
  const label = typeof nameOpt === 'string' ? nameOpt : '?';
  if (!MODES.includes(mode))
    throw new PoolError('EPOOLARG', label, mode, `mode must be one of ${MODES.join(', ')}`);
  const name = nameOpt ?? 'pool';
  const nameBytes = typeof name === 'string' ? textEncoder.encode(name) : undefined;
  if (
    !nameBytes ||
    nameBytes.length === 0 ||
    nameBytes.length > NAME_BYTES ||
    nameBytes.includes(0)
  ) {
    throw new PoolError(
      'EPOOLARG',
      label,
      name,
      `name must be 1..${NAME_BYTES} bytes of UTF-8 without NUL`,
    );
  }
  const refill = refillOpt ?? PAGE_SIZE;
  if (
    typeof refill !== 'number' ||
    !Number.isInteger(refill) ||
    refill <= 0 ||
    refill > m.phys.size
  ) {
    throw new PoolError(
      'EPOOLARG',
      name,
      refill,
      'refill must be a positive integer number of bytes',
    );
  }
  const align = alignOpt ?? 8;
  if (
    typeof align !== 'number' ||
    !Number.isInteger(align) ||
    align < 1 ||
    align > PAGE_SIZE ||
    (align & (align - 1)) !== 0
  ) {
    throw new PoolError('EPOOLARG', name, align, 'align must be a power of two in [1, 4096]');
  }
  const bits = MODE_BITS[mode];
  const wr = (bits & PMALLOC_WR) !== 0;
  const limit = limitOpt ?? (wr ? 'wr' : 'ro');
  if ((limit !== 'wr' && limit !== 'ro') || (!wr && limit !== 'ro')) {
    throw new PoolError(
      'EPOOLARG',
      name,
      limit,
      `limit of a ${mode} pool must be ${wr ? "'wr' or 'ro'" : "'ro'"}`,
    );
  }
  const cpuId = cpuOpt ?? 0;
  if (typeof cpuId !== 'number' || !Number.isInteger(cpuId) || cpuId < 0 || cpuId >= m.cpuCount)
    throw new PoolError('EPOOLARG', name, cpuId, `cpu must be an integer in [0, ${m.cpuCount})`);
  const reclaimable = reclaimOpt ?? false;
  if (typeof reclaimable !== 'boolean')
    throw new PoolError('EPOOLARG', name, reclaimable, 'reclaimable must be a boolean');
  const reserveOpt = opts.reserve;
  if (
    reserveOpt !== undefined &&
    (typeof reserveOpt !== 'number' ||
      !Number.isInteger(reserveOpt) ||
      reserveOpt < PAGE_SIZE ||
      reserveOpt > 0xffff_f000)
  )
    throw new PoolError(
      'EPOOLARG',
      name,
      reserveOpt,
      'reserve must be an integer number of bytes from 4096 to 4 GiB - 4096',
    );
  const cpu = m.cpu(cpuId);
  const existing = existingRegistry(m);
  const id = freeSlot(existing);
  if (id < 0) throw new PoolError('EPOOLTABLE', name, id, 'the pool table is full');
  const need = framesNeeded(m, existing ? [1] : [TABLE_PAGES, 1]);
  if (need > m.phys.freeFrames)
    throw new OutOfMemoryError('physical frames', need, m.phys.freeFrames);
  const reg = existing ?? registry(m);
  const refillBytes = Math.ceil(refill / PAGE_SIZE) * PAGE_SIZE;
  const ownerKey = m.registerOwner(`pool ${name}`);
  let va: VaReserve | undefined;
  let fixed: VmapArea;
  try {
    va =
      reserveOpt === undefined
        ? undefined
        : m.reserveVa(reserveOpt, {
            range: wr ? 'wr' : 'ro',
            owner: ownerKey,
            name: `pool ${name}`,
          });
    // The descriptor page is private until protected: plain stores, then read-only for good
    // (in the read-only range, apart from write-rare targets).
    fixed = m.vmalloc(PAGE_SIZE, {
      range: 'ro',
      flags: VM.PMALLOC,
      owner: ownerKey,
      ceiling: 'ro',
      reclaimable,
      name: `${name}:desc`,
    });
  } catch (e) {
    // Nothing of the half-made pool stays behind.
    if (va) m.releaseVa(va, ownerKey);
    m.releaseOwner(ownerKey, cpu.id);
    throw e;
  }
  cpu.writeBytes(
    fixed.start,
    fixedBytes({
      id,
      mode: bits,
      refill: refillBytes,
      align,
      limit: LEVEL_CODE[limit],
      flags: reclaimable ? FIXED_RECLAIMABLE : 0,
      name: nameBytes,
      rangeStart: va?.start ?? 0,
      rangeSize: va ? va.end - va.start : 0,
    }),
  );
  m.protect(fixed.start, fixed.size, 'ro', cpu.id, ownerKey);
  writeSlot(cpu, slotVa(reg, id), fixed.start);
  const pool = new Pool(
    CONSTRUCT,
    m,
    reg,
    id,
    fixed,
    { mode, refill: refillBytes, align, name, limit, reclaimable },
    cpu,
    ownerKey,
    va,
  );
  reg.slots[id] = pool;
  reg.byOwner.set(ownerKey.id, pool);
  if (va) reg.byReserve.set(va.id, pool);
  return pool;
}

function checkMachine(m: unknown, what: string): asserts m is Machine {
  if (!(m instanceof Machine)) throw new PoolError('EPOOLARG', '?', m, `${what}: not a Machine`);
}

/** The pool that owns `va` (address → page → area → pool), or undefined. O(1). */
export function findPool(m: Machine, va: number): Pool | undefined {
  checkMachine(m, 'findPool');
  if (typeof va !== 'number' || !(m.inWrRange(va) || m.inRoRange(va))) return undefined;
  // An address in a pool's reserved range names the pool by itself (one lookup).
  const r = m.reserveOf(va);
  if (r) {
    const p = existingRegistry(m)?.byReserve.get(r.id);
    return p instanceof Pool && !p.destroyed && p.reservedId === r.id ? p : undefined;
  }
  const area = m.findArea(va);
  if (!area || area.owner < 0 || (area.flags & VM.PMALLOC) === 0) return undefined;
  const p = existingRegistry(m)?.byOwner.get(area.owner);
  // The owner id alone is a claim anyone can make: the pool must hold the area itself.
  return p instanceof Pool && !p.destroyed && p.hasArea(area) ? p : undefined;
}

/** Every live pool of the machine. */
export function pools(m: Machine): Pool[] {
  checkMachine(m, 'pools');
  return (existingRegistry(m)?.slots ?? []).filter((p): p is Pool => p instanceof Pool);
}

/** The pool table area (for audits and attacks on pool metadata); undefined before the first pool. */
export function poolTable(m: Machine): VmapArea | undefined {
  checkMachine(m, 'poolTable');
  return existingRegistry(m)?.table;
}
