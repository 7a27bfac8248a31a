import type { Machine, Mm } from '@prmem/core';
import {
  L_PTE_RDONLY,
  L_PTE_SHARED,
  L_PTE_USER,
  L_PTE_XN,
  L1_COARSE_BASE_MASK,
  L1_TYPE_COARSE,
  L1_TYPE_MASK,
  L1_TYPE_SECTION,
  SECT_APX,
  SECT_S,
  SECT_XN,
} from './descriptors.js';
import { PAGE_OFFSET, VMALLOC_END, VMALLOC_START } from './layout.js';

/**
 * The 32-bit ARM kernel_page_tables (arch/arm/mm/dump.c, classic MMU): runs of Linux PTEs
 * (pte level, the software bits Linux keeps beside the hardware table) or of 1 MiB
 * sections (pmd level) with the same attributes; only mapped runs get a line,
 * `0x<start>-0x<end>   <size>` then each attribute's string; `---[ name ]---` markers.
 */

interface Bit {
  readonly mask: number;
  readonly val: number;
  readonly set: string;
  readonly clear?: string;
}
const MT = 0xf << 2;
/** pte_bits[] on the Linux PTE: USR, RDONLY, XN, SHARED, then the memory type. */
export const PTE_BITS: readonly Bit[] = [
  { mask: L_PTE_USER, val: L_PTE_USER, set: 'USR', clear: '   ' },
  { mask: L_PTE_RDONLY, val: L_PTE_RDONLY, set: 'ro', clear: 'RW' },
  { mask: L_PTE_XN, val: L_PTE_XN, set: 'NX', clear: 'x ' },
  { mask: L_PTE_SHARED, val: L_PTE_SHARED, set: 'SHD', clear: '   ' },
  { mask: MT, val: 0x00 << 2, set: 'SO/UNCACHED' },
  { mask: MT, val: 0x01 << 2, set: 'MEM/BUFFERABLE/WC' },
  { mask: MT, val: 0x02 << 2, set: 'MEM/CACHED/WT' },
  { mask: MT, val: 0x03 << 2, set: 'MEM/CACHED/WBRA' },
  { mask: MT, val: 0x06 << 2, set: 'MEM/MINICACHE' },
  { mask: MT, val: 0x07 << 2, set: 'MEM/CACHED/WBWA' },
  { mask: MT, val: 0x04 << 2, set: 'DEV/SHARED' },
  { mask: MT, val: 0x0c << 2, set: 'DEV/NONSHARED' },
  { mask: MT, val: 0x09 << 2, set: 'DEV/WC' },
  { mask: MT, val: 0x0b << 2, set: 'DEV/CACHED' },
];
/** section_bits[] for ARMv6+: APX/AP[1:0] as one field, XN, S. */
const AP_READ = 1 << 11;
const AP_WRITE = 1 << 10;
const AP = SECT_APX | AP_READ | AP_WRITE;
export const SECTION_BITS: readonly Bit[] = [
  { mask: AP, val: SECT_APX | AP_WRITE, set: '    ro' },
  { mask: AP, val: AP_WRITE, set: '    RW' },
  { mask: AP, val: AP_READ, set: 'USR ro' },
  { mask: AP, val: AP_READ | AP_WRITE, set: 'USR RW' },
  { mask: SECT_XN, val: SECT_XN, set: 'NX', clear: 'x ' },
  { mask: SECT_S, val: SECT_S, set: 'SHD', clear: '   ' },
];
const maskOf = (bits: readonly Bit[]) => bits.reduce((a, b) => a | b.mask, 0) >>> 0;
const PTE_MASK = maskOf(PTE_BITS);
const SECTION_MASK = maskOf(SECTION_BITS);

const hex8 = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;

/** One mapped run as note_page() prints it (level 3: section bits, 4: PTE bits). */
export function armPtdumpLine(start: number, end: number, level: 3 | 4, prot: number): string {
  const units = 'KMGTPE';
  let delta = Math.floor(((end - start) >>> 0 || 2 ** 32) / 1024);
  let u = 0;
  while (delta % 1024 === 0 && u < units.length - 1) {
    delta /= 1024;
    u++;
  }
  let s = `${hex8(start)}-${hex8(end)}   ${String(delta).padStart(9)}${units[u]}`;
  for (const b of level === 3 ? SECTION_BITS : PTE_BITS) {
    const t = (prot & b.mask) >>> 0 === b.val >>> 0 ? b.set : b.clear;
    if (t !== undefined) s += ` ${t}`;
  }
  return s;
}

/** The mm's tables as the kernel prints swapper_pg_dir. */
export function armPtdump(m: Machine, mm: Mm): string {
  const u = m.phys.u32;
  const markers: [number, string][] = [
    [m.layout.imageStart, 'Modules'],
    [PAGE_OFFSET, 'Kernel Mapping'],
    [VMALLOC_START, 'vmalloc() Area'],
    [m.layout.wrStart, 'Write-rare Area'],
    [VMALLOC_END, 'vmalloc() End'],
  ];
  const out: string[] = [];
  let mi = 0;
  let level = 0;
  let cur = 0;
  let start = 0;
  const next = () => (mi + 1 < markers.length ? markers[mi + 1][0] : 2 ** 32);
  const note = (addr: number, lvl: number, val: number) => {
    const prot = (val & (lvl === 3 ? SECTION_MASK : lvl === 4 ? PTE_MASK : 0)) >>> 0;
    if (level === 0) {
      level = lvl;
      cur = prot;
      out.push(`---[ ${markers[0][1]} ]---`);
    } else if (prot !== cur || lvl !== level || addr >= next()) {
      if (cur !== 0) out.push(armPtdumpLine(start, addr, level as 3 | 4, cur));
      if (addr >= next()) {
        mi++;
        out.push(`---[ ${markers[mi][1]} ]---`);
      }
      start = addr;
      cur = prot;
      level = lvl;
    }
  };
  const root = mm.rootPa >>> 2;
  // Linux's pgd entries are 2 MiB: two hardware L1 entries; pmd is folded into them.
  for (let i = 0; i < 2048; i++) {
    const addr = i * 2 ** 21;
    const d0 = u[root + 2 * i];
    const d1 = u[root + 2 * i + 1];
    const type = d0 & L1_TYPE_MASK;
    if (d0 === 0 || type === L1_TYPE_SECTION || type !== L1_TYPE_COARSE) {
      note(addr, 3, d0);
      if ((d1 & L1_TYPE_MASK) === L1_TYPE_SECTION) note(addr + 2 ** 20, 3, d1);
      continue;
    }
    // The Linux PTEs: 512 entries from the start of the page holding both tables.
    const page = ((d0 & L1_COARSE_BASE_MASK) >>> 0) & ~0xfff;
    for (let j = 0; j < 512; j++) note(addr + j * 4096, 4, u[(page >>> 2) + j]);
  }
  note(0, 0, 0);
  return `${out.join('\n')}\n`;
}
