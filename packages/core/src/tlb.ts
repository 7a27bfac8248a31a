import * as addr from './addr.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { PAGE_MASK, PAGE_SHIFT, PAGE_SIZE } = addr;

/**
 * TLB entry flags, architecture-neutral: a backend's walk translates its own PTE bits
 * into these. As in QEMU's softmmu, the permission that matters on the hot path is folded
 * into the comparator instead: an entry whose writes must take the slow path simply has
 * no write tag.
 */
export const TLBF = {
  R: 1 << 0,
  W: 1 << 1,
  X: 1 << 2,
  U: 1 << 3,
  G: 1 << 4,
  /** The PTE's dirty bit was set when the entry was filled. */
  D: 1 << 5,
  /** Every read must take the slow path (an architecture hook wants to see it). */
  SLOW_R: 1 << 6,
  /** Every write must take the slow path (protection key, cache model, ...). */
  SLOW_W: 1 << 7,
} as const;
/** Protection key / domain, 4 bits (x86 PTE bits 59–62). */
export const TLBF_PKEY_SHIFT = 8;
export const TLBF_PKEY_MASK = 0xf << TLBF_PKEY_SHIFT;

/** ASIDs/PCIDs are 12-bit in the model; 0xfff is the tag of global entries. */
export const GLOBAL_TAG = 0xfff;
export const MAX_ASID = GLOBAL_TAG - 1;

/**
 * A per-CPU, direct-mapped, ASID-tagged TLB after QEMU's `CPUTLBEntry` and v86's typed
 * arrays. The comparator is `pageBase + tag` where `tag` is the ASID, or GLOBAL_TAG for a
 * global entry: page bases are multiples of 4096, so the sum is exact and unique.
 * Entries stay until flushed or evicted by a conflicting fill: a missed flush leaves a
 * stale translation that still works, exactly as on hardware.
 */
export class Tlb {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare readonly size: number;
  declare readonly mask: number;
  /** The entry's comparator, pageBase + tag, or NaN if the slot is empty. */
  declare readonly tag: Float64Array;
  /**
   * Fast-path read comparator: equal to `tag` unless reads must take the slow path. Empty
   * slots hold NaN, which no computed key (even from a negative or fractional address)
   * can equal, so the hit path needs no validity check.
   */
  declare readonly rtag: Float64Array;
  /** Fast-path write comparator: equal to `tag` when fast writes are allowed, else NaN. */
  declare readonly wtag: Float64Array;
  /** Physical address of the frame. */
  declare readonly pa: Float64Array;
  /** pa - pageBase, as QEMU's `addend`: the hit path turns a VA into a PA with one add. */
  declare readonly addend: Float64Array;
  declare readonly flags: Uint32Array;

  constructor(entries: number) {
    this.size = entries;
    this.mask = entries - 1;
    this.tag = new Float64Array(entries).fill(Number.NaN);
    this.rtag = new Float64Array(entries).fill(Number.NaN);
    this.wtag = new Float64Array(entries).fill(Number.NaN);
    this.pa = new Float64Array(entries);
    this.addend = new Float64Array(entries);
    this.flags = new Uint32Array(entries);
  }

  /**
   * The slot of a page: bits 12 and up of its VA. `>>>` first takes the VA modulo 2^32,
   * which keeps bits 12-31, more than a mask of at most 2^16 entries sees. The CPU's hit
   * paths compute the same expression inline.
   */
  static slot(base: number, mask: number): number {
    return (base >>> PAGE_SHIFT) & mask;
  }

  /** Fills the slot of `base`, evicting whatever was there. */
  fill(base: number, asid: number, pa: number, flags: number): number {
    const idx = (base >>> PAGE_SHIFT) & this.mask;
    const tag = base + ((flags & TLBF.G) !== 0 ? GLOBAL_TAG : asid);
    this.tag[idx] = tag;
    this.rtag[idx] = (flags & TLBF.SLOW_R) !== 0 ? Number.NaN : tag;
    const fastWrite =
      (flags & (TLBF.W | TLBF.D)) === (TLBF.W | TLBF.D) && (flags & TLBF.SLOW_W) === 0;
    this.wtag[idx] = fastWrite ? tag : Number.NaN;
    this.pa[idx] = pa;
    this.addend[idx] = pa - base;
    this.flags[idx] = flags;
    return idx;
  }

  /** The slot holding a translation of `base` usable under `asid`, or -1. */
  lookup(base: number, asid: number): number {
    const idx = (base >>> PAGE_SHIFT) & this.mask;
    const t = this.tag[idx];
    return t === base + asid || t === base + GLOBAL_TAG ? idx : -1;
  }

  private drop(idx: number): void {
    this.tag[idx] = Number.NaN;
    this.rtag[idx] = Number.NaN;
    this.wtag[idx] = Number.NaN;
    this.flags[idx] = 0;
  }

  valid(idx: number): boolean {
    return this.tag[idx] >= 0;
  }

  /** INVLPG: the page's entry for this ASID, and its global entry. */
  flushPage(base: number, asid: number): number {
    const idx = (base >>> PAGE_SHIFT) & this.mask;
    const t = this.tag[idx];
    if (t === base + asid || t === base + GLOBAL_TAG) {
      this.drop(idx);
      return 1;
    }
    return 0;
  }

  /** TLBI VAAE1: the page under every ASID, global or not. */
  flushPageAllAsids(base: number): number {
    const idx = (base >>> PAGE_SHIFT) & this.mask;
    const t = this.tag[idx];
    if (t >= base && t <= base + GLOBAL_TAG) {
      this.drop(idx);
      return 1;
    }
    return 0;
  }

  /** Every entry of [start, end) under every ASID. */
  flushRange(start: number, end: number): number {
    let n = 0;
    const pages = Math.ceil((end - start) / PAGE_SIZE);
    if (pages >= this.size) {
      for (let i = 0; i < this.size; i++) {
        const t = this.tag[i];
        if (!(t >= 0)) continue;
        const b = t - (t & PAGE_MASK);
        if (b >= start && b < end) {
          this.drop(i);
          n++;
        }
      }
      return n;
    }
    for (let b = start - (start % PAGE_SIZE); b < end; b += PAGE_SIZE)
      n += this.flushPageAllAsids(b);
    return n;
  }

  /** A context's non-global entries (CR3 write without NOFLUSH, TLBI ASIDE1). */
  flushAsid(asid: number): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      const t = this.tag[i];
      if (t >= 0 && (t & PAGE_MASK) === asid) {
        this.drop(i);
        n++;
      }
    }
    return n;
  }

  /** Every non-global entry of every ASID. */
  flushNonGlobal(): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      const t = this.tag[i];
      if (t >= 0 && (t & PAGE_MASK) !== GLOBAL_TAG) {
        this.drop(i);
        n++;
      }
    }
    return n;
  }

  /** Everything, global entries included. */
  flushAll(): number {
    let n = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.tag[i] >= 0) n++;
    }
    this.tag.fill(Number.NaN);
    this.rtag.fill(Number.NaN);
    this.wtag.fill(Number.NaN);
    this.flags.fill(0);
    return n;
  }

  /** Valid entries, for audits and dumps (cold path). */
  *entries(): Generator<TlbEntry> {
    for (let i = 0; i < this.size; i++) {
      const t = this.tag[i];
      if (!(t >= 0)) continue;
      const tag = t & PAGE_MASK;
      yield {
        slot: i,
        va: t - tag,
        asid: tag === GLOBAL_TAG ? -1 : tag,
        global: tag === GLOBAL_TAG,
        pa: this.pa[i],
        flags: this.flags[i],
        fastWrite: this.wtag[i] === t,
      };
    }
  }
}

export interface TlbEntry {
  readonly slot: number;
  readonly va: number;
  /** -1 for a global entry. */
  readonly asid: number;
  readonly global: boolean;
  readonly pa: number;
  readonly flags: number;
  readonly fastWrite: boolean;
}
