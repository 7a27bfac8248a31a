import { canonical, PAGE_SIZE, VA_LIMIT } from './addr.js';
import { type WrOp, WalkResult } from './backend.js';
import type { Cpu } from './cpu.js';
import { PrmemError } from './errors.js';
import { PG } from './phys.js';
import type { Section } from './sections.js';
import { opLength } from './wrapply.js';

/** Why a mechanism refused a write-rare target. */
export type WrTargetReason =
  | 'bad-op'
  | 'bad-address'
  | 'bad-size'
  | 'unmapped'
  | 'read-only'
  | 'not-write-rare';

/**
 * A write-rare mechanism refused a target before its window opened: mechanisms check
 * their own targets (defence in depth below wr-ops), so a caller that drives one
 * directly cannot make it write read-only or ordinary memory. Code `EWRTARGET`.
 */
export class WrTargetError extends PrmemError {
  readonly address: unknown;
  readonly reason: WrTargetReason;
  constructor(mechanism: string, address: unknown, reason: WrTargetReason, why: string) {
    super(
      'EWRTARGET',
      `${mechanism}: refused target ${typeof address === 'number' && Number.isInteger(address) && address >= 0 ? canonical(address) : String(address)}: ${why}`,
      { mechanism, address, reason },
    );
    this.address = address;
    this.reason = reason;
  }
}

/** Records the refusal as a security event, then throws WrTargetError. */
export function refuseWrTarget(
  cpu: Cpu,
  mechanism: string,
  address: unknown,
  len: unknown,
  reason: WrTargetReason,
  why: string,
): never {
  cpu.owner.reportSecurityEvent({
    kind: 'wr-target-refused',
    cpu: cpu.id,
    address: typeof address === 'number' ? address : Number.NaN,
    size: typeof len === 'number' ? len : Number.NaN,
    operation: mechanism,
    detail: `${reason}: ${why}`,
  });
  throw new WrTargetError(mechanism, address, reason, why);
}

/** A frame a mechanism may write: protected write-rare (not read-only, not ordinary). */
export function isWrFrame(cpu: Cpu, pfn: number): boolean {
  return (cpu.owner.phys.frameFlags[pfn] & (PG.PROT_WR | PG.PROT_RO)) === PG.PROT_WR;
}

/**
 * Checks one op's operands: a known kind, an integer kernel address, a positive length
 * that fits in physical memory (so a huge length is refused before anything lists its
 * pages). Returns the length.
 */
export function checkWrOp(cpu: Cpu, mechanism: string, op: WrOp, kernelStart: number): number {
  if (typeof op !== 'object' || op === null)
    refuseWrTarget(cpu, mechanism, op, 0, 'bad-op', 'not a write-rare op');
  const va = op.va;
  if (typeof va !== 'number' || !Number.isInteger(va) || va < kernelStart || va >= VA_LIMIT)
    refuseWrTarget(cpu, mechanism, va, 0, 'bad-address', 'not a kernel address');
  const len = opLength(op);
  if (typeof len !== 'number' || !Number.isInteger(len) || len < 1 || len > cpu.owner.phys.size)
    refuseWrTarget(cpu, mechanism, va, len, 'bad-size', 'length must be in [1, memory size]');
  if (va + len > VA_LIMIT)
    refuseWrTarget(cpu, mechanism, va, len, 'bad-size', 'the range runs past 2^48');
  return len;
}

const scratch = new WalkResult();

/**
 * The frames of every page of every op (see `wrFrameOf` for how each is found), each of
 * which must be write-rare; a bad op or target is refused (with a security event) before
 * anything changes. Returns the frames in op order, page by page (for pinning).
 */
export function resolveWrFrames(
  cpu: Cpu,
  mechanism: string,
  ops: readonly WrOp[],
  kernelStart: number,
): number[] {
  const out: number[] = [];
  for (const op of ops) {
    const len = checkWrOp(cpu, mechanism, op, kernelStart);
    const first = op.va - (op.va % PAGE_SIZE);
    const image = cpu.owner.sectionOf(op.va, len);
    for (let p = first; p < op.va + len; p += PAGE_SIZE)
      out.push(wrFrameOf(cpu, mechanism, op.va, len, p, image));
  }
  return out;
}

/**
 * `resolveWrFrames` of one op, when it lies within one page: its frame, with no array
 * (every wrAssign). -1 when the op spans pages: only its operands were checked then, and
 * `resolveWrFrames` does the rest.
 */
export function resolveOneWrFrame(
  cpu: Cpu,
  mechanism: string,
  op: WrOp,
  kernelStart: number,
): number {
  const len = checkWrOp(cpu, mechanism, op, kernelStart);
  const first = op.va - (op.va % PAGE_SIZE);
  if (op.va + len > first + PAGE_SIZE) return -1;
  return wrFrameOf(cpu, mechanism, op.va, len, first, cpu.owner.sectionOf(op.va, len));
}

/**
 * The frame of page `p` of the op at `va`, which must be write-rare, found as the kernel
 * finds it: a kernel-image symbol (the op lies in section `image`) by arithmetic
 * (`__pa_symbol`: the image is physically fixed, so its PTEs are not consulted), anything
 * else by a software walk of the kernel's tables (`vmalloc_to_page`), where it must be mapped.
 */
function wrFrameOf(
  cpu: Cpu,
  mechanism: string,
  va: number,
  len: number,
  p: number,
  image: Section | undefined,
): number {
  const m = cpu.owner;
  let pfn: number;
  if (image !== undefined) pfn = image.pfns[(p - image.start) / PAGE_SIZE];
  else {
    if (!m.arch.pt.lookup(m.kernelMm, p, scratch) || scratch.fault !== 0)
      refuseWrTarget(cpu, mechanism, va, len, 'unmapped', `${canonical(p)} is not mapped`);
    pfn = scratch.pa / PAGE_SIZE;
  }
  if (!isWrFrame(cpu, pfn)) {
    const ro = (m.phys.frameFlags[pfn] & PG.PROT_RO) !== 0;
    refuseWrTarget(
      cpu,
      mechanism,
      va,
      len,
      ro ? 'read-only' : 'not-write-rare',
      ro ? `${canonical(p)} is read-only memory` : `${canonical(p)} is not write-rare memory`,
    );
  }
  return pfn;
}

/** Pins frames for an open window (see Machine.pinFrame); all or none. */
export function pinWrFrames(cpu: Cpu, pfns: readonly number[], areas: readonly number[]): void {
  const m = cpu.owner;
  let i = 0;
  try {
    for (; i < pfns.length; i++) m.pinFrame(cpu, pfns[i], areas[i]);
  } catch (e) {
    for (let k = 0; k < i; k++) m.unpinFrame(pfns[k]);
    throw e;
  }
}

export function unpinWrFrames(cpu: Cpu, pfns: readonly number[]): void {
  for (const pfn of pfns) cpu.owner.unpinFrame(pfn);
}

/** The area id of each frame, as the window records it when it is built. */
export function frameAreas(cpu: Cpu, pfns: readonly number[]): number[] {
  const fa = cpu.owner.phys.frameArea;
  return pfns.map((p) => fa[p]);
}
