import * as core from '@prmem/core';
import { canonical, type Cpu, type Machine, type ProtLevel, type Section } from '@prmem/core';
import { type WrRefusalReason, WriteRareViolation } from './violation.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { PAGE_MASK, PAGE_SIZE, PROT_ORDER, VA_LIMIT, VM } = core;
const CpuClass = core.Cpu;

const WR_SECTION = '.data..wr_after_init';
const WR_REGION = `section:${WR_SECTION}`;

/** A validated target: [va, va+len) lies wholly in one piece of write-rare memory. */
export interface WrTarget {
  readonly va: number;
  readonly len: number;
  /**
   * True once the memory is protected write-rare (the mechanism must write it); false
   * before protection (boot, a pool area still at 'rw'): a plain write, as the kernel does.
   */
  readonly protected: boolean;
  /** The area or section the target lies in: ops on one region may share a window. */
  readonly region: string;
}

export interface TargetOptions {
  /** Required alignment (atomics and RCU pointers: their natural alignment). */
  readonly align?: number;
}

/**
 * Records the refusal as a security event and throws. Nothing has been written: every
 * caller validates all its targets before any op runs.
 */
export function refuse(
  cpu: Cpu,
  operation: string,
  target: unknown,
  size: unknown,
  reason: WrRefusalReason,
  why: string,
): never {
  const address = typeof target === 'number' ? target : Number.NaN;
  cpu.owner.reportSecurityEvent({
    kind: 'wr-refused',
    cpu: cpu.id,
    address,
    size: typeof size === 'number' ? size : Number.NaN,
    operation,
    detail: `${reason}: ${why}`,
  });
  throw new WriteRareViolation(operation, target, size, reason, cpu.id, why);
}

/**
 * Validates a write-rare target, in the order that makes a wild pointer cheap to reject:
 * the operands, then the reserved write-rare range (one compare), then the area (the
 * page → area link), then the static `.data..wr_after_init` section. Throws a
 * WriteRareViolation (and records the security event) on refusal; a `cpu` that is not a
 * CPU, an `operation` that is not a string or bad `opts` are InvalidArgumentErrors.
 */
export function checkTarget(
  cpu: Cpu,
  operation: string,
  va: unknown,
  len: unknown,
  opts?: TargetOptions,
): WrTarget {
  checkCpu(cpu);
  let align = 1;
  if (opts !== undefined) {
    if (typeof opts !== 'object' || opts === null)
      throw new core.InvalidArgumentError('options', opts, 'must be an object');
    for (const k of Reflect.ownKeys(opts))
      if (k !== 'align') throw new core.InvalidArgumentError('option', k, 'unknown (known: align)');
    const a = opts.align ?? 1;
    if (
      typeof a !== 'number' ||
      !Number.isInteger(a) ||
      a < 1 ||
      a > PAGE_SIZE ||
      (a & (a - 1)) !== 0
    )
      throw new core.InvalidArgumentError('align', a, 'must be a power of two in [1, 4096]');
    align = a;
  }
  return validateTarget(cpu, operation, va, len, align, false);
}

/** Throws unless `cpu` is a CPU of a machine (an InvalidArgumentError: no machine to record on). */
export function checkCpu(cpu: unknown): asserts cpu is Cpu {
  if (!(cpu instanceof CpuClass))
    throw new core.InvalidArgumentError('cpu', cpu, 'must be a Cpu of a machine');
}

/**
 * The target check itself. `empty` allows a zero length (wr_memset/wr_memcpy with n = 0):
 * the address is still validated — as the byte at it, one stricter than the series'
 * `low <= high` range test, which would accept the end of the section — and the call is a
 * no-op if it passes.
 */
export function validateTarget(
  cpu: Cpu,
  operation: string,
  va: unknown,
  len: unknown,
  align: number,
  empty: boolean,
): WrTarget {
  checkCpu(cpu);
  if (typeof operation !== 'string')
    throw new core.InvalidArgumentError('operation', operation, 'must be a string');
  if (typeof va !== 'number' || !Number.isInteger(va) || va < 0 || va >= VA_LIMIT)
    refuse(cpu, operation, va, len, 'bad-address', 'not an integer address in [0, 2^48)');
  if (typeof len !== 'number' || !Number.isInteger(len) || len < 0 || (len === 0 && !empty))
    refuse(
      cpu,
      operation,
      va,
      len,
      'bad-size',
      empty ? 'not a non-negative integer size' : 'not a positive integer size',
    );
  const span = len === 0 ? 1 : len;
  if (va + span > VA_LIMIT) refuse(cpu, operation, va, len, 'overflow', 'the range runs past 2^48');
  if (align > 1 && va % align !== 0)
    refuse(cpu, operation, va, len, 'misaligned', `must be aligned to ${align} bytes`);
  const m = cpu.owner;
  // RO pools have their own range: nothing in it is ever a write-rare target. The area
  // check runs first only so the refusal names what the memory is (read-only, still
  // writable, unmapped); whatever it finds, the address refuses.
  if (m.inRoRange(va)) {
    checkArea(cpu, m, operation, va, span, len);
    refuse(cpu, operation, va, len, 'read-only', 'in the read-only pool range');
  }
  const t = m.inWrRange(va)
    ? checkArea(cpu, m, operation, va, span, len)
    : checkStatic(cpu, m, operation, va, span, len);
  return len === span ? t : { ...t, len };
}

function checkArea(
  cpu: Cpu,
  m: Machine,
  operation: string,
  va: number,
  len: number,
  size: number,
): WrTarget {
  const area = m.findArea(va);
  if (!area) refuse(cpu, operation, va, size, 'unmapped', 'no live area at this address');
  if (!area.contains(va, len)) {
    const end = va + len;
    const other = m.liveAreas.some((a) => a !== area && a.start < end && a.end > va);
    if (other)
      refuse(cpu, operation, va, size, 'spans-areas', `runs from ${area.name} into another area`);
    refuse(cpu, operation, va, size, 'overflow', `runs past the end of ${area.name}`);
  }
  const level = highestLevel(m, va, len, area.level);
  if (level === 'ro') refuse(cpu, operation, va, size, 'read-only', `${area.name} is read-only`);
  if ((area.flags & VM.PMALLOC_WR) === 0)
    refuse(cpu, operation, va, size, 'not-write-rare', `${area.name} is not a write-rare area`);
  return { va, len, protected: level === 'wr', region: `area:${area.id}` };
}

function checkStatic(
  cpu: Cpu,
  m: Machine,
  operation: string,
  va: number,
  len: number,
  size: number,
): WrTarget {
  const sec = m.sectionOf(va);
  if (sec?.name === WR_SECTION) {
    const end = va + len;
    if (end > sec.start + sec.size) {
      if (m.sectionOf(end - 1))
        refuse(
          cpu,
          operation,
          va,
          size,
          'spans-areas',
          `runs from ${WR_SECTION} into another section`,
        );
      refuse(cpu, operation, va, size, 'overflow', `runs past the end of ${WR_SECTION}`);
    }
    // Write-rare from finishBoot() (mark_rodata_ro) on; the frames say so too. The image
    // is physically fixed: its frames are found by arithmetic (__pa_symbol), not a walk.
    const level = highestLevel(m, va, len, m.booted ? 'wr' : 'rw', sec);
    if (level === 'ro') refuse(cpu, operation, va, size, 'read-only', 'read-only page');
    return { va, len, protected: level === 'wr', region: WR_REGION };
  }
  if (sec) {
    const ro = sec.name === '.rodata' || sec.name === '.data..ro_after_init';
    refuse(
      cpu,
      operation,
      va,
      size,
      ro ? 'read-only' : 'not-write-rare',
      ro ? `${sec.name} is read-only` : `${sec.name} is ordinary kernel data`,
    );
  }
  if (m.translate(va) < 0)
    refuse(cpu, operation, va, size, 'unmapped', `nothing mapped at ${canonical(va)}`);
  refuse(cpu, operation, va, size, 'not-write-rare', 'ordinary memory, not write-rare');
}

/**
 * The most restrictive level of the target's pages (and of its area): each page's frame
 * found through the kernel's tables, or by arithmetic in a static section.
 */
function highestLevel(
  m: Machine,
  va: number,
  len: number,
  start: ProtLevel,
  sec?: Section,
): ProtLevel {
  let level = start;
  for (let p = va - (va & PAGE_MASK); p < va + len; p += PAGE_SIZE) {
    const l = sec
      ? m.frameLevel(sec.pfns[(p - sec.start) / PAGE_SIZE])
      : (m.protectionOf(p) ?? 'ro');
    if (PROT_ORDER[l] > PROT_ORDER[level]) level = l;
  }
  return level;
}
