/**
 * An independent x86-64 4-level walker over raw physical memory, written from the SDM's
 * bit layout (P 0, RW 1, US 2, A 5, D 6, PS 7, G 8, address 12–51, pkey 59–62, XD 63).
 * It shares no code with the backend: tests compare the two.
 */
export interface Decoded {
  /** Physical address of `va` itself (frame + offset). */
  readonly pa: number;
  readonly pageSize: number;
  /** Writable at every level. */
  readonly rw: boolean;
  /** User-accessible at every level. */
  readonly us: boolean;
  /** Execute-disabled at any level. */
  readonly nx: boolean;
  readonly global: boolean;
  readonly pkey: number;
  readonly accessed: boolean;
  readonly dirty: boolean;
  /** PA of each entry used, top level first. */
  readonly entries: readonly number[];
}

const TWO32 = 2 ** 32;

function u32(mem: Uint8Array, pa: number): number {
  return (mem[pa] | (mem[pa + 1] << 8) | (mem[pa + 2] << 16) | (mem[pa + 3] << 24)) >>> 0;
}

/** Walks `va` from the PML4 at `root`; null if some level is not present. */
export function decode(mem: Uint8Array, root: number, va: number): Decoded | null {
  // Index of each level: bits 47–39, 38–30, 29–21, 20–12.
  const shifts = [39, 30, 21, 12];
  let table = root;
  let rw = true;
  let us = true;
  let nx = false;
  const entries: number[] = [];
  for (let level = 0; level < 4; level++) {
    const span = 2 ** shifts[level];
    const index = Math.floor(va / span) % 512;
    const at = table + index * 8;
    entries.push(at);
    const lo = u32(mem, at);
    const hi = u32(mem, at + 4);
    if ((lo & 1) === 0) return null;
    rw = rw && (lo & 2) !== 0;
    us = us && (lo & 4) !== 0;
    nx = nx || hi >= 0x8000_0000;
    // Address bits 12–51: the low half's top 20 bits and the high half's low 20 bits.
    const addr = (hi % 2 ** 20) * TWO32 + Math.floor(lo / 4096) * 4096;
    const isLeaf = level === 3 || ((level === 1 || level === 2) && (lo & 0x80) !== 0);
    if (isLeaf) {
      const frame = addr - (addr % span); // a large leaf keeps PAT in bit 12
      return {
        pa: frame + (va % span),
        pageSize: span,
        rw,
        us,
        nx,
        global: (lo & 0x100) !== 0,
        pkey: Math.floor(hi / 2 ** 27) % 16,
        accessed: (lo & 0x20) !== 0,
        dirty: (lo & 0x40) !== 0,
        entries,
      };
    }
    table = addr;
  }
  return null;
}

/** The raw 64-bit entry at `pa` as [lo, hi]. */
export function rawEntry(mem: Uint8Array, pa: number): [number, number] {
  return [u32(mem, pa), u32(mem, pa + 4)];
}

export function writeRawEntry(mem: Uint8Array, pa: number, lo: number, hi: number): void {
  for (let i = 0; i < 4; i++) {
    mem[pa + i] = (lo >>> (8 * i)) & 0xff;
    mem[pa + 4 + i] = (hi >>> (8 * i)) & 0xff;
  }
}
