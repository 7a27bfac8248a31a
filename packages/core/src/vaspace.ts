import { InvalidArgumentError } from './errors.js';

/**
 * A range of kernel virtual addresses handed out in page-multiple pieces (the model of
 * `vmap_area` allocation in `mm/vmalloc.c`): a bump pointer, and the free list of ranges
 * given back. A freed range is reused only after `quarantine` later frees have passed it
 * (0: at once). The caller frees a range only after its shootdown, so no CPU can still
 * translate it when it is handed out again.
 */
export class VaSpace {
  private next: number;
  /** Free ranges, sorted by start and coalesced: starts and sizes. */
  private readonly freeStart: number[] = [];
  private readonly freeSize: number[] = [];
  /** Freed ranges waiting out the quarantine, oldest first. */
  private readonly held: number[] = [];

  constructor(
    readonly name: string,
    readonly start: number,
    readonly end: number,
    readonly quarantine: number,
  ) {
    this.next = start;
  }

  /** The lowest free range of `bytes` starting at a multiple of `align`, or -1 (nothing changes). */
  alloc(bytes: number, align = 1): number {
    const fs = this.freeStart;
    const sz = this.freeSize;
    for (let i = 0; i < fs.length; i++) {
      const at = roundUp(fs[i], align);
      const rangeEnd = fs[i] + sz[i];
      if (at + bytes > rangeEnd) continue;
      const before = at - fs[i];
      const after = rangeEnd - at - bytes;
      if (before === 0 && after === 0) {
        fs.splice(i, 1);
        sz.splice(i, 1);
      } else if (before === 0) {
        fs[i] += bytes;
        sz[i] -= bytes;
      } else {
        sz[i] = before;
        if (after > 0) {
          fs.splice(i + 1, 0, at + bytes);
          sz.splice(i + 1, 0, after);
        }
      }
      return at;
    }
    const at = roundUp(this.next, align);
    if (at + bytes > this.end) return -1;
    const gap = at - this.next;
    this.next = at + bytes;
    if (gap > 0) this.insert(at - gap, gap);
    return at;
  }

  /** Gives [at, at+bytes) back; it is reused once the quarantine has passed it. */
  free(at: number, bytes: number): void {
    if (at < this.start || at + bytes > this.next)
      throw new InvalidArgumentError('range', at, `not allocated from ${this.name}`);
    this.held.push(at, bytes);
    while (this.held.length > 2 * this.quarantine) {
      const s = this.held.shift() as number;
      const n = this.held.shift() as number;
      this.insert(s, n);
    }
  }

  private insert(at: number, bytes: number): void {
    const fs = this.freeStart;
    const sz = this.freeSize;
    let i = 0;
    while (i < fs.length && fs[i] < at) i++;
    fs.splice(i, 0, at);
    sz.splice(i, 0, bytes);
    // Coalesce with the next, then the previous neighbour.
    if (i + 1 < fs.length && fs[i] + sz[i] === fs[i + 1]) {
      sz[i] += sz[i + 1];
      fs.splice(i + 1, 1);
      sz.splice(i + 1, 1);
    }
    if (i > 0 && fs[i - 1] + sz[i - 1] === fs[i]) {
      sz[i - 1] += sz[i];
      fs.splice(i, 1);
      sz.splice(i, 1);
      i--;
    }
    // A free range that reaches the bump pointer lowers it: the space is one run again.
    if (fs[i] + sz[i] === this.next) {
      this.next = fs[i];
      fs.splice(i, 1);
      sz.splice(i, 1);
    }
  }

  /** The largest range `alloc` could return now. */
  get largestFree(): number {
    let best = this.end - this.next;
    for (const n of this.freeSize) if (n > best) best = n;
    return best;
  }

  /** Bytes handed out and not yet given back (quarantined ranges count as in use). */
  get inUse(): number {
    let free = this.end - this.next;
    for (const n of this.freeSize) free += n;
    return this.end - this.start - free;
  }

  /** Ranges held back by the quarantine. */
  get quarantined(): number {
    return this.held.length / 2;
  }
}

function roundUp(v: number, align: number): number {
  const r = v % align;
  return r === 0 ? v : v + align - r;
}
