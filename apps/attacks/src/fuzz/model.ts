/**
 * The reference model: what a pmalloc/write-rare kernel must do, written from the
 * documented semantics (the write-rare and pool rules in the package READMEs, prmem's pool modes), not from the implementation.
 * A pool is a list of areas with a protection level each and an allocation cursor; an
 * allocation is (pool, area, offset, bytes). Expected outcomes are predicted here and
 * compared with what the machine does.
 */
import type { PoolModeName, WrPart } from './ops.js';

export type Level = 'rw' | 'wr' | 'ro';
export const ORDER: Readonly<Record<Level, number>> = { rw: 0, wr: 1, ro: 2 };
const PAGE = 4096;

export interface MArea {
  readonly pages: number;
  level: Level;
}

export interface MPool {
  readonly mode: PoolModeName;
  readonly limit: 'wr' | 'ro';
  readonly refill: number;
  readonly align: number;
  /** The CPU the pool's own work runs on (the acting CPU when it was created). */
  readonly cpu: number;
  level: Level;
  readonly areas: MArea[];
  /** Index of the area being filled, -1 if none. */
  cur: number;
  offset: number;
  destroyed: boolean;
}

export interface MAlloc {
  readonly pool: number;
  readonly area: number;
  readonly offset: number;
  readonly bytes: Uint8Array;
}

export interface Model {
  readonly cpus: number;
  cpu: number;
  pools: MPool[];
  allocs: MAlloc[];
  /** Pages of destroyed pools kept out of the allocator. */
  quarantinedPages: number;
}

/** What an op must do: succeed, fault, be refused by wr-ops (reason) or by the pool (code). */
export type Outcome =
  | { readonly kind: 'ok' }
  | { readonly kind: 'fault' }
  | { readonly kind: 'violation'; readonly reason: string }
  | { readonly kind: 'pool-error'; readonly code: string };

export const OK: Outcome = { kind: 'ok' };
export const FAULT: Outcome = { kind: 'fault' };

export function outcomeText(o: Outcome): string {
  return o.kind === 'violation'
    ? `WriteRareViolation(${o.reason})`
    : o.kind === 'pool-error'
      ? `PoolError(${o.code})`
      : o.kind;
}

export function newModel(cpus: number): Model {
  return { cpus, cpu: 0, pools: [], allocs: [], quarantinedPages: 0 };
}

export const isWrMode = (mode: PoolModeName): boolean =>
  mode === 'wr' || mode === 'auto-wr' || mode === 'start-wr';
const protectedLevel = (mode: PoolModeName): Level => (isWrMode(mode) ? 'wr' : 'ro');
const roundDown = (v: number, align: number) => v - (((v % align) + align) % align);

export function livePools(m: Model): number {
  return m.pools.filter((p) => !p.destroyed).length;
}

// ---- pools ---------------------------------------------------------------------------

export function createPool(
  m: Model,
  mode: PoolModeName,
  limitRo: boolean,
  refillPages: number,
  align: number,
): number {
  m.pools.push({
    mode,
    limit: isWrMode(mode) && !limitRo ? 'wr' : 'ro',
    refill: refillPages * PAGE,
    align,
    cpu: m.cpu,
    level: 'rw',
    areas: [],
    cur: -1,
    offset: 0,
    destroyed: false,
  });
  return m.pools.length - 1;
}

/**
 * Allocation runs downward in the current area while it is still being filled (a START_WR
 * pool keeps filling its write-rare area); otherwise a new area of at least `refill`
 * bytes. AUTO modes protect the previous area when a new one is added; START_WR areas
 * are write-rare from the start.
 */
export function alloc(m: Model, pi: number, bytes: Uint8Array): Outcome {
  const p = m.pools[pi];
  if (p.destroyed) return { kind: 'pool-error', code: 'EPOOLDESTROYED' };
  const size = bytes.length;
  const start = p.mode === 'start-wr';
  if (p.cur >= 0 && (start || p.areas[p.cur].level === 'rw')) {
    const next = roundDown(p.offset - size, p.align);
    if (next >= 0) {
      p.offset = next;
      m.allocs.push({ pool: pi, area: p.cur, offset: next, bytes });
      return OK;
    }
  }
  const pages = Math.ceil(Math.max(size, p.refill) / PAGE);
  const auto = p.mode === 'auto-ro' || p.mode === 'auto-wr';
  if (auto && p.cur >= 0 && p.areas[p.cur].level === 'rw')
    p.areas[p.cur].level = protectedLevel(p.mode);
  p.areas.push({ pages, level: start ? 'wr' : 'rw' });
  p.cur = p.areas.length - 1;
  p.offset = roundDown(pages * PAGE - size, p.align);
  m.allocs.push({ pool: pi, area: p.cur, offset: p.offset, bytes });
  return OK;
}

function raise(p: MPool, target: Level): Outcome {
  if (ORDER[target] < ORDER[p.level] || ORDER[target] > ORDER[p.limit])
    return { kind: 'pool-error', code: 'EPOOLDOWNGRADE' };
  for (const a of p.areas) if (ORDER[a.level] < ORDER[target]) a.level = target;
  if (p.mode !== 'start-wr' || target === 'ro') {
    p.cur = -1;
    p.offset = 0;
  }
  p.level = target;
  return OK;
}

export function protect(m: Model, pi: number): Outcome {
  const p = m.pools[pi];
  if (p.destroyed) return { kind: 'pool-error', code: 'EPOOLDESTROYED' };
  return raise(p, protectedLevel(p.mode));
}

export function makeReadOnly(m: Model, pi: number): Outcome {
  const p = m.pools[pi];
  if (p.destroyed) return { kind: 'pool-error', code: 'EPOOLDESTROYED' };
  if (p.limit !== 'ro') return { kind: 'pool-error', code: 'EPOOLMODE' };
  return raise(p, 'ro');
}

export function destroy(m: Model, pi: number, reclaim: boolean): Outcome {
  const p = m.pools[pi];
  if (p.destroyed) return { kind: 'pool-error', code: 'EPOOLDESTROYED' };
  p.destroyed = true;
  // Its areas and its read-only descriptor page.
  if (!reclaim) for (const a of p.areas) m.quarantinedPages += a.pages;
  if (!reclaim) m.quarantinedPages += 1;
  return OK;
}

// ---- accesses ------------------------------------------------------------------------

export function allocLevel(m: Model, ai: number): Level | 'gone' {
  const a = m.allocs[ai];
  const p = m.pools[a.pool];
  return p.destroyed ? 'gone' : p.areas[a.area].level;
}

/** A plain store: only memory that is still writable takes it. */
export function plainWrite(m: Model, ai: number): Outcome {
  return allocLevel(m, ai) === 'rw' ? OK : FAULT;
}

/**
 * A write-rare target: write-rare memory (a WR-mode pool, protected or not yet) takes it;
 * RO memory, ordinary memory and freed memory are refused before any byte moves.
 */
export function wrTarget(m: Model, ai: number): Outcome {
  const level = allocLevel(m, ai);
  if (level === 'gone') return { kind: 'violation', reason: 'unmapped' };
  if (level === 'ro') return { kind: 'violation', reason: 'read-only' };
  if (!isWrMode(m.pools[m.allocs[ai].pool].mode))
    return { kind: 'violation', reason: 'not-write-rare' };
  return OK;
}

/** A write resolved against the allocation it targets: [off, off+data.length). */
export interface Resolved {
  readonly alloc: number;
  readonly off: number;
  readonly data: Uint8Array;
  /** For assign: the store size (the data is its little-endian value). */
  readonly size?: 1 | 2 | 4 | 8;
  readonly value?: bigint;
  /** For memset. */
  readonly byte?: number;
}

/** Resolves a write-rare part's picks; undefined if there is no allocation yet. */
export function resolvePart(m: Model, part: WrPart): Resolved | undefined {
  if (m.allocs.length === 0) return undefined;
  const ai = part.alloc % m.allocs.length;
  const n = m.allocs[ai].bytes.length;
  if (part.k === 'assign') {
    let size: 1 | 2 | 4 | 8 = part.size;
    while (size > n) size = (size / 2) as 1 | 2 | 4;
    const off = part.off % (n - size + 1);
    const value = BigInt.asUintN(size * 8, part.value);
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = Number((value >> BigInt(8 * i)) & 0xffn);
    return { alloc: ai, off, data, size, value };
  }
  const want = part.k === 'memcpy' ? part.data.length : part.len;
  const len = Math.min(want, n);
  const off = part.off % (n - len + 1);
  if (part.k === 'memcpy') return { alloc: ai, off, data: part.data.subarray(0, len) };
  return { alloc: ai, off, data: new Uint8Array(len).fill(part.byte), byte: part.byte };
}

export function applyWrite(m: Model, r: Resolved): void {
  m.allocs[r.alloc].bytes.set(r.data, r.off);
}
