/**
 * Page walks decoded level by level in each architecture's own entry format, read from the
 * machine's physical memory with the arch packages' bit definitions. The leaf address
 * they find is checked against the machine's own walker (`Machine.translate`) in tests.
 */
import {
  arm64Of,
  KERNEL_HALF,
  outputAddress,
  S1,
  S1_HI,
  S2,
  S2_HI,
  tableIndex,
} from '@prmem/arch-arm64';
import * as nommu from '@prmem/arch-nommu-alias';
import { bits } from '@prmem/arch-x86';
import type { Machine, Mm } from '@prmem/core';
import { hex } from './world.js';

export interface WalkLevel {
  /** The architecture's name of the entry (PML4E, PTE, L1 descriptor, ...). */
  readonly name: string;
  /** Stage of the walk: 1, or 2 for arm64's IPA → PA walk. */
  readonly stage: 1 | 2;
  /** Physical address of the entry. */
  readonly entryPa: number;
  /** The entry's raw value in hex, as the architecture lays it out. */
  readonly raw: string;
  /** Decoded fields: name → value. */
  readonly fields: readonly (readonly [string, string])[];
  /** What this entry leads to: a table, a leaf, or why the walk stops here. */
  readonly kind: string;
}

export interface WalkTrace {
  readonly va: number;
  readonly mm: string;
  readonly levels: readonly WalkLevel[];
  /** Physical address the walk arrives at, or undefined when it faults. */
  readonly pa?: number;
  /** Why it stops without a translation. */
  readonly fault?: string;
}

const bit = (v: number, m: number): string => ((v & m) !== 0 ? '1' : '0');
const hex64 = (lo: number, hi: number): string =>
  `0x${(hi >>> 0).toString(16).padStart(8, '0')}${(lo >>> 0).toString(16).padStart(8, '0')}`;
const hex32 = (v: number): string => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;

/** Walks `va` in `mm` as the machine's architecture would, without touching any bit. */
export function walkVa(m: Machine, mm: Mm, va: number): WalkTrace {
  if (typeof va !== 'number' || !Number.isInteger(va) || va < 0 || va >= 2 ** 48)
    return { va, mm: mm.name, levels: [], fault: `not a 48-bit VA: ${String(va)}` };
  switch (m.backend.name) {
    case 'x86-64':
      return walkX86(m, mm, va);
    case 'arm64':
      return walkArm64(m, mm, va);
    case 'nommu-alias':
      return walkShort(m, mm, va);
    default:
      return { va, mm: mm.name, levels: [], fault: `no decoder for ${m.backend.name}` };
  }
}

const X86_NAMES = ['', 'PTE', 'PDE', 'PDPTE', 'PML4E'];

function walkX86(m: Machine, mm: Mm, va: number): WalkTrace {
  const u = m.phys.u32;
  const levels: WalkLevel[] = [];
  let table = mm.rootPa;
  for (let level = bits.LEVELS; level >= 1; level--) {
    const e = table + bits.levelIndex(va, level) * 8;
    const lo = u[e >>> 2];
    const hi = u[(e >>> 2) + 1];
    const present = (lo & bits.P) !== 0;
    const large = level > 1 && level < bits.LEVELS && (lo & bits.PS) !== 0;
    const leaf = level === 1 || large;
    const fields: [string, string][] = [
      ['P', bit(lo, bits.P)],
      ['R/W', bit(lo, bits.RW)],
      ['U/S', bit(lo, bits.US)],
      ['PWT', bit(lo, bits.PWT)],
      ['PCD', bit(lo, bits.PCD)],
      ['A', bit(lo, bits.A)],
    ];
    if (leaf) fields.push(['D', bit(lo, bits.D)], ['G', bit(lo, bits.G)]);
    if (level > 1) fields.push(['PS', bit(lo, bits.PS)]);
    else fields.push(['PAT', bit(lo, bits.PAT)]);
    if (leaf) fields.push(['PKEY', String((hi & bits.PKEY_MASK_HI) >>> bits.PKEY_SHIFT_HI)]);
    fields.push(['XD', bit(hi, bits.NX_HI)]);
    const addr = bits.entryAddr(lo, hi);
    const size = bits.LEVEL_SIZE[level];
    const base = leaf ? addr - (addr % size) : addr;
    fields.push([leaf ? 'frame' : 'table', hex(base)]);
    const kind = !present
      ? 'not present'
      : leaf
        ? `leaf, ${large ? (level === 2 ? '2 MiB page' : '1 GiB page') : '4 KiB page'}`
        : 'table';
    levels.push({ name: X86_NAMES[level], stage: 1, entryPa: e, raw: hex64(lo, hi), fields, kind });
    if (!present) return { va, mm: mm.name, levels, fault: `${X86_NAMES[level]} not present` };
    if (leaf) return { va, mm: mm.name, levels, pa: base + (va % size) };
    table = addr;
  }
  return { va, mm: mm.name, levels, fault: 'no leaf' };
}

/** The stage-2 descriptors of one IPA (arm64: the hypervisor's view of the guest's memory). */
function stage2Levels(m: Machine, ipa: number, levels: WalkLevel[]): number | undefined {
  let s2: { rootPa: number } | undefined;
  try {
    s2 = arm64Of(m).el2.stage2;
  } catch {
    return ipa; // EL2 not set up: IPA = PA
  }
  const u = m.phys.u32;
  let table = s2.rootPa;
  for (let level = 1; level <= 3; level++) {
    const e = table + tableIndex(ipa, level) * 8;
    const lo = u[e >>> 2];
    const hi = u[(e >>> 2) + 1];
    const valid = (lo & S2.VALID) !== 0;
    const isTable = (lo & S2.TABLE) !== 0;
    const fields: [string, string][] = [['valid', bit(lo, S2.VALID)]];
    if (level === 3 || !isTable) {
      fields.push(
        ['S2AP[0] R', bit(lo, S2.S2AP_R)],
        ['S2AP[1] W', bit(lo, S2.S2AP_W)],
        ['MemAttr', String((lo & S2.MEMATTR_MASK) >>> S2.MEMATTR_SHIFT)],
        ['SH', String((lo & S2.SH_MASK) >>> S2.SH_SHIFT)],
        ['AF', bit(lo, S2.AF)],
        ['XN', String((hi & S2_HI.XN_MASK) >>> S2_HI.XN_SHIFT)],
      );
    }
    const oa = outputAddress(lo, hi);
    fields.push([level === 3 ? 'PA' : 'table', hex(oa)]);
    const kind = !valid
      ? 'invalid: stage-2 fault'
      : level === 3
        ? 'page'
        : isTable
          ? 'table'
          : 'block';
    levels.push({ name: `S2 L${level}`, stage: 2, entryPa: e, raw: hex64(lo, hi), fields, kind });
    if (!valid) return undefined;
    if (level === 3) return oa + (ipa % 4096);
    table = oa;
  }
  return undefined;
}

function walkArm64(m: Machine, mm: Mm, va: number): WalkTrace {
  const u = m.phys.u32;
  const levels: WalkLevel[] = [];
  const kernelHalf = va >= KERNEL_HALF;
  if (!kernelHalf && mm === m.kernelMm)
    return { va, mm: mm.name, levels, fault: "init_mm's TTBR0 table is empty (no user half)" };
  let table = kernelHalf ? m.kernelMm.rootPa : mm.rootPa;
  for (let level = 0; level <= 3; level++) {
    const e = table + tableIndex(va, level) * 8;
    const lo = u[e >>> 2];
    const hi = u[(e >>> 2) + 1];
    const valid = (lo & S1.VALID) !== 0;
    const isTable = (lo & S1.TABLE) !== 0;
    const leaf = (level === 3 && isTable) || (level > 0 && level < 3 && !isTable);
    const fields: [string, string][] = [
      ['valid', bit(lo, S1.VALID)],
      [level === 3 ? 'page' : 'table', bit(lo, S1.TABLE)],
    ];
    if (leaf) {
      fields.push(
        ['AttrIndx', String((lo & S1.ATTRINDX_MASK) >>> S1.ATTRINDX_SHIFT)],
        ['AP[1] EL0', bit(lo, S1.AP1)],
        ['AP[2] RO', bit(lo, S1.AP2)],
        ['SH', String((lo & S1.SH_MASK) >>> S1.SH_SHIFT)],
        ['AF', bit(lo, S1.AF)],
        ['nG', bit(lo, S1.NG)],
        ['DBM', bit(hi, S1_HI.DBM)],
        ['Contig', bit(hi, S1_HI.CONTIGUOUS)],
        ['PXN', bit(hi, S1_HI.PXN)],
        ['UXN', bit(hi, S1_HI.UXN)],
      );
    }
    const oa = outputAddress(lo, hi);
    fields.push([leaf ? 'IPA' : 'table IPA', hex(oa)]);
    const kind = !valid
      ? 'invalid: translation fault'
      : leaf
        ? level === 3
          ? 'page (4 KiB)'
          : `block (${level === 1 ? '1 GiB' : '2 MiB'})`
        : level < 3
          ? 'table'
          : 'reserved';
    levels.push({ name: `S1 L${level}`, stage: 1, entryPa: e, raw: hex64(lo, hi), fields, kind });
    if (!valid) return { va, mm: mm.name, levels, fault: `level ${level} descriptor invalid` };
    if (leaf) {
      const size = 2 ** (39 - 9 * level);
      const ipa = oa - (oa % size) + (va % size);
      const pa = stage2Levels(m, ipa - (ipa % 4096), levels);
      if (pa === undefined) return { va, mm: mm.name, levels, fault: 'stage-2 fault' };
      return { va, mm: mm.name, levels, pa: pa + (va % 4096) };
    }
    if (level === 3) return { va, mm: mm.name, levels, fault: 'reserved level-3 descriptor' };
    table = oa;
  }
  return { va, mm: mm.name, levels, fault: 'no leaf' };
}

function walkShort(m: Machine, mm: Mm, va: number): WalkTrace {
  const u = m.phys.u32;
  const levels: WalkLevel[] = [];
  if (va >= nommu.VA32_LIMIT)
    return { va, mm: mm.name, levels, fault: 'above 4 GiB: translation fault' };
  const l1 = mm.rootPa + Math.floor(va / 2 ** 20) * 4;
  const d = u[l1 >>> 2];
  const type = d & nommu.L1_TYPE_MASK;
  const domain = (d & nommu.L1_DOMAIN_MASK) >>> nommu.L1_DOMAIN_SHIFT;
  const fields: [string, string][] = [['type', String(type)]];
  if (type === nommu.L1_TYPE_SECTION) {
    fields.push(
      ['B', bit(d, nommu.SECT_B)],
      ['C', bit(d, nommu.SECT_C)],
      ['XN', bit(d, nommu.SECT_XN)],
      ['domain', String(domain)],
      ['AP', String((d >>> nommu.SECT_AP_SHIFT) & 3)],
      ['TEX', String((d >>> nommu.SECT_TEX_SHIFT) & 7)],
      ['APX', bit(d, nommu.SECT_APX)],
      ['S', bit(d, nommu.SECT_S)],
      ['nG', bit(d, nommu.SECT_NG)],
      ['base', hex((d & nommu.SECT_BASE_MASK) >>> 0)],
    );
    levels.push({
      name: 'L1 section',
      stage: 1,
      entryPa: l1,
      raw: hex32(d),
      fields,
      kind: 'section (1 MiB)',
    });
    return { va, mm: mm.name, levels, pa: ((d & nommu.SECT_BASE_MASK) >>> 0) + (va % 2 ** 20) };
  }
  if (type !== nommu.L1_TYPE_COARSE) {
    levels.push({ name: 'L1', stage: 1, entryPa: l1, raw: hex32(d), fields, kind: 'fault' });
    return { va, mm: mm.name, levels, fault: 'L1 descriptor: translation fault' };
  }
  const l2Base = (d & nommu.L1_COARSE_BASE_MASK) >>> 0;
  fields.push(['domain', String(domain)], ['L2 table', hex(l2Base)]);
  levels.push({ name: 'L1 coarse', stage: 1, entryPa: l1, raw: hex32(d), fields, kind: 'table' });
  const e = l2Base + ((va >>> 12) & 0xff) * 4;
  const p = u[e >>> 2];
  const kind2 = p & 3;
  if (kind2 === 0) {
    levels.push({
      name: 'L2',
      stage: 1,
      entryPa: e,
      raw: hex32(p),
      fields: [['type', '0']],
      kind: 'fault',
    });
    return { va, mm: mm.name, levels, fault: 'L2 descriptor: translation fault' };
  }
  const large = kind2 === 1;
  const f2: [string, string][] = [
    ['type', large ? 'large' : 'small'],
    ['XN', large ? bit(p, nommu.LPTE_XN) : bit(p, nommu.PTE_XN)],
    ['B', bit(p, nommu.PTE_B)],
    ['C', bit(p, nommu.PTE_C)],
    ['AP', String((p >>> nommu.PTE_AP_SHIFT) & 3)],
    ['APX', bit(p, nommu.PTE_APX)],
    ['S', bit(p, nommu.PTE_S)],
    ['nG', bit(p, nommu.PTE_NG)],
  ];
  const base = large ? (p & nommu.LPTE_BASE_MASK) >>> 0 : (p & nommu.PTE_BASE_MASK) >>> 0;
  f2.push(['base', hex(base)]);
  levels.push({
    name: 'L2 page',
    stage: 1,
    entryPa: e,
    raw: hex32(p),
    fields: f2,
    kind: large ? 'large page (64 KiB)' : 'small page (4 KiB)',
  });
  return { va, mm: mm.name, levels, pa: base + (va % (large ? 0x10000 : 0x1000)) };
}
