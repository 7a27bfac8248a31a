import { InvalidArgumentError, PAGE_SIZE } from '@prmem/core';

export interface DcacheGeometry {
  /** Total size; ARM1136/ARM1176 D-caches are 4–64 KiB. */
  readonly sizeKiB: number;
  /** Associativity; ARM11 L1 caches are 4-way. */
  readonly ways: number;
  /** Line length; 32 bytes on ARM11. */
  readonly lineBytes: number;
}

export const DEFAULT_DCACHE: DcacheGeometry = { sizeKiB: 32, ways: 4, lineBytes: 32 };

const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;

export function checkGeometry(g: DcacheGeometry): void {
  if (!pow2(g.sizeKiB) || g.sizeKiB < 4 || g.sizeKiB > 64)
    throw new InvalidArgumentError(
      'dcache.sizeKiB',
      g.sizeKiB,
      'must be a power of two in [4, 64]',
    );
  if (!pow2(g.ways) || g.ways > 8)
    throw new InvalidArgumentError('dcache.ways', g.ways, 'must be 1, 2, 4 or 8');
  if (!pow2(g.lineBytes) || g.lineBytes < 16 || g.lineBytes > 64)
    throw new InvalidArgumentError('dcache.lineBytes', g.lineBytes, 'must be 16, 32 or 64');
  if ((g.sizeKiB * 1024) / g.ways < g.lineBytes)
    throw new InvalidArgumentError('dcache', g.sizeKiB, 'a way must hold at least one line');
}

/**
 * A virtually indexed, physically tagged, write-back, write-allocate L1 D-cache. The set
 * index comes from the virtual address; when a way is larger than a page, index bits above
 * bit 11 make "page colours": two mappings of one frame with different colours put the
 * same physical line in two different sets, and a write through one is not seen through
 * the other until the line is cleaned (Linux CACHEID_VIPT_ALIASING, cachetlb.rst).
 *
 * One cache serves all CPUs: coherency between CPUs is assumed (a snoop control unit);
 * only the virtual-index aliasing is modelled. Replacement is round-robin per set.
 */
export class ViptDcache {
  readonly sets: number;
  readonly ways: number;
  readonly lineBytes: number;
  readonly wayBytes: number;
  /** Page colours: how many sets a frame's line can land in. */
  readonly colours: number;
  /** Physical address of each line, -1 if invalid; slot = set * ways + way. */
  readonly tags: Float64Array;
  readonly dirty: Uint8Array;
  readonly data: Uint8Array;
  private readonly victim: Uint8Array;
  private readonly lineShift: number;

  constructor(
    geom: DcacheGeometry,
    private readonly mem: Uint8Array,
  ) {
    checkGeometry(geom);
    this.ways = geom.ways;
    this.lineBytes = geom.lineBytes;
    this.wayBytes = (geom.sizeKiB * 1024) / geom.ways;
    this.sets = this.wayBytes / geom.lineBytes;
    this.colours = Math.max(1, this.wayBytes / PAGE_SIZE);
    this.lineShift = Math.log2(geom.lineBytes);
    this.tags = new Float64Array(this.sets * this.ways).fill(-1);
    this.dirty = new Uint8Array(this.sets * this.ways);
    this.data = new Uint8Array(this.sets * this.ways * this.lineBytes);
    this.victim = new Uint8Array(this.sets);
  }

  /** The page colour of a virtual address. */
  colour(va: number): number {
    return Math.floor(va / PAGE_SIZE) % this.colours;
  }

  /** The set a virtual address indexes. */
  setOf(va: number): number {
    return (va >>> this.lineShift) & (this.sets - 1);
  }

  /** Loads or stores `buf` at `va` (physically `pa`), line by line, through the cache. */
  access(va: number, pa: number, buf: Uint8Array, write: boolean): void {
    const line = this.lineBytes;
    let done = 0;
    while (done < buf.length) {
      const v = va + done;
      const p = pa + done;
      const off = p % line;
      const n = Math.min(buf.length - done, line - off);
      const slot = this.lookupOrFill(this.setOf(v), p - off);
      const at = slot * line + off;
      if (write) {
        this.data.set(buf.subarray(done, done + n), at);
        this.dirty[slot] = 1;
      } else {
        buf.set(this.data.subarray(at, at + n), done);
      }
      done += n;
    }
  }

  private lookupOrFill(set: number, linePa: number): number {
    const base = set * this.ways;
    for (let w = 0; w < this.ways; w++) if (this.tags[base + w] === linePa) return base + w;
    const slot = base + this.victim[set];
    this.victim[set] = (this.victim[set] + 1) % this.ways;
    this.evict(slot);
    this.tags[slot] = linePa;
    this.data.set(this.mem.subarray(linePa, linePa + this.lineBytes), slot * this.lineBytes);
    return slot;
  }

  /** Writes a dirty line back and invalidates it. */
  private evict(slot: number): void {
    const pa = this.tags[slot];
    if (pa < 0) return;
    if (this.dirty[slot]) {
      const at = slot * this.lineBytes;
      this.mem.set(this.data.subarray(at, at + this.lineBytes), pa);
    }
    this.tags[slot] = -1;
    this.dirty[slot] = 0;
  }

  /**
   * Cleans and invalidates every line of a physical frame, in every colour (what
   * flush_dcache_page must do on an aliasing cache). Returns the lines it found.
   */
  flushFrame(pfn: number): number {
    const pa = pfn * PAGE_SIZE;
    let n = 0;
    for (let c = 0; c < this.colours; c++) {
      for (let off = 0; off < PAGE_SIZE; off += this.lineBytes) {
        const base = this.setOf(c * PAGE_SIZE + off) * this.ways;
        for (let w = 0; w < this.ways; w++) {
          if (this.tags[base + w] === pa + off) {
            this.evict(base + w);
            n++;
          }
        }
      }
    }
    return n;
  }

  /** Cleans and invalidates everything (flush_cache_all). Returns the valid lines. */
  flushAll(): number {
    let n = 0;
    for (let s = 0; s < this.tags.length; s++) {
      if (this.tags[s] >= 0) n++;
      this.evict(s);
    }
    return n;
  }

  /** Physical addresses of the valid lines holding bytes of `pfn`, with their sets. */
  linesOf(pfn: number): { set: number; pa: number; dirty: boolean }[] {
    const out: { set: number; pa: number; dirty: boolean }[] = [];
    const lo = pfn * PAGE_SIZE;
    for (let s = 0; s < this.tags.length; s++) {
      const t = this.tags[s];
      if (t >= lo && t < lo + PAGE_SIZE)
        out.push({ set: Math.floor(s / this.ways), pa: t, dirty: this.dirty[s] === 1 });
    }
    return out;
  }
}
