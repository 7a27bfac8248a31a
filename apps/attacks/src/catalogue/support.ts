import {
  type Cpu,
  type Machine,
  PAGE_SIZE,
  PageFault,
  PrmemError,
  type SectionName,
  WalkResult,
} from '@prmem/core';
import { createPool, type Pool, type PoolMode } from '@prmem/pool';
import { wrAssign } from '@prmem/wr-ops';
import type { Observation } from './types.js';

/** The attacker's value: never a value the legitimate code writes. */
export const EVIL = 0x4141_4141_4141_4141n;
/** The value targets hold before the attack. */
export const GOOD = 0x1111_2222_3333_4444n;

export const hex = (v: number): string => `0x${v.toString(16)}`;

export function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (!a || !b) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** How one attempt ended. */
export interface Attempt {
  readonly threw: boolean;
  readonly refusal?: string;
  readonly events: readonly string[];
}

function refusalName(e: PrmemError): string {
  if (e instanceof PageFault) return `PageFault(${e.reason})`;
  const reason = (e as { reason?: unknown }).reason;
  return `${e.name}(${typeof reason === 'string' ? reason : e.code})`;
}

/** Errors that mean "the machine refused": an MMU fault, a refused write-rare target or hypercall. */
const REFUSALS = new Set(['PageFault', 'WriteRareViolation', 'HypercallRefused']);
export const isRefusal = (e: PrmemError): boolean => REFUSALS.has(e.name);

/**
 * Runs one attempt. A refusal (`accept`, by default a page fault or a refused write-rare
 * target or hypercall) ends it; anything else is a bug of the attack or the backend and
 * propagates, so it can never pass for a stopped attack.
 */
export function attempt(
  m: Machine,
  fn: () => void,
  accept: (e: PrmemError) => boolean = isRefusal,
): Attempt {
  const before = m.securityEvents().length;
  let refusal: string | undefined;
  try {
    fn();
  } catch (e) {
    if (!(e instanceof PrmemError) || !accept(e)) throw e;
    refusal = refusalName(e);
  }
  const events = m
    .securityEvents()
    .slice(before)
    .map((ev) => ev.kind);
  return refusal ? { threw: true, refusal, events } : { threw: false, events };
}

export interface Target {
  readonly va: number;
  readonly len: number;
  readonly what: string;
}

/**
 * Attempts each write and watches every target's bytes: landed if a target changed or an
 * attempt went through without a refusal.
 */
export function observeWrites(
  m: Machine,
  targets: readonly Target[],
  attempts: readonly (readonly [string, () => void])[],
  opts: {
    /** Which errors count as the machine's refusal (default: `isRefusal`). */
    readonly accept?: (e: PrmemError) => boolean;
    /** A landing the bytes do not show (a level moved, an area freed): what, or undefined. */
    readonly landedIf?: () => string | undefined;
  } = {},
): Observation {
  const before = targets.map((t) => m.peek(t.va, t.len));
  const parts: string[] = [];
  const events: string[] = [];
  let refusal: string | undefined;
  let through = false;
  for (const [what, fn] of attempts) {
    const a = attempt(m, fn, opts.accept);
    events.push(...a.events);
    if (a.threw) {
      refusal ??= a.refusal;
      parts.push(`${what}: ${a.refusal}`);
    } else {
      through = true;
      parts.push(`${what}: went through`);
    }
  }
  const changed = targets.filter((t, i) => !sameBytes(before[i], m.peek(t.va, t.len)));
  if (changed.length > 0) parts.push(`changed: ${changed.map((t) => t.what).join(', ')}`);
  const extra = opts.landedIf?.();
  if (extra) parts.push(extra);
  return {
    landed: through || changed.length > 0 || extra !== undefined,
    ...(refusal ? { refusal } : {}),
    events,
    detail: parts.join('; '),
  };
}

/** A plain 64-bit store by `cpu`, the attacker's write primitive. */
export const plainWrite = (cpu: Cpu, va: number) => () => cpu.write64(va, EVIL);

export interface Statics {
  readonly rodata: number;
  readonly roAfterInit: number;
  readonly wrAfterInit: number;
  readonly data: number;
}

/** Defines one 64-byte variable per section, fills it with GOOD, runs finishBoot(). */
export function bootWithStatics(m: Machine): Statics {
  const cpu = m.cpu(0);
  const def = (section: SectionName, name: string) => {
    const va = m.defineStatic(section, 64, name);
    for (let i = 0; i < 64; i += 8) cpu.write64(va + i, GOOD);
    return va;
  };
  const s = {
    rodata: def('.rodata', 'lkdtm_rodata_var'),
    roAfterInit: def('.data..ro_after_init', 'lkdtm_ro_after_init'),
    wrAfterInit: def('.data..wr_after_init', 'lkdtm_wr_after_init'),
    data: def('.data', 'lkdtm_plain_data'),
  };
  m.finishBoot();
  return s;
}

export interface PoolObject {
  readonly pool: Pool;
  readonly obj: number;
}

/** A pool of `mode` with one 64-byte object holding GOOD, protected. */
export function protectedPool(
  m: Machine,
  mode: PoolMode,
  name: string,
  limit?: 'wr' | 'ro',
  extra: { readonly reclaimable?: boolean } = {},
): PoolObject {
  const pool = createPool(m, { mode, name, ...(limit ? { limit } : {}), ...extra });
  const obj = pool.alloc(64);
  const cpu = m.cpu(0);
  for (let i = 0; i < 64; i += 8) {
    if (mode === 'start-wr') wrAssign(cpu, obj + i, GOOD, 8);
    else cpu.write64(obj + i, GOOD);
  }
  pool.protect();
  return { pool, obj };
}

/** The physical address of a kernel VA's leaf entry, found by a software walk. */
export function leafEntryPa(m: Machine, va: number): number {
  const w = new WalkResult();
  if (!m.arch.pt.lookup(m.kernelMm, va, w) || w.fault !== 0)
    throw new Error(`${hex(va)} is not mapped`);
  return w.leafPa;
}

/**
 * The page-table attack: find the leaf entry of `va` by walking the kernel's tables in
 * physical memory, compute the writable form of the entry (the attacker knows the
 * format: the arch's own encoder computes it on a scratch copy, which is put back), and
 * store it with a plain write through the direct map of the table page, then flush the
 * local TLB entry. Returns what the PTE store did (a refusal there is reported, not thrown).
 */
export function rewritePteWritable(m: Machine, cpu: Cpu, va: number): string {
  const pt = m.arch.pt;
  const page = va - (va % PAGE_SIZE);
  const entryPa = leafEntryPa(m, page);
  const span = 16;
  const start = entryPa - (entryPa % 8);
  const bytes = m.phys.bytes;
  const old = bytes.slice(start, start + span);
  pt.protect(m.kernelMm, page, { write: true, exec: false, global: true });
  const wanted = bytes.slice(start, start + span);
  bytes.set(old, start);
  let first = 0;
  while (first < span && old[first] === wanted[first]) first++;
  let last = span;
  while (last > first && old[last - 1] === wanted[last - 1]) last--;
  if (first === last) return 'PTE already writable';
  const a = attempt(m, () =>
    cpu.writeBytes(m.directMapVa(start + first), wanted.subarray(first, last)),
  );
  m.arch.flushLocalPage(cpu, page);
  return a.threw
    ? `PTE store through the direct map refused: ${a.refusal}`
    : `PTE at PA ${hex(entryPa)} rewritten writable through the direct map`;
}

/**
 * Every user-half mapping of the frame behind `pa` in the arch's alias mms, found by
 * walking their tables in physical memory (what an attacker with a read primitive sees).
 */
export function aliasMappings(m: Machine, pa: number): { mm: string; va: number }[] {
  const frame = pa - (pa % PAGE_SIZE);
  const out: { mm: string; va: number }[] = [];
  for (const mm of m.arch.aliasMms?.() ?? []) {
    m.arch.pt.forEachLeaf(mm, (va, leafPa) => {
      if (va < m.layout.userEnd && leafPa === frame) out.push({ mm: mm.name, va });
    });
  }
  return out;
}

export const notApplicable = (why: string): Observation => ({
  landed: false,
  events: [],
  detail: why,
  notApplicable: why,
});
