import { PAGE_SHIFT, PAGE_SIZE } from './addr.js';
import { BadSizeError, InvalidArgumentError, OutOfMemoryError } from './errors.js';

/** Frame flags: the model of `struct page` flags that matter here. */
export const PG = {
  ALLOCATED: 1 << 0,
  /** Holds a page table (any level, any stage). */
  PAGETABLE: 1 << 1,
  /** Backs a static kernel section (.rodata, .data..ro_after_init, ...). */
  KERNEL_IMAGE: 1 << 2,
  /** Backs a vmalloc/vmap area; `area` says which. */
  VMALLOC: 1 << 3,
  /** Protected write-rare: writable only through the write-rare mechanism. */
  PROT_WR: 1 << 4,
  /** Protected read-only: never writable again. */
  PROT_RO: 1 << 5,
  /** Reserved at boot (frame 0, firmware); never allocated. */
  RESERVED: 1 << 6,
  /** Scrubbed and parked in a destroyed pool's cache or quarantine. */
  QUARANTINED: 1 << 7,
} as const;

export const PG_PROTECTED = PG.PROT_WR | PG.PROT_RO;

export type FrameUse = 'pagetable' | 'image' | 'vmalloc' | 'other';

/**
 * Memory of released machines, kept for the next `PhysMem` of the same size: allocating
 * and zeroing 16-64 MiB was most of building a machine, and the garbage collector's
 * largest cost where a program builds one machine after another (the fuzzer, per
 * program). Bounded, so a burst of releases keeps no more than this.
 */
const spares: ArrayBuffer[] = [];
let spareBytes = 0;
const SPARE_LIMIT = 256 * 1024 * 1024;

/** Zeroing granule of a reused memory: 16 frames, one native compare each. */
const ZERO_CHUNK = 64 * 1024;
// Node's Buffer compares natively; a browser has none, and fills everything instead.
const NodeBuffer = (globalThis as { Buffer?: typeof Buffer }).Buffer;
const zeroChunk = NodeBuffer?.alloc(ZERO_CHUNK);

/**
 * Zeroes a reused memory. With a native compare only the chunks that are not zero are
 * written: the pages a machine never touched stay unbacked by the host (they read as the
 * host's shared zero page), so a whole-memory compare of them stays cheap.
 */
function zeroMemory(buf: ArrayBuffer): void {
  const bytes = new Uint8Array(buf);
  if (!NodeBuffer || !zeroChunk || buf.byteLength % ZERO_CHUNK !== 0) {
    bytes.fill(0);
    return;
  }
  const b = NodeBuffer.from(buf);
  for (let off = 0; off < buf.byteLength; off += ZERO_CHUNK)
    if (b.compare(zeroChunk, 0, ZERO_CHUNK, off, off + ZERO_CHUNK) !== 0)
      bytes.fill(0, off, off + ZERO_CHUNK);
}

/** A released memory of exactly `size` bytes, zeroed, or undefined. */
function takeSpare(size: number): ArrayBuffer | undefined {
  for (let i = spares.length - 1; i >= 0; i--) {
    const buf = spares[i];
    if (buf.byteLength !== size) continue;
    spares.splice(i, 1);
    spareBytes -= size;
    zeroMemory(buf);
    return buf;
  }
  return undefined;
}

/**
 * Simulated physical memory: one ArrayBuffer, 4 KiB frames, a deterministic frame
 * allocator and per-frame metadata in typed arrays (flags, owner, area link).
 */
export class PhysMem {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare readonly size: number;
  declare readonly frameCount: number;
  /** Raw physical memory. Callers may dump it; writing it bypasses the MMU (an attack). */
  declare readonly bytes: Uint8Array;
  declare readonly u32: Uint32Array;
  declare readonly view: DataView;
  /** Per-frame `struct page` model. */
  declare readonly frameFlags: Uint16Array;
  /** Owner id (an mm id for tables, a pool id for pool pages), -1 if none. */
  declare readonly frameOwner: Int32Array;
  /** The vmap area that uses the frame (page->private), -1 if none. */
  declare readonly frameArea: Int32Array;
  declare private readonly freeStack: Int32Array;
  /** Whether the memory is a released machine's, zeroed (it reads exactly as a new one). */
  declare readonly recycled: boolean;
  declare private readonly buffer: ArrayBuffer;
  private freeTop: number;

  constructor(memoryMiB: number) {
    if (!Number.isInteger(memoryMiB) || memoryMiB < 1 || memoryMiB > 2048) {
      throw new BadSizeError(memoryMiB, 'memoryMiB must be an integer in [1, 2048]');
    }
    this.size = memoryMiB * 1024 * 1024;
    const spare = takeSpare(this.size);
    const buf = spare ?? new ArrayBuffer(this.size);
    this.bytes = new Uint8Array(buf);
    this.u32 = new Uint32Array(buf);
    this.view = new DataView(buf);
    this.frameCount = this.size / PAGE_SIZE;
    this.frameFlags = new Uint16Array(this.frameCount);
    this.frameOwner = new Int32Array(this.frameCount).fill(-1);
    this.frameArea = new Int32Array(this.frameCount).fill(-1);
    this.freeStack = new Int32Array(this.frameCount);
    this.recycled = spare !== undefined;
    this.buffer = buf;
    // Frame 0 stays reserved so that a zero PFN is never a valid allocation.
    this.frameFlags[0] = PG.RESERVED;
    this.freeTop = 0;
    for (let pfn = this.frameCount - 1; pfn >= 1; pfn--) this.freeStack[this.freeTop++] = pfn;
  }

  /**
   * Whether any frame of [pa, pa + size) within memory has a flag in `mask` (a table walk
   * asks before the costly part of a leaf nobody needs).
   */
  anyFrameFlag(pa: number, size: number, mask: number): boolean {
    // An address off a page boundary names no frame (nor does NaN).
    if (!(pa % PAGE_SIZE === 0) || !(size > 0)) return false;
    const first = pa / PAGE_SIZE;
    const end = Math.min(first + Math.ceil(size / PAGE_SIZE), this.frameCount);
    const flags = this.frameFlags;
    for (let pfn = Math.max(first, 0); pfn < end; pfn++) if ((flags[pfn] & mask) !== 0) return true;
    return false;
  }

  /** Whether `release` gave the memory away. */
  get released(): boolean {
    return this.buffer.byteLength === 0;
  }

  /**
   * Gives the memory to the next `PhysMem` of the same size (zeroed when it is taken).
   * The memory moves (a transfer, no copy): every view of it, this object's and any a
   * caller kept, is detached — reads as empty, cannot reach the next owner's memory.
   * A second call does nothing. `Machine.dispose` is the way to call it: it also empties
   * the TLBs, which still name frames of this memory.
   * @internal
   */
  release(): void {
    const buf = this.buffer;
    if (buf.byteLength === 0) return;
    const moved = structuredClone(buf, { transfer: [buf] });
    if (spareBytes + moved.byteLength > SPARE_LIMIT) return;
    spares.push(moved);
    spareBytes += moved.byteLength;
  }

  get freeFrames(): number {
    return this.freeTop;
  }

  /**
   * Allocates `n` zeroed frames, all or nothing. Lowest PFNs first, so runs are
   * deterministic for a seed.
   */
  allocFrames(n: number, owner = -1): number[] {
    if (!Number.isInteger(n) || n < 1) throw new BadSizeError(n, 'frame count must be >= 1');
    if (n > this.freeTop) throw new OutOfMemoryError('physical frames', n, this.freeTop);
    const out: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const pfn = this.freeStack[--this.freeTop];
      this.frameFlags[pfn] = PG.ALLOCATED;
      this.frameOwner[pfn] = owner;
      this.frameArea[pfn] = -1;
      this.bytes.fill(0, pfn << PAGE_SHIFT, (pfn + 1) << PAGE_SHIFT);
      out[i] = pfn;
    }
    return out;
  }

  /**
   * Allocates `n` physically contiguous zeroed frames whose first PFN is a multiple of
   * `alignFrames` (e.g. a 16 KiB ARM L1 table), all or nothing. Returns the first PFN.
   */
  allocContiguous(n: number, alignFrames = 1, owner = -1): number {
    if (!Number.isInteger(n) || n < 1) throw new BadSizeError(n, 'frame count must be >= 1');
    if (!Number.isInteger(alignFrames) || alignFrames < 1) {
      throw new InvalidArgumentError('alignment', alignFrames, 'must be a positive integer');
    }
    const free = new Uint8Array(this.frameCount);
    for (let i = 0; i < this.freeTop; i++) free[this.freeStack[i]] = 1;
    for (let first = alignFrames; first + n <= this.frameCount; first += alignFrames) {
      let ok = true;
      for (let j = 0; j < n && ok; j++) ok = free[first + j] === 1;
      if (!ok) continue;
      // Take exactly these frames out of the free stack, keeping the rest in order.
      let w = 0;
      for (let i = 0; i < this.freeTop; i++) {
        const pfn = this.freeStack[i];
        if (pfn < first || pfn >= first + n) this.freeStack[w++] = pfn;
      }
      this.freeTop = w;
      for (let j = 0; j < n; j++) {
        const pfn = first + j;
        this.frameFlags[pfn] = PG.ALLOCATED;
        this.frameOwner[pfn] = owner;
        this.frameArea[pfn] = -1;
      }
      this.bytes.fill(0, first << PAGE_SHIFT, (first + n) << PAGE_SHIFT);
      return first;
    }
    throw new OutOfMemoryError(`contiguous frames (align ${alignFrames})`, n, 0);
  }

  allocFrame(owner = -1): number {
    return this.allocFrames(1, owner)[0];
  }

  freeFrame(pfn: number): void {
    this.checkPfn(pfn);
    if ((this.frameFlags[pfn] & PG.ALLOCATED) === 0) {
      throw new InvalidArgumentError('pfn', pfn, 'double free of a frame');
    }
    this.frameFlags[pfn] = 0;
    this.frameOwner[pfn] = -1;
    this.frameArea[pfn] = -1;
    this.freeStack[this.freeTop++] = pfn;
  }

  checkPfn(pfn: number): void {
    if (!Number.isInteger(pfn) || pfn < 0 || pfn >= this.frameCount) {
      throw new InvalidArgumentError('pfn', pfn, `must be in [0, ${this.frameCount})`);
    }
  }

  /** The number of frames currently allocated (including page tables). */
  get allocatedFrames(): number {
    return this.frameCount - 1 - this.freeTop;
  }

  read32(pa: number): number {
    return (pa & 3) === 0 ? this.u32[pa >>> 2] : this.view.getUint32(pa, true);
  }

  write32(pa: number, v: number): void {
    if ((pa & 3) === 0) this.u32[pa >>> 2] = v;
    else this.view.setUint32(pa, v, true);
  }
}
