/**
 * An independent decoder of raw VMSAv8-64 descriptors, written from the ARM ARM bit
 * layout (stage 1: valid 0, table/page 1, AttrIndx 2–4, AP[1] 6, AP[2] 7, SH 8–9, AF 10,
 * nG 11, DBM 51, Contiguous 52, PXN 53, UXN 54, OA 12–47; stage 2: MemAttr 2–5, S2AP 6–7,
 * SH 8–9, AF 10, XN 53–54). It reads physical memory with BigInt and shares no code with
 * the backend.
 */
export interface S1Leaf {
  readonly level: number;
  readonly descPa: number;
  readonly oa: number;
  readonly attrIndx: number;
  readonly ap1: boolean;
  readonly ap2: boolean;
  readonly sh: number;
  readonly af: boolean;
  readonly nG: boolean;
  readonly dbm: boolean;
  readonly contiguous: boolean;
  readonly pxn: boolean;
  readonly uxn: boolean;
}

export interface S2Leaf {
  readonly descPa: number;
  readonly oa: number;
  readonly memAttr: number;
  readonly s2ap: number;
  readonly sh: number;
  readonly af: boolean;
  readonly xn: number;
}

const bit = (d: bigint, n: number) => ((d >> BigInt(n)) & 1n) === 1n;
const field = (d: bigint, lo: number, width: number) =>
  Number((d >> BigInt(lo)) & ((1n << BigInt(width)) - 1n));
const oaOf = (d: bigint) => Number(d & 0x0000_ffff_ffff_f000n);

export function desc(mem: Uint8Array, pa: number): bigint {
  return new DataView(mem.buffer, mem.byteOffset).getBigUint64(pa, true);
}

/** Stage 2 from VTTBR (39-bit IPA, start level 1). Undefined: stage-2 translation fault. */
export function s2Decode(mem: Uint8Array, vttbr: number, ipa: number): S2Leaf | undefined {
  let table = vttbr;
  for (let level = 1; level <= 3; level++) {
    const index = Math.floor(ipa / 2 ** (12 + 9 * (3 - level))) % 512;
    const at = table + index * 8;
    const d = desc(mem, at);
    if (!bit(d, 0)) return undefined;
    if (level < 3) {
      if (!bit(d, 1)) throw new Error('stage-2 block: not expected in this model');
      table = oaOf(d);
      continue;
    }
    if (!bit(d, 1)) return undefined;
    return {
      descPa: at,
      oa: oaOf(d),
      memAttr: field(d, 2, 4),
      s2ap: field(d, 6, 2),
      sh: field(d, 8, 2),
      af: bit(d, 10),
      xn: field(d, 53, 2),
    };
  }
  return undefined;
}

/** Stage 1 from a TTBR (4 levels). Table addresses are IPAs: translated by stage 2 if given. */
export function s1Decode(
  mem: Uint8Array,
  ttbr: number,
  va: number,
  vttbr?: number,
): S1Leaf | undefined {
  let table = ttbr;
  for (let level = 0; level <= 3; level++) {
    if (vttbr !== undefined) {
      const t = s2Decode(mem, vttbr, table);
      if (!t) return undefined;
      table = t.oa;
    }
    const index = Math.floor(va / 2 ** (12 + 9 * (3 - level))) % 512;
    const at = table + index * 8;
    const d = desc(mem, at);
    if (!bit(d, 0)) return undefined;
    if (level < 3 && bit(d, 1)) {
      table = oaOf(d);
      continue;
    }
    if (level === 0 || (level === 3 && !bit(d, 1))) return undefined;
    return {
      level,
      descPa: at,
      oa: oaOf(d),
      attrIndx: field(d, 2, 3),
      ap1: bit(d, 6),
      ap2: bit(d, 7),
      sh: field(d, 8, 2),
      af: bit(d, 10),
      nG: bit(d, 11),
      dbm: bit(d, 51),
      contiguous: bit(d, 52),
      pxn: bit(d, 53),
      uxn: bit(d, 54),
    };
  }
  return undefined;
}

/** What an EL1 access may do through both stages (HD = 1: DBM makes AP[2]=1 writable-clean). */
export interface Effective {
  readonly pa: number;
  readonly read: boolean;
  readonly write: boolean;
  readonly exec: boolean;
  readonly global: boolean;
  readonly user: boolean;
  /** Write refused by stage 2 alone. */
  readonly stage2Denies: boolean;
}

export function effective(
  mem: Uint8Array,
  ttbr: number,
  vttbr: number,
  va: number,
): Effective | undefined {
  const s1 = s1Decode(mem, ttbr, va, vttbr);
  if (!s1) return undefined;
  const s2 = s2Decode(mem, vttbr, s1.oa);
  if (!s2?.af || (s2.s2ap & 1) === 0) return undefined;
  const s1Write = !s1.ap2 || s1.dbm;
  const s2Write = (s2.s2ap & 2) !== 0;
  const s1Exec = !s1.pxn && !(s1.ap1 && !s1.ap2);
  const s2Exec = s2.xn === 0 || s2.xn === 3;
  return {
    pa: s2.oa,
    read: true,
    write: s1Write && s2Write,
    exec: s1Exec && s2Exec,
    global: !s1.nG,
    user: s1.ap1,
    stage2Denies: s1Write && !s2Write,
  };
}
