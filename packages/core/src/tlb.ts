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
 * Entries of the large-page TLB: 2 MiB and 1 GiB translations, direct-mapped by region
 * number. Real parts keep such entries in separate arrays of a few dozen (e.g. 32 2M/4M
 * entries in a Skylake L1 DTLB, 1 GiB entries shared in the STLB); one array of 32 is
 * the model's simplification.
 */
export const LARGE_TLB_ENTRIES = 32;
const LARGE_MASK = LARGE_TLB_ENTRIES - 1;
const SPAN_2M = 2 ** 21;
const SPAN_1G = 2 ** 30;

/** Bytes a translation of walk level `level` (1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB) maps. */
function spanOf(level: number): number {
  return level === 2 ? SPAN_2M : level === 3 ? SPAN_1G : PAGE_SIZE;
}

/**
 * A per-CPU, direct-mapped, ASID-tagged TLB after QEMU's `CPUTLBEntry` and v86's typed
 * arrays. The comparator is `pageBase + tag` where `tag` is the ASID, or GLOBAL_TAG for a
 * global entry: page bases are multiples of 4096, so the sum is exact and unique.
 * Entries stay until flushed or evicted by a conflicting fill: a missed flush leaves a
 * stale translation that still works, exactly as on hardware.
 *
 * A large (2 MiB / 1 GiB) translation is cached once, as one entry of the large-page
 * array, never as 4 KiB copies: a 4 KiB miss consults it before walking (the hit path
 * stays the one 4 KiB compare), and invalidating any address inside a large page drops
 * the whole translation, as INVLPG and TLBI do.
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
  /**
   * Physical address of the frame. An int32 (memory is at most 2 GiB, so every PA is below
   * 2^31): the hit path forms the PA as `pa | offset` in integer arithmetic, with no
   * double-to-integer conversion.
   */
  declare readonly pa: Int32Array;
  /** pa - pageBase, as QEMU's `addend` (kept for readers; the hit path uses `pa | offset`). */
  declare readonly addend: Float64Array;
  declare readonly flags: Uint32Array;
  /** Large entries: regionBase + tag (NaN: empty), span in bytes (0: empty), PA, flags. */
  declare readonly ltag: Float64Array;
  declare readonly lspan: Float64Array;
  declare readonly lpa: Float64Array;
  declare readonly lflags: Uint32Array;
  /** Valid large entries: while 0, a miss skips the large array. */
  declare large: number;

  constructor(entries: number) {
    this.size = entries;
    this.mask = entries - 1;
    this.tag = new Float64Array(entries).fill(Number.NaN);
    this.rtag = new Float64Array(entries).fill(Number.NaN);
    this.wtag = new Float64Array(entries).fill(Number.NaN);
    this.pa = new Int32Array(entries);
    this.addend = new Float64Array(entries);
    this.flags = new Uint32Array(entries);
    this.ltag = new Float64Array(LARGE_TLB_ENTRIES).fill(Number.NaN);
    this.lspan = new Float64Array(LARGE_TLB_ENTRIES);
    this.lpa = new Float64Array(LARGE_TLB_ENTRIES);
    this.lflags = new Uint32Array(LARGE_TLB_ENTRIES);
    this.large = 0;
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

  /**
   * Caches a large translation: `base`/`pa` are the 4 KiB page the walk was for, `level`
   * the leaf's (2: 2 MiB, 3: 1 GiB). Returns the large entry's index.
   */
  fillLarge(base: number, asid: number, pa: number, flags: number, level: number): number {
    const span = spanOf(level);
    const off = base % span;
    const region = base - off;
    const li = (level === 2 ? region >>> 21 : Math.floor(region / SPAN_1G)) & LARGE_MASK;
    if (this.lspan[li] === 0) this.large++;
    this.ltag[li] = region + ((flags & TLBF.G) !== 0 ? GLOBAL_TAG : asid);
    this.lspan[li] = span;
    this.lpa[li] = pa - off;
    this.lflags[li] = flags;
    return li;
  }

  /** Whether a 4 KiB or a large entry translates `base` under `asid` (tests, audits). */
  covers(base: number, asid: number): boolean {
    return this.lookup(base, asid) >= 0 || this.lookupLarge(base, asid) >= 0;
  }

  /** The large entry covering `base` usable under `asid`, or -1. */
  lookupLarge(base: number, asid: number): number {
    if (this.large === 0) return -1;
    let li = (base >>> 21) & LARGE_MASK;
    if (this.lspan[li] === SPAN_2M) {
      const r = base - (base % SPAN_2M);
      const t = this.ltag[li];
      if (t === r + asid || t === r + GLOBAL_TAG) return li;
    }
    li = Math.floor(base / SPAN_1G) & LARGE_MASK;
    if (this.lspan[li] === SPAN_1G) {
      const r = base - (base % SPAN_1G);
      const t = this.ltag[li];
      if (t === r + asid || t === r + GLOBAL_TAG) return li;
    }
    return -1;
  }

  /** The walk level (2 or 3) of a large entry. */
  largeLevel(li: number): number {
    return this.lspan[li] === SPAN_1G ? 3 : 2;
  }

  private dropLarge(li: number): void {
    this.ltag[li] = Number.NaN;
    this.lspan[li] = 0;
    this.lflags[li] = 0;
    this.large--;
  }

  /** Does a tag `t - base` (entry of page/region `base`) match `asid` (-1: every ASID)? */
  private static tagMatches(tag: number, asid: number): boolean {
    return asid < 0 ? tag >= 0 && tag <= GLOBAL_TAG : tag === asid || tag === GLOBAL_TAG;
  }

  /** Drops the large translations covering `base` under `asid` (-1: every ASID). */
  private flushLargeAt(base: number, asid: number): number {
    let n = 0;
    for (let level = 2; level <= 3; level++) {
      const span = spanOf(level);
      const region = base - (base % span);
      const li = (level === 2 ? region >>> 21 : Math.floor(region / SPAN_1G)) & LARGE_MASK;
      if (this.lspan[li] === span && Tlb.tagMatches(this.ltag[li] - region, asid)) {
        this.dropLarge(li);
        n++;
      }
    }
    return n;
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
    let n = 0;
    if (t === base + asid || t === base + GLOBAL_TAG) {
      this.drop(idx);
      n = 1;
    }
    if (this.large > 0) n += this.flushLargeAt(base, asid);
    return n;
  }

  /** TLBI VAAE1: the page under every ASID, global or not. */
  flushPageAllAsids(base: number): number {
    const idx = (base >>> PAGE_SHIFT) & this.mask;
    const t = this.tag[idx];
    let n = 0;
    if (t >= base && t <= base + GLOBAL_TAG) {
      this.drop(idx);
      n = 1;
    }
    if (this.large > 0) n += this.flushLargeAt(base, -1);
    return n;
  }

  /** Every entry of [start, end) under every ASID. */
  flushRange(start: number, end: number): number {
    let n = 0;
    // Large translations overlapping the range go whole.
    for (let li = 0; this.large > 0 && li < LARGE_TLB_ENTRIES; li++) {
      const span = this.lspan[li];
      if (span === 0) continue;
      const t = this.ltag[li];
      const r = t - (t & PAGE_MASK);
      if (r < end && r + span > start) {
        this.dropLarge(li);
        n++;
      }
    }
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
    for (let b = start - (start % PAGE_SIZE); b < end; b += PAGE_SIZE) {
      const idx = (b >>> PAGE_SHIFT) & this.mask;
      const t = this.tag[idx];
      if (t >= b && t <= b + GLOBAL_TAG) {
        this.drop(idx);
        n++;
      }
    }
    return n;
  }

  /** A context's non-global entries (CR3 write without NOFLUSH, TLBI ASIDE1). */
  flushAsid(asid: number): number {
    let n = this.dropLargeWhere((tag) => tag === asid);
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
    let n = this.dropLargeWhere((tag) => tag !== GLOBAL_TAG);
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
    n += this.large;
    this.tag.fill(Number.NaN);
    this.rtag.fill(Number.NaN);
    this.wtag.fill(Number.NaN);
    this.flags.fill(0);
    this.ltag.fill(Number.NaN);
    this.lspan.fill(0);
    this.lflags.fill(0);
    this.large = 0;
    return n;
  }

  /** Drops the large entries whose tag satisfies `pred` (cold: context flushes). */
  private dropLargeWhere(pred: (tag: number) => boolean): number {
    let n = 0;
    if (this.large === 0) return 0;
    for (let li = 0; li < LARGE_TLB_ENTRIES; li++) {
      if (this.lspan[li] === 0) continue;
      if (pred(this.ltag[li] & PAGE_MASK)) {
        this.dropLarge(li);
        n++;
      }
    }
    return n;
  }

  /**
   * Every valid entry, as `entries()` yields them but as numbers (asid -1: global), with
   * no object per entry: the audit runs after every fuzzer command.
   */
  forEachEntry(
    fn: (va: number, asid: number, pa: number, flags: number, size: number) => void,
  ): void {
    const tags = this.tag;
    for (let i = 0; i < this.size; i++) {
      const t = tags[i];
      if (!(t >= 0)) continue;
      const tag = t & PAGE_MASK;
      fn(t - tag, tag === GLOBAL_TAG ? -1 : tag, this.pa[i], this.flags[i], PAGE_SIZE);
    }
    for (let li = 0; li < LARGE_TLB_ENTRIES; li++) {
      const span = this.lspan[li];
      if (span === 0) continue;
      const t = this.ltag[li];
      const tag = t & PAGE_MASK;
      fn(t - tag, tag === GLOBAL_TAG ? -1 : tag, this.lpa[li], this.lflags[li], span);
    }
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
        size: PAGE_SIZE,
      };
    }
    for (let li = 0; li < LARGE_TLB_ENTRIES; li++) {
      const span = this.lspan[li];
      if (span === 0) continue;
      const t = this.ltag[li];
      const tag = t & PAGE_MASK;
      yield {
        slot: -1 - li,
        va: t - tag,
        asid: tag === GLOBAL_TAG ? -1 : tag,
        global: tag === GLOBAL_TAG,
        pa: this.lpa[li],
        flags: this.lflags[li],
        fastWrite: false,
        size: span,
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
  /** Bytes the entry maps: 4 KiB for a slot, 2 MiB or 1 GiB for a large-page entry (slot < 0). */
  readonly size: number;
}
