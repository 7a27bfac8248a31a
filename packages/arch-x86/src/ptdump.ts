import type { Machine, Mm } from '@prmem/core';
import { ENTRIES, G, NX_HI, P, PAT, PAT_LARGE, PCD, PS, PWT, RW, US } from './bits.js';

/**
 * /sys/kernel/debug/page_tables/kernel as arch/x86/mm/dump_pagetables.c prints it: one
 * line per run of entries with the same flags, effective protection and level, for
 * present and non-present ranges alike, `printk_prot`'s columns (USR, RW/ro, PWT, PCD,
 * PSE, PAT, GLB, NX/x) then the level name, and `---[ name ]---` markers. Addresses are
 * sign-extended; sizes use the B/K/M/G/T/P/E units of note_page().
 */

const LEVEL_NAMES = ['cr3', 'pgd', 'p4d', 'pud', 'pmd', 'pte'];
/** 4-level paging: the PML4 is "pgd" (1), the p4d level is folded, then pud (3), pmd, pte. */
const SPANS = [0, 2 ** 39, 2 ** 39, 2 ** 30, 2 ** 21, 2 ** 12];
const MASK64 = (1n << 64n) - 1n;

/** The flags of an entry as pte_flags() sees them: bits 0–11 and 52–63 (`hi` high bits). */
interface Prot {
  lo: number;
  hi: number;
}

/** The canonical 64-bit form of a 48-bit VA (the model's kernel half has bit 47 set). */
function canon(va: number): bigint {
  const v = BigInt(va);
  return va >= 2 ** 47 ? v | 0xffff_0000_0000_0000n : v;
}

const hex16 = (v: bigint) => `0x${(v & MASK64).toString(16).padStart(16, '0')}`;

/** printk_prot(): the attribute columns and the level name. */
export function x86ProtColumns(prot: Prot, level: number): string {
  const { lo, hi } = prot;
  let s = '';
  if ((lo & P) === 0) s += ' '.repeat(30);
  else {
    s += (lo & US) !== 0 ? 'USR ' : '    ';
    s += (lo & RW) !== 0 ? 'RW ' : 'ro ';
    s += (lo & PWT) !== 0 ? 'PWT ' : '    ';
    s += (lo & PCD) !== 0 ? 'PCD ' : '    ';
    // Bit 7 is PSE above the PTE level and PAT in a PTE; bit 12 is PAT in a large leaf.
    s += level <= 4 && (lo & PS) !== 0 ? 'PSE ' : '    ';
    s +=
      (level === 5 && (lo & PAT) !== 0) || ((level === 4 || level === 3) && (lo & PAT_LARGE) !== 0)
        ? 'PAT '
        : '    ';
    s += (lo & G) !== 0 ? 'GLB ' : '    ';
    s += (hi & NX_HI) !== 0 ? 'NX ' : 'x  ';
  }
  return s + LEVEL_NAMES[level];
}

/** One finished run, as note_page() prints it. */
export function x86PtdumpLine(start: bigint, end: bigint, prot: Prot, level: number): string {
  const units = 'BKMGTPE';
  let delta = (end - start) & MASK64;
  let u = 0;
  while ((delta & 1023n) === 0n && u < units.length - 1) {
    delta >>= 10n;
    u++;
  }
  return `${hex16(start)}-${hex16(end)}   ${delta.toString().padStart(9)}${units[u]} ${x86ProtColumns(prot, level)}`;
}

/** Walks an mm's PML4 in physical memory and prints it as the kernel does. */
export function x86Ptdump(m: Machine, mm: Mm = m.kernelMm): string {
  const u = m.phys.u32;
  const size = m.phys.size;
  const markers = [...m.layout.markers]
    .map(([a, name]) => [canon(a), name] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: string[] = [];
  let mi = 0;
  let level = 0;
  let cur: Prot = { lo: 0, hi: 0 };
  let curEff = 0;
  let start = 0n;
  const nextMarker = () => (mi + 1 < markers.length ? markers[mi + 1][0] : 1n << 64n);
  const note = (va: bigint, prot: Prot, eff: number, lvl: number) => {
    if (level === 0) {
      cur = prot;
      curEff = eff;
      level = lvl;
      start = va;
      out.push(`---[ ${markers[0][1]} ]---`);
      return;
    }
    if (
      prot.lo !== cur.lo ||
      prot.hi !== cur.hi ||
      eff !== curEff ||
      lvl !== level ||
      va >= nextMarker()
    ) {
      out.push(x86PtdumpLine(start, va, cur, level));
      if (va >= nextMarker()) {
        mi++;
        out.push(`---[ ${markers[mi][1]} ]---`);
      }
      start = va;
      cur = prot;
      curEff = eff;
      level = lvl;
    }
  };
  // effective_prot(): USR and RW must be set at every level, NX at any.
  const effOf = (inEff: number, lo: number, hi: number) =>
    (inEff & lo & (US | RW)) | ((inEff | ((hi & NX_HI) !== 0 ? 1 << 31 : 0)) & (1 << 31));
  const flags = (lo: number, hi: number): Prot => ({ lo: lo & 0xfff, hi: hi & 0xfff0_0000 });
  const walk = (table: number, lvl: number, base: number, eff: number) => {
    for (let i = 0; i < ENTRIES; i++) {
      const w = (table + i * 8) >>> 2;
      const lo = u[w];
      const hi = u[w + 1];
      const va = base + i * SPANS[lvl];
      const cva = canon(va);
      if (lo === 0 && hi === 0) {
        note(cva, { lo: 0, hi: 0 }, 0, lvl);
        continue;
      }
      const e = lvl === 1 ? (lo & (US | RW)) | (hi & NX_HI ? 1 << 31 : 0) : effOf(eff, lo, hi);
      const t = ((lo & 0xfffff000) >>> 0) + (hi & 0xfffff) * 2 ** 32;
      const leaf = lvl === 5 || (lo & P) === 0 || (lvl > 1 && (lo & PS) !== 0);
      if (leaf || t >= size) note(cva, flags(lo, hi), e, lvl);
      else walk(t, lvl === 1 ? 3 : lvl + 1, va, e);
    }
  };
  walk(mm.rootPa, 1, 0, 0);
  // Flush out the last run: the address after the top of the space, sign-extended (0).
  note(0n, { lo: 0, hi: 0 }, 0, 0);
  return `${out.join('\n')}\n`;
}
