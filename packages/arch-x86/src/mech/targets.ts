import {
  BadAddressError,
  BadSizeError,
  opLength,
  PAGE_MASK,
  PAGE_SIZE,
  WalkResult,
  type WrOp,
} from '@prmem/core';
import type { X86Arch } from '../arch.js';
import { USER_END } from '../layout.js';

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

/**
 * Resolves every op's target pages before anything happens: each must be a mapped kernel
 * page whose frame is not read-only. A bad target throws a
 * typed error and leaves the machine as it was.
 */
export function resolveTargets(arch: X86Arch, ops: readonly WrOp[]): TargetRun[] {
  const m = arch.m;
  const w = scratch;
  // Sized up front: a growing array reserves 17 slots on its first push, and this runs on
  // every write-rare operation.
  const out = new Array<TargetRun>(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const va = op.va;
    if (typeof va !== 'number' || !Number.isInteger(va) || va < USER_END || va >= 2 ** 48)
      throw new BadAddressError(va, 'a write-rare target must be a kernel-half address');
    const len = opLength(op);
    if (!Number.isInteger(len) || len < 1) throw new BadSizeError(len, 'must be at least 1 byte');
    if (va + len > 2 ** 48) throw new BadAddressError(va, `${len} bytes run past 2^48`);
    const first = va - (va & PAGE_MASK);
    const pas = new Array<number>(Math.ceil((va + len - first) / PAGE_SIZE));
    // As text_poke finds its page: kernel-image data by __pa_symbol (arithmetic: the image
    // is physically fixed), anything else by vmalloc_to_page (a walk of the kernel tables).
    const image = m.sectionOf(va, len);
    for (let k = 0; k < pas.length; k++) {
      const p = first + k * PAGE_SIZE;
      let pa: number;
      if (image) pa = image.pfns[(p - image.start) / PAGE_SIZE] * PAGE_SIZE;
      else if (arch.pt.lookup(m.kernelMm, p, w)) pa = w.pa;
      else throw new BadAddressError(p, 'write-rare target not mapped in the kernel');
      if (m.frameLevel(pa / PAGE_SIZE) === 'ro')
        throw new BadAddressError(p, 'write-rare target is read-only memory');
      pas[k] = pa;
    }
    out[i] = { op, first, pas };
  }
  return out;
}
