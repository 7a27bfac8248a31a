import {
  type AreaOwner,
  type Cpu,
  drain,
  type Machine,
  PAGE_SIZE,
  PROT_ORDER,
  type ProtLevel,
  type Steps,
  VM,
  type VmapArea,
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
  existingRegistry,
  FLAG_DESTROYED,
  NAME_BYTES,
  OFF,
  type Registry,
  registry,
  slotVa,
  TABLE_SLOTS,
  writeDescriptor,
} from './table.js';

export interface PoolOptions {
  readonly mode: PoolMode;
  /** Minimum size of a new area, in bytes (rounded up to pages). Default: one page. */
  readonly refill?: number;
  /** Alignment of every allocation, a power of two. Default: 8 (ARCH_KMALLOC_MINALIGN). */
  readonly align?: number;
  /** Up to 15 bytes of UTF-8, stored in the pool table. */
  readonly name?: string;
  /**
   * The most restrictive level the pool may ever reach, fixed at creation. Write-rare
   * modes default to 'wr': such a pool can never be made read-only, so nobody can block
   * its future updates. Pass 'ro' to allow `makeReadOnly()` later. RO modes are 'ro'.
   */
  readonly limit?: 'wr' | 'ro';
  /** The CPU the pool's own work runs on. Default: CPU 0. */
  readonly cpu?: number;
}

export interface DestroyOptions {
  /**
   * Give the scrubbed frames back to the allocator. The default keeps them quarantined,
   * so memory of a destroyed pool is never handed to another pool. Either way the
   * pool's virtual range is never reused: a stale pointer into it faults.
   */
  readonly reclaim?: boolean;
}

const textEncoder = new TextEncoder();

/**
 * A pmalloc pool: areas from the reserved write-rare range, allocation downward from the
 * top of the current area, protection of all its areas at once, monotonic levels
 * (writable → write-rare → read-only, never past the limit fixed at creation), and
 * destruction as the only way to release memory.
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
  /** The machine's owner handle for this pool's areas (only it may protect or free them). */
  private readonly ownerKey: AreaOwner;
  private readonly reg: Registry;
  private readonly areaList: VmapArea[] = [];
  private cur: VmapArea | undefined;
  /** Allocation cursor: the next object ends here (offset into `cur`). */
  private offset = 0;
  private dead = false;

  /** @internal use createPool() */
  constructor(
    m: Machine,
    reg: Registry,
    id: number,
    opts: Required<Omit<PoolOptions, 'limit' | 'cpu'>>,
    cpu: Cpu,
    ownerKey: AreaOwner,
  ) {
    this.machine = m;
    this.ownerKey = ownerKey;
    this.reg = reg;
    this.id = id;
    this.name = opts.name;
    this.mode = opts.mode;
    this.refill = opts.refill;
    this.align = opts.align;
    this.cpu = cpu;
  }

  // ---- the protected descriptor --------------------------------------------------------

  private get desc(): number {
    return slotVa(this.reg, this.id);
  }

  private field(off: number): number {
    return this.cpu.read32(this.desc + off);
  }

  /** Mode bits, as recorded in the protected pool table. */
  get modeBits(): number {
    return this.field(OFF.mode);
  }

  /** The pool's protection level (the table's record; areas added since may be writable). */
  get level(): ProtLevel {
    return CODE_LEVEL[this.field(OFF.level)];
  }

  /** The most restrictive level the pool may reach, fixed at creation. */
  get limit(): ProtLevel {
    return CODE_LEVEL[this.field(OFF.limit)];
  }

  /** The id of the pool's area-owner handle: `area.owner` of each of its areas. */
  get ownerId(): number {
    return this.ownerKey.id;
  }

  get destroyed(): boolean {
    return this.dead;
  }

  get areas(): readonly VmapArea[] {
    return this.areaList;
  }

  private setFields(fields: readonly (readonly [number, number])[], newestArea?: number): void {
    const base = this.desc;
    wrBatch(this.cpu, (w) => {
      for (const [off, v] of fields) w.assign(base + off, v, 4);
      if (newestArea !== undefined) w.ptr(base + OFF.newestArea, newestArea);
    });
  }

  private live(op: string): void {
    if (
      this.dead ||
      this.field(OFF.magic) !== DESC_MAGIC ||
      (this.field(OFF.flags) & FLAG_DESTROYED) !== 0
    ) {
      throw new PoolError('EPOOLDESTROYED', this.name, op, `${op} on a destroyed pool`);
    }
  }

  // ---- allocation ---------------------------------------------------------------------

  /** Allocates `size` bytes; returns the address. Memory of a fresh area is zeroed. */
  alloc(size: number): number {
    this.live('alloc');
    if (!Number.isInteger(size) || size <= 0 || size > this.machine.phys.size) {
      throw new PoolError(
        'EPOOLARG',
        this.name,
        size,
        'allocation size must be a positive integer no larger than memory',
      );
    }
    const bits = this.modeBits;
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
      range: 'wr',
      flags: VM.PMALLOC | (wr ? VM.PMALLOC_WR : 0),
      owner: this.ownerKey,
      ceiling: this.limit === 'ro' ? 'ro' : 'wr',
      name: `${this.name}#${this.areaList.length}`,
    });
    const prev = this.cur;
    if ((bits & PMALLOC_AUTO) !== 0 && prev && prev.level === 'rw')
      this.protectArea(prev, protectedLevel(bits));
    if (start) this.protectArea(area, 'wr');
    this.areaList.push(area);
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
      if (!Number.isInteger(v) || v <= 0)
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

  /** `protect()` one architectural step at a time, for a scheduler. */
  *protectSteps(): Steps {
    this.live('protect');
    yield* this.raiseSteps(protectedLevel(this.modeBits));
  }

  /** Write-rare → read-only, for good. Only a pool whose limit is 'ro' may do it. */
  makeReadOnly(): void {
    this.live('makeReadOnly');
    if (this.limit !== 'ro') {
      throw new PoolError(
        'EPOOLMODE',
        this.name,
        this.mode,
        `a ${this.mode} pool was created write-rare for good and can never be made read-only`,
      );
    }
    drain(this.raiseSteps('ro'));
  }

  private *raiseSteps(target: ProtLevel): Steps {
    const current = this.level;
    if (PROT_ORDER[target] < PROT_ORDER[current]) {
      throw new PoolError(
        'EPOOLDOWNGRADE',
        this.name,
        target,
        `protection is ${current} and can only become more restrictive`,
      );
    }
    if (PROT_ORDER[target] > PROT_ORDER[this.limit]) {
      throw new PoolError('EPOOLDOWNGRADE', this.name, target, `the pool's limit is ${this.limit}`);
    }
    for (const a of this.areaList)
      if (PROT_ORDER[a.level] < PROT_ORDER[target])
        yield* this.machine.protectSteps(a.start, a.size, target, this.cpu.id, this.ownerKey);
    if ((this.modeBits & PMALLOC_START) === 0 || target === 'ro') {
      this.cur = undefined;
      this.offset = 0;
    }
    if (target !== current) this.setFields([[OFF.level, LEVEL_CODE[target]]]);
  }

  // ---- destruction --------------------------------------------------------------------

  /** Releases every area at once: unmapped, scrubbed, quarantined (or reclaimed). */
  destroy(opts: DestroyOptions = {}): void {
    this.live('destroy');
    this.setFields([[OFF.flags, FLAG_DESTROYED]]);
    for (const a of this.areaList)
      this.machine.vfree(a, { quarantine: !opts.reclaim, owner: this.ownerKey }, this.cpu.id);
    this.dead = true;
    this.cur = undefined;
    this.reg.slots[this.id] = undefined;
    this.reg.byOwner.delete(this.ownerKey.id);
    this.setFields([[OFF.magic, 0]]);
  }
}

function roundDown(v: number, align: number): number {
  return v - (((v % align) + align) % align);
}

/** Creates a pool; its descriptor goes into the protected pool table. */
export function createPool(m: Machine, opts: PoolOptions): Pool {
  const mode = opts?.mode;
  if (!MODES.includes(mode))
    throw new PoolError(
      'EPOOLARG',
      opts?.name ?? '?',
      mode,
      `mode must be one of ${MODES.join(', ')}`,
    );
  const name = opts.name ?? `pool`;
  const nameBytes = typeof name === 'string' ? textEncoder.encode(name) : undefined;
  if (!nameBytes || nameBytes.length === 0 || nameBytes.length > NAME_BYTES) {
    throw new PoolError(
      'EPOOLARG',
      String(name),
      name,
      `name must be 1..${NAME_BYTES} bytes of UTF-8`,
    );
  }
  const refill = opts.refill ?? PAGE_SIZE;
  if (!Number.isInteger(refill) || refill <= 0 || refill > m.phys.size) {
    throw new PoolError(
      'EPOOLARG',
      name,
      refill,
      'refill must be a positive integer number of bytes',
    );
  }
  const align = opts.align ?? 8;
  if (!Number.isInteger(align) || align < 1 || align > PAGE_SIZE || (align & (align - 1)) !== 0) {
    throw new PoolError('EPOOLARG', name, align, 'align must be a power of two in [1, 4096]');
  }
  const bits = MODE_BITS[mode];
  const wr = (bits & PMALLOC_WR) !== 0;
  const limit = opts.limit ?? (wr ? 'wr' : 'ro');
  if ((limit !== 'wr' && limit !== 'ro') || (!wr && limit !== 'ro')) {
    throw new PoolError(
      'EPOOLARG',
      name,
      limit,
      `limit of a ${mode} pool must be ${wr ? "'wr' or 'ro'" : "'ro'"}`,
    );
  }
  const cpu = m.cpu(opts.cpu ?? 0);
  const reg = registry(m);
  const slot = reg.slots.findIndex((s, i) => s === undefined && i < TABLE_SLOTS);
  const id = slot >= 0 ? slot : reg.slots.length < TABLE_SLOTS ? reg.slots.length : -1;
  if (id < 0) throw new PoolError('EPOOLTABLE', name, TABLE_SLOTS, 'the pool table is full');
  const refillBytes = Math.ceil(refill / PAGE_SIZE) * PAGE_SIZE;
  writeDescriptor(cpu, slotVa(reg, id), {
    id,
    mode: bits,
    refill: refillBytes,
    align,
    limit: LEVEL_CODE[limit],
    name: nameBytes,
  });
  const ownerKey = m.registerOwner(`pool ${name}`);
  const pool = new Pool(m, reg, id, { mode, refill: refillBytes, align, name }, cpu, ownerKey);
  reg.slots[id] = pool;
  reg.byOwner.set(ownerKey.id, pool);
  return pool;
}

/** The pool that owns `va` (address → page → area → pool), or undefined. O(1). */
export function findPool(m: Machine, va: number): Pool | undefined {
  if (!m.inWrRange(va)) return undefined;
  const area = m.findArea(va);
  if (!area || area.owner < 0 || (area.flags & VM.PMALLOC) === 0) return undefined;
  const p = existingRegistry(m)?.byOwner.get(area.owner);
  return p instanceof Pool && !p.destroyed ? p : undefined;
}

/** Every live pool of the machine. */
export function pools(m: Machine): Pool[] {
  return (existingRegistry(m)?.slots ?? []).filter((p): p is Pool => p instanceof Pool);
}

/** The pool table area (for audits and attacks on pool metadata). */
export function poolTable(m: Machine): VmapArea {
  return registry(m).table;
}
