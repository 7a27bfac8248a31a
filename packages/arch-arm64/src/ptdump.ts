import type { Machine, Mm } from '@prmem/core';
import { KERNEL_HALF } from './layout.js';

/**
 * arm64's kernel_page_tables (arch/arm64/mm/ptdump.c) and KVM's stage2_page_tables
 * (arch/arm64/kvm/ptdump.c): one line per run of entries with the same masked attributes
 * and level — `0x<start>-0x<end>   <size> <level>` and, when the run is mapped, each
 * attribute's set or clear string — with `---[ name ]---` markers. Holes are reported at
 * the level where the walk found them.
 */

/** A descriptor as a 64-bit value split in halves (bits 0–31, 32–63). */
interface Desc {
  readonly lo: number;
  readonly hi: number;
}

interface ProtBit {
  /** Mask and value in the low / high word. */
  readonly maskLo: number;
  readonly maskHi: number;
  readonly valLo: number;
  readonly valHi: number;
  readonly set: string;
  readonly clear?: string;
}

const bit = (
  maskLo: number,
  maskHi: number,
  valLo: number,
  valHi: number,
  set: string,
  clear?: string,
): ProtBit => ({ maskLo, maskHi, valLo, valHi, set, clear });

/** pte_bits[]: VALID, USER (AP[1]), RDONLY (AP[2]), PXN, SHARED, AF, NG, CONT, TABLE, UXN, GP, AttrIndx. */
const ATTR = 0x7 << 2;
export const STAGE1_BITS: readonly ProtBit[] = [
  bit(1, 0, 1, 0, ' ', 'F'),
  bit(1 << 6, 0, 1 << 6, 0, 'USR', '   '),
  bit(1 << 7, 0, 1 << 7, 0, 'ro', 'RW'),
  bit(0, 1 << 21, 0, 1 << 21, 'NX', 'x '),
  bit(3 << 8, 0, 3 << 8, 0, 'SHD', '   '),
  bit(1 << 10, 0, 1 << 10, 0, 'AF', '  '),
  bit(1 << 11, 0, 1 << 11, 0, 'NG', '  '),
  bit(0, 1 << 20, 0, 1 << 20, 'CON', '   '),
  bit(1 << 1, 0, 1 << 1, 0, '   ', 'BLK'),
  bit(0, 1 << 22, 0, 1 << 22, 'UXN', '   '),
  bit(0, 1 << 18, 0, 1 << 18, 'GP', '  '),
  // Linux's MAIR_EL1 indices: MT_NORMAL 0, MT_NORMAL_TAGGED 1, MT_NORMAL_NC 2,
  // MT_DEVICE_nGnRnE 3, MT_DEVICE_nGnRE 4.
  bit(ATTR, 0, 3 << 2, 0, 'DEVICE/nGnRnE'),
  bit(ATTR, 0, 4 << 2, 0, 'DEVICE/nGnRE'),
  bit(ATTR, 0, 2 << 2, 0, 'MEM/NORMAL-NC'),
  bit(ATTR, 0, 0 << 2, 0, 'MEM/NORMAL'),
  bit(ATTR, 0, 1 << 2, 0, 'MEM/NORMAL-TAGGED'),
];

/** stage2_pte_bits[]: VALID, S2AP R, S2AP W, XN[1:0] (FEAT_XNX), AF, block. */
const XN = 3 << 21;
export const STAGE2_BITS: readonly ProtBit[] = [
  bit(1, 0, 1, 0, ' ', 'F'),
  bit(1 << 6, 0, 1 << 6, 0, 'R', ' '),
  bit(1 << 7, 0, 1 << 7, 0, 'W', ' '),
  bit(0, XN, 0, 0, 'px ux '),
  bit(0, XN, 0, 1 << 21, 'PXNux '),
  bit(0, XN, 0, 2 << 21, 'PXNUXN'),
  bit(0, XN, 0, 3 << 21, 'px UXN'),
  bit(1 << 10, 0, 1 << 10, 0, 'AF', '  '),
  bit(3, 0, 1, 0, 'BLK', '   '),
];

const maskOf = (bits: readonly ProtBit[]) => ({
  lo: bits.reduce((a, b) => a | b.maskLo, 0) >>> 0,
  hi: bits.reduce((a, b) => a | b.maskHi, 0) >>> 0,
});

const MASK64 = (1n << 64n) - 1n;
const hex16 = (v: bigint) => `0x${(v & MASK64).toString(16).padStart(16, '0')}`;

/** dump_prot(): " set" or " clear" for each attribute whose mask/value matches or not. */
export function arm64Attributes(d: Desc, bits: readonly ProtBit[]): string {
  let s = '';
  for (const b of bits) {
    const on =
      (d.lo & b.maskLo) >>> 0 === b.valLo >>> 0 && (d.hi & b.maskHi) >>> 0 === b.valHi >>> 0;
    const t = on ? b.set : b.clear;
    if (t !== undefined) s += ` ${t}`;
  }
  return s;
}

/** One finished run as note_page() prints it; `prot` undefined (or zero) for a hole. */
export function arm64PtdumpLine(
  start: bigint,
  end: bigint,
  level: string,
  prot?: Desc,
  bits: readonly ProtBit[] = STAGE1_BITS,
): string {
  const units = 'KMGTPE';
  let delta = ((end - start) & MASK64) >> 10n;
  let u = 0;
  while ((delta & 1023n) === 0n && u < units.length - 1) {
    delta >>= 10n;
    u++;
  }
  const head = `${hex16(start)}-${hex16(end)}   ${delta.toString().padStart(9)}${units[u]} ${level}`;
  return prot && (prot.lo !== 0 || prot.hi !== 0) ? head + arm64Attributes(prot, bits) : head;
}

/** note_page()'s state machine over (address, level, masked descriptor) notes. */
class Notes {
  readonly out: string[] = [];
  private level = -1;
  private prot: Desc = { lo: 0, hi: 0 };
  private start = 0n;
  private mi = 0;
  constructor(
    private readonly markers: readonly (readonly [bigint, string])[],
    private readonly names: readonly string[],
    private readonly bits: readonly ProtBit[],
  ) {}
  private next(): bigint {
    return this.mi + 1 < this.markers.length ? this.markers[this.mi + 1][0] : 1n << 65n;
  }
  note(addr: bigint, level: number, prot: Desc): void {
    if (this.level === -1) {
      this.level = level;
      this.prot = prot;
      this.start = addr;
      this.out.push(`---[ ${this.markers[0][1]} ]---`);
    } else if (
      prot.lo !== this.prot.lo ||
      prot.hi !== this.prot.hi ||
      level !== this.level ||
      addr >= this.next()
    ) {
      this.out.push(
        arm64PtdumpLine(this.start, addr, this.names[this.level], this.prot, this.bits),
      );
      if (addr >= this.next()) {
        this.mi++;
        this.out.push(`---[ ${this.markers[this.mi][1]} ]---`);
      }
      this.start = addr;
      this.prot = prot;
      this.level = level;
    }
    if (addr >= this.next()) {
      this.mi++;
      this.out.push(`---[ ${this.markers[this.mi][1]} ]---`);
    }
  }
}

const canon = (va: number) =>
  va >= KERNEL_HALF ? BigInt(va) | 0xffff_0000_0000_0000n : BigInt(va);

/**
 * The stage-1 dump of `mm`: the kernel mm's TTBR1 tables from PAGE_OFFSET up (as
 * kernel_page_tables), another mm's TTBR0 half. `root` is the table to walk.
 */
export function arm64Ptdump(m: Machine, mm: Mm, root: number): string {
  const u = m.phys.u32;
  const kernel = mm.kind === 'kernel';
  const L = m.layout;
  const linearEnd = L.directMap + m.phys.size;
  const markers: [bigint, string][] = kernel
    ? [
        [canon(L.directMap), 'Linear Mapping start'],
        [canon(linearEnd), 'Linear Mapping end'],
        [canon(L.vmallocStart), 'vmalloc() area'],
        [canon(L.vmallocEnd), 'vmalloc() end'],
        [canon(L.wrStart), 'Write-rare area start'],
        [canon(L.wrEnd), 'Write-rare area end'],
        [canon(L.imageStart), 'Kernel image'],
      ]
    : [[0n, 'User space (TTBR0)']];
  const mask = maskOf(STAGE1_BITS);
  const notes = new Notes(markers, ['PGD', 'P4D', 'PUD', 'PMD', 'PTE'], STAGE1_BITS);
  const zero = { lo: 0, hi: 0 };
  const base = kernel ? KERNEL_HALF : 0;
  // Generic ptdump depths: 0 pgd, (1 p4d, folded), 2 pud, 3 pmd, 4 pte.
  const depthOf = [0, 2, 3, 4];
  const walk = (table: number, level: number, va: number) => {
    const span = 2 ** (39 - 9 * level);
    for (let i = 0; i < 512; i++) {
      const at = va + i * span;
      if (level === 0 && at < base) continue;
      const w = (table + i * 8) >>> 2;
      const lo = u[w];
      const hi = u[w + 1];
      const depth = depthOf[level];
      if (lo === 0 && hi === 0) {
        notes.note(canon(at), depth, zero);
        continue;
      }
      if (level < 3 && (lo & 3) === 3) {
        walk(((lo & 0xfffff000) >>> 0) + (hi & 0xffff) * 2 ** 32, level + 1, at);
        continue;
      }
      notes.note(canon(at), depth, { lo: (lo & mask.lo) >>> 0, hi: (hi & mask.hi) >>> 0 });
    }
  };
  walk(root, 0, 0);
  // The walk's end: the address after the last (2^64 wraps to 0), level -1.
  notes.note(kernel ? 0n : 1n << 47n, -1, zero);
  return `${notes.out.join('\n')}\n`;
}

/**
 * EL2's stage-2 tables as KVM's stage2_page_tables prints them: one "Guest IPA" range of
 * IA bits, levels named by number, leaves only (valid or not). Like the kernel's walker it
 * has no final flush, so the last run (the tail of the IPA space) is not printed.
 */
export function arm64Stage2Ptdump(
  m: Machine,
  root: number,
  startLevel: number,
  iaBits: number,
): string {
  const u = m.phys.u32;
  const mask = maskOf(STAGE2_BITS);
  const notes = new Notes(
    [
      [0n, 'Guest IPA'],
      [1n << BigInt(iaBits), ''],
    ],
    ['0', '1', '2', '3'],
    STAGE2_BITS,
  );
  const walk = (table: number, level: number, ipa: number) => {
    const span = 2 ** (39 - 9 * level);
    for (let i = 0; i < 512; i++) {
      const at = ipa + i * span;
      if (at >= 2 ** iaBits) return;
      const w = (table + i * 8) >>> 2;
      const lo = u[w];
      const hi = u[w + 1];
      if (level < 3 && (lo & 3) === 3) {
        walk(((lo & 0xfffff000) >>> 0) + (hi & 0xffff) * 2 ** 32, level + 1, at);
        continue;
      }
      notes.note(BigInt(at), level, { lo: (lo & mask.lo) >>> 0, hi: (hi & mask.hi) >>> 0 });
    }
  };
  walk(root, startLevel, 0);
  return `${notes.out.join('\n')}\n`;
}
