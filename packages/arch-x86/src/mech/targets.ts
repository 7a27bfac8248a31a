import * as core from '@prmem/core';
import { BadAddressError, BadSizeError, type Section, WalkResult, type WrOp } from '@prmem/core';
import type { X86Arch } from '../arch.js';
import * as layout from '../layout.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { opLength, PAGE_MASK, PAGE_SIZE } = core;
const { USER_END } = layout;

/** One op's target: its kernel pages and the frames behind them. */
export interface TargetRun {
  readonly op: WrOp;
  /** Page-aligned kernel VA of the first page. */
  readonly first: number;
  /** Physical address of each page's frame. */
  readonly pas: readonly number[];
}

/** Reused: resolving targets is on every write-rare operation's path. */
const scratch = new WalkResult();

/** Checks an op's range is kernel-half memory below 2^48; returns its length. */
function checkRange(op: WrOp): number {
  const va = op.va;
  if (typeof va !== 'number' || !Number.isInteger(va) || va < USER_END || va >= 2 ** 48)
    throw new BadAddressError(va, 'a write-rare target must be a kernel-half address');
  const len = opLength(op);
  if (!Number.isInteger(len) || len < 1) throw new BadSizeError(len, 'must be at least 1 byte');
  if (va + len > 2 ** 48) throw new BadAddressError(va, `${len} bytes run past 2^48`);
  return len;
}

/**
 * The frame behind kernel page `p`, found as text_poke finds it: kernel-image data by
 * __pa_symbol (arithmetic: the image is physically fixed, `image` is its section),
 * anything else by vmalloc_to_page (a walk of the kernel tables). It must not be read-only.
 */
function pageFrame(arch: X86Arch, image: Section | undefined, p: number): number {
  const m = arch.m;
  let pa: number;
  if (image) pa = image.pfns[(p - image.start) / PAGE_SIZE] * PAGE_SIZE;
  else if (arch.pt.lookup(m.kernelMm, p, scratch)) pa = scratch.pa;
  else throw new BadAddressError(p, 'write-rare target not mapped in the kernel');
  if (m.frameLevel(pa / PAGE_SIZE) === 'ro')
    throw new BadAddressError(p, 'write-rare target is read-only memory');
  return pa;
}

/**
 * Resolves every op's target pages before anything happens: each must be a mapped kernel
 * page whose frame is not read-only. A bad target throws a
 * typed error and leaves the machine as it was.
 */
export function resolveTargets(arch: X86Arch, ops: readonly WrOp[]): TargetRun[] {
  // Sized up front: a growing array reserves 17 slots on its first push, and this runs on
  // every write-rare operation.
  const out = new Array<TargetRun>(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const len = checkRange(op);
    const va = op.va;
    const first = va - (va & PAGE_MASK);
    const pas = new Array<number>(Math.ceil((va + len - first) / PAGE_SIZE));
    const image = arch.m.sectionOf(va, len);
    for (let k = 0; k < pas.length; k++) pas[k] = pageFrame(arch, image, first + k * PAGE_SIZE);
    out[i] = { op, first, pas };
  }
  return out;
}

/**
 * `resolveTargets` of one op that stays within one page, allocating nothing: the frame's
 * PA, or -1 when the op spans pages (the caller resolves it in full). The same checks,
 * the same errors.
 */
export function resolveOnePage(arch: X86Arch, op: WrOp): number {
  const len = checkRange(op);
  const va = op.va;
  const off = va & PAGE_MASK;
  if (off + len > PAGE_SIZE) return -1;
  return pageFrame(arch, arch.m.sectionOf(va, len), va - off);
}
