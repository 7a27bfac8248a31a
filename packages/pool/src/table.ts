import { type Cpu, type Machine, PAGE_SIZE, toCanonicalHi, VM, type VmapArea } from '@prmem/core';
import { wrBatch } from '@prmem/wr-ops';

/**
 * Pool metadata lives in simulated memory, split by how it may change (the seed thread:
 * "only certain fields of a pool structure would be writable, even as write-rare, after
 * the pool is initialized"):
 *
 * - The **fixed descriptor**: one page per pool, allocated by createPool, written with
 *   plain stores while it is private, then protected read-only. Mode bits, limit, refill,
 *   align, id, name and reclaimability (and room for a reserved range). A write-rare
 *   call aimed at it is refused (`read-only`) and recorded; a plain store faults.
 * - The **pool table slot**: fixed-size slots in one area of the write-rare range,
 *   protected write-rare from the moment it exists. Only what must change after
 *   creation: level, newest area, area count, the destroyed flag, and the pointer to the
 *   fixed descriptor. The pool checks these against the fixed descriptor and its own
 *   record before every decision (see pool.ts).
 *
 * Slot layout (64 bytes, little-endian):
 *   0 u32 magic 'PMAL' (0 = free slot)   4 u32 level (level code)
 *   8 u64 fixed descriptor (canonical ptr)   16 u64 newest area (canonical ptr, 0 = none)
 *  24 u32 area count   28 u32 flags (bit 0: destroyed)   32..63 reserved (zero)
 *
 * Fixed descriptor layout (the first 64 bytes of its page):
 *   0 u32 magic 'PMFX'   4 u32 id (the slot)   8 u32 mode bits   12 u32 limit (level code)
 *  16 u32 refill (bytes)   20 u32 align (bytes)   24 u64 reserved range start (0 = none)
 *  32 u64 reserved range size   40 u32 flags (bit 0: reclaimable)   44 reserved
 *  48 name[16] (NUL-padded)
 */
export const DESC_SIZE = 64;
export const TABLE_SLOTS = 1024;
export const DESC_MAGIC = 0x4c414d50; // 'PMAL'
export const FIXED_MAGIC = 0x5846_4d50; // 'PMFX'
export const OFF = Object.freeze({
  magic: 0,
  level: 4,
  fixed: 8,
  newestArea: 16,
  areaCount: 24,
  flags: 28,
} as const);
export const FIXED_OFF = Object.freeze({
  magic: 0,
  id: 4,
  mode: 8,
  limit: 12,
  refill: 16,
  align: 20,
  rangeStart: 24,
  rangeSize: 32,
  flags: 40,
  name: 48,
} as const);
export const FLAG_DESTROYED = 1;
/** Fixed descriptor flag: the pool was created reclaimable. */
export const FIXED_RECLAIMABLE = 1;
export const NAME_BYTES = 15;
export const TABLE_PAGES = (TABLE_SLOTS * DESC_SIZE) / PAGE_SIZE;

export interface Registry {
  readonly table: VmapArea;
  /** Live pools by slot; a slot is free again once its pool is destroyed. */
  readonly slots: (object | undefined)[];
  /** Live pools by the id of their area-owner handle (area.owner → pool). */
  readonly byOwner: Map<number, object>;
  /** Live pools with a reserved range, by the reserve's id. */
  readonly byReserve: Map<number, object>;
}

const registries = new WeakMap<Machine, Registry>();

/** The machine's pool table, created (and protected write-rare) on first use. */
export function registry(m: Machine): Registry {
  let r = registries.get(m);
  if (!r) {
    const owner = m.registerOwner('pmalloc pool table');
    const table = m.vmalloc(TABLE_SLOTS * DESC_SIZE, {
      range: 'wr',
      flags: VM.PMALLOC | VM.PMALLOC_WR,
      owner,
      ceiling: 'wr',
      reclaimable: false,
      name: 'pmalloc_pool_table',
    });
    m.protect(table.start, table.size, 'wr', 0, owner);
    r = { table, slots: new Array(TABLE_SLOTS), byOwner: new Map(), byReserve: new Map() };
    registries.set(m, r);
  }
  return r;
}

export function existingRegistry(m: Machine): Registry | undefined {
  return registries.get(m);
}

export function slotVa(r: Registry, slot: number): number {
  return r.table.start + slot * DESC_SIZE;
}

/** The first free slot, or -1 when the table is full (nothing is allocated to find it). */
export function freeSlot(r: Registry | undefined): number {
  if (!r) return 0;
  for (let i = 0; i < TABLE_SLOTS; i++) if (r.slots[i] === undefined) return i;
  return -1;
}

export interface FixedInit {
  readonly id: number;
  readonly mode: number;
  readonly refill: number;
  readonly align: number;
  readonly limit: number;
  readonly flags: number;
  readonly name: Uint8Array;
  readonly rangeStart: number;
  readonly rangeSize: number;
}

/** The bytes of a fixed descriptor. */
export function fixedBytes(d: FixedInit): Uint8Array {
  const b = new Uint8Array(DESC_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(FIXED_OFF.magic, FIXED_MAGIC, true);
  v.setUint32(FIXED_OFF.id, d.id, true);
  v.setUint32(FIXED_OFF.mode, d.mode, true);
  v.setUint32(FIXED_OFF.limit, d.limit, true);
  v.setUint32(FIXED_OFF.refill, d.refill, true);
  v.setUint32(FIXED_OFF.align, d.align, true);
  v.setUint32(FIXED_OFF.flags, d.flags, true);
  // The reserved range as a canonical pointer's halves and a size (0, 0: none).
  v.setUint32(FIXED_OFF.rangeStart, d.rangeStart % 2 ** 32, true);
  v.setUint32(FIXED_OFF.rangeStart + 4, d.rangeStart === 0 ? 0 : toCanonicalHi(d.rangeStart), true);
  v.setUint32(FIXED_OFF.rangeSize, d.rangeSize, true);
  b.set(d.name.subarray(0, NAME_BYTES), FIXED_OFF.name);
  return b;
}

/** Writes a whole new slot in one write-rare batch (the slot's reserved bytes are zeroed). */
export function writeSlot(cpu: Cpu, va: number, fixedVa: number): void {
  const b = new Uint8Array(DESC_SIZE);
  new DataView(b.buffer).setUint32(OFF.magic, DESC_MAGIC, true);
  wrBatch(cpu, (w) => {
    w.memcpy(va, b);
    w.ptr(va + OFF.fixed, fixedVa);
  });
}
