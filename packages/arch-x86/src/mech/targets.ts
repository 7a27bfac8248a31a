import {
  BadAddressError,
  BadSizeError,
  opLength,
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
 * Resolves every op's target pages through the kernel's tables before anything happens:
 * each must be a mapped kernel page whose frame is not read-only. A bad target throws a
 * typed error and leaves the machine as it was.
 */
export function resolveTargets(arch: X86Arch, ops: readonly WrOp[]): TargetRun[] {
  const m = arch.m;
  const w = scratch;
  const out: TargetRun[] = [];
  for (const op of ops) {
    const va = op.va;
    if (typeof va !== 'number' || !Number.isInteger(va) || va < USER_END || va >= 2 ** 48)
      throw new BadAddressError(va, 'a write-rare target must be a kernel-half address');
    const len = opLength(op);
    if (!Number.isInteger(len) || len < 1) throw new BadSizeError(len, 'must be at least 1 byte');
    if (va + len > 2 ** 48) throw new BadAddressError(va, `${len} bytes run past 2^48`);
    const first = va - (va % PAGE_SIZE);
    const pas: number[] = [];
    for (let p = first; p < va + len; p += PAGE_SIZE) {
      if (!arch.pt.lookup(m.kernelMm, p, w))
        throw new BadAddressError(p, 'write-rare target not mapped in the kernel');
      if (m.frameLevel(w.pa / PAGE_SIZE) === 'ro')
        throw new BadAddressError(p, 'write-rare target is read-only memory');
      pas.push(w.pa);
    }
    out.push({ op, first, pas });
  }
  return out;
}
