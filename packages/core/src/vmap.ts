import type { ProtLevel } from './backend.js';

/** vm_struct / vmap_area flags, after the prmem series (VM_PMALLOC, ...). */
export const VM = {
  ALLOC: 1 << 0,
  /** Allocated in the reserved write-rare range. */
  WR_RANGE: 1 << 1,
  PMALLOC: 1 << 2,
  PMALLOC_WR: 1 << 3,
  PMALLOC_PROTECTED: 1 << 4,
} as const;

/** A virtually contiguous kernel area (`struct vmap_area` + `vm_struct`). */
export class VmapArea {
  /** The protection level the area's pages have now. */
  level: ProtLevel = 'rw';
  /** Owner id (a pool), -1 if none. */
  owner = -1;
  freed = false;
  constructor(
    readonly id: number,
    readonly start: number,
    /** Mapped bytes (a multiple of the page size; the guard page is not included). */
    readonly size: number,
    public flags: number,
    readonly pfns: readonly number[],
    readonly name: string,
  ) {}

  get end(): number {
    return this.start + this.size;
  }

  contains(va: number, len = 1): boolean {
    return va >= this.start && va + len <= this.start + this.size;
  }
}
