import { type Cpu, type Machine, PAGE_SIZE, VM, type VmapArea } from '@prmem/core';
import { wrBatch } from '@prmem/wr-ops';

/**
 * The pool table: fixed-size pool descriptors in simulated memory, in an area of the
 * write-rare range protected write-rare from the moment it exists. A plain write to it
 * faults; its fields change only through write-rare, and only the fields that must change
 * after creation (level, newest area, area count, destroyed) ever do.
 *
 * Descriptor layout (64 bytes, little-endian):
 *   0 u32 magic 'PMAL' (0 = free slot)   4 u32 mode bits        8 u32 refill (bytes)
 *  12 u32 align (bytes)                 16 u32 limit (level code) 20 u32 level (level code)
 *  24 u64 newest area (canonical ptr)   32 u32 area count        36 u32 flags (bit 0: destroyed)
 *  40 u32 id                            44 reserved              48 name[16] (NUL-padded)
 */
export const DESC_SIZE = 64;
export const TABLE_SLOTS = 1024;
export const DESC_MAGIC = 0x4c414d50; // 'PMAL'
export const OFF = {
  magic: 0,
  mode: 4,
  refill: 8,
  align: 12,
  limit: 16,
  level: 20,
  newestArea: 24,
  areaCount: 32,
  flags: 36,
  id: 40,
  name: 48,
} as const;
export const FLAG_DESTROYED = 1;
export const NAME_BYTES = 15;

export interface Registry {
  readonly table: VmapArea;
  /** Live pools by slot; a slot is free again once its pool is destroyed. */
  readonly slots: (object | undefined)[];
  /** Live pools by the id of their area-owner handle (area.owner → pool). */
  readonly byOwner: Map<number, object>;
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
    r = { table, slots: new Array(TABLE_SLOTS), byOwner: new Map() };
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

export interface DescriptorInit {
  readonly id: number;
  readonly mode: number;
  readonly refill: number;
  readonly align: number;
  readonly limit: number;
  readonly name: Uint8Array;
}

/** Writes a whole new descriptor in one write-rare batch. */
export function writeDescriptor(cpu: Cpu, va: number, d: DescriptorInit): void {
  const b = new Uint8Array(DESC_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(OFF.magic, DESC_MAGIC, true);
  v.setUint32(OFF.mode, d.mode, true);
  v.setUint32(OFF.refill, d.refill, true);
  v.setUint32(OFF.align, d.align, true);
  v.setUint32(OFF.limit, d.limit, true);
  v.setUint32(OFF.id, d.id, true);
  b.set(d.name.subarray(0, NAME_BYTES), OFF.name);
  wrBatch(cpu, (w) => w.memcpy(va, b));
}

export const TABLE_PAGES = (TABLE_SLOTS * DESC_SIZE) / PAGE_SIZE;
