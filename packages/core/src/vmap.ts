import type { ProtLevel } from './backend.js';

/** vm_struct / vmap_area flags, after the prmem series (VM_PMALLOC, ...). */
export const VM = {
  ALLOC: 1 << 0,
  /** Allocated in the reserved write-rare range. */
  WR_RANGE: 1 << 1,
  PMALLOC: 1 << 2,
  PMALLOC_WR: 1 << 3,
  /** Set by the machine when a PMALLOC area is protected (VM_PMALLOC_PROTECTED). */
  PMALLOC_PROTECTED: 1 << 4,
} as const;

/**
 * Who owns a set of areas: an unforgeable handle the machine hands out
 * (`machine.registerOwner`). Only its holder may change the protection of, or free, the
 * areas allocated with it: a caller that merely knows an owner's id cannot claim it.
 */
export class AreaOwner {
  /** @internal made by Machine.registerOwner */
  constructor(
    /** Small integer id, stored in frame metadata (page->private's pool link). */
    readonly id: number,
    readonly name: string,
  ) {}
}

/**
 * A virtually contiguous kernel area (`struct vmap_area` + `vm_struct`). Its state is
 * the machine's: callers read it, only the machine changes it.
 */
export class VmapArea {
  private lvl: ProtLevel = 'rw';
  private fl: number;
  private dead = false;
  /** @internal made by Machine.vmalloc */
  constructor(
    readonly id: number,
    readonly start: number,
    /** Mapped bytes (a multiple of the page size; the guard page is not included). */
    readonly size: number,
    flags: number,
    readonly pfns: readonly number[],
    readonly name: string,
    /** The owner's id, -1 if the area has no owner. */
    readonly owner: number,
    /** The most restrictive level the area may ever reach, fixed at allocation. */
    readonly ceiling: 'wr' | 'ro',
    /**
     * Whether its protection may be released when it is freed (HKIP's RECL pools). A
     * protected area that is not reclaimable keeps its frames protected for good.
     */
    readonly reclaimable: boolean,
  ) {
    this.fl = flags;
  }

  /** The protection level the area's pages have now. */
  get level(): ProtLevel {
    return this.lvl;
  }

  get flags(): number {
    return this.fl;
  }

  get freed(): boolean {
    return this.dead;
  }

  get end(): number {
    return this.start + this.size;
  }

  contains(va: number, len = 1): boolean {
    return va >= this.start && va + len <= this.start + this.size;
  }
}

/** @internal the machine's write access to an area's state (not exported from the package). */
export const areaState = {
  setLevel(a: VmapArea, level: ProtLevel): void {
    (a as unknown as { lvl: ProtLevel }).lvl = level;
  },
  setFlags(a: VmapArea, flags: number): void {
    (a as unknown as { fl: number }).fl = flags;
  },
  markFreed(a: VmapArea): void {
    (a as unknown as { dead: boolean }).dead = true;
  },
};
