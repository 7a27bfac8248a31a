import * as core from '@prmem/core';
import { type Cpu, refuseWrTarget, type Section, WalkResult, type WrOp } from '@prmem/core';
import type { X86MechanismContext } from './plugin.js';
import * as layout from '../layout.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { isWrFrame, opLength, PAGE_MASK, PAGE_SIZE, PG } = core;
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

/**
 * Checks an op's range is kernel-half memory below 2^48, no longer than memory; returns
 * its length. A refusal is recorded as a security event.
 */
function checkRange(arch: X86MechanismContext, cpu: Cpu, op: WrOp): number {
  const mech = arch.mechanismName;
  if (typeof op !== 'object' || op === null)
    refuseWrTarget(cpu, mech, op, 0, 'bad-op', 'not a write-rare op');
  const va = op.va;
  if (typeof va !== 'number' || !Number.isInteger(va) || va < USER_END || va >= 2 ** 48)
    refuseWrTarget(
      cpu,
      mech,
      va,
      0,
      'bad-address',
      'a write-rare target must be a kernel-half address',
    );
  const len = opLength(op);
  if (!Number.isInteger(len) || len < 1 || len > arch.m.phys.size)
    refuseWrTarget(cpu, mech, va, len, 'bad-size', 'length must be in [1, memory size]');
  if (va + len > 2 ** 48)
    refuseWrTarget(cpu, mech, va, len, 'bad-size', `${len} bytes run past 2^48`);
  return len;
}

/**
 * The frame behind kernel page `p`, found as text_poke finds it: kernel-image data by
 * __pa_symbol (arithmetic: the image is physically fixed, `image` is its section),
 * anything else by vmalloc_to_page (a walk of the kernel tables). It must not be read-only.
 */
function pageFrame(
  arch: X86MechanismContext,
  cpu: Cpu,
  image: Section | undefined,
  p: number,
): number {
  const m = arch.m;
  let pa: number;
  if (image) pa = image.pfns[(p - image.start) / PAGE_SIZE] * PAGE_SIZE;
  else if (arch.pt.lookup(m.kernelMm, p, scratch)) pa = scratch.pa;
  else
    refuseWrTarget(cpu, arch.mechanismName, p, PAGE_SIZE, 'unmapped', 'not mapped in the kernel');
  // Only frames protected write-rare: never read-only ones, nor ordinary memory (which
  // needs no mechanism).
  if (!isWrFrame(cpu, pa / PAGE_SIZE)) {
    const ro = (m.phys.frameFlags[pa / PAGE_SIZE] & PG.PROT_RO) !== 0;
    refuseWrTarget(
      cpu,
      arch.mechanismName,
      p,
      PAGE_SIZE,
      ro ? 'read-only' : 'not-write-rare',
      ro ? 'read-only memory' : 'not write-rare memory',
    );
  }
  return pa;
}

/**
 * Resolves every op's target pages before anything happens: each must be a mapped kernel
 * page whose frame is not read-only. A bad target throws a
 * typed error and leaves the machine as it was.
 */
export function resolveTargets(
  arch: X86MechanismContext,
  cpu: Cpu,
  ops: readonly WrOp[],
): TargetRun[] {
  // Sized up front: a growing array reserves 17 slots on its first push, and this runs on
  // every write-rare operation.
  const out = new Array<TargetRun>(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const len = checkRange(arch, cpu, op);
    const va = op.va;
    const first = va - (va & PAGE_MASK);
    const pas = new Array<number>(Math.ceil((va + len - first) / PAGE_SIZE));
    const image = arch.m.sectionOf(va, len);
    for (let k = 0; k < pas.length; k++)
      pas[k] = pageFrame(arch, cpu, image, first + k * PAGE_SIZE);
    out[i] = { op, first, pas };
  }
  return out;
}

/**
 * `resolveTargets` of one op that stays within one page, allocating nothing: the frame's
 * PA, or -1 when the op spans pages (the caller resolves it in full). The same checks,
 * the same errors.
 */
export function resolveOnePage(arch: X86MechanismContext, cpu: Cpu, op: WrOp): number {
  const len = checkRange(arch, cpu, op);
  const va = op.va;
  const off = va & PAGE_MASK;
  if (off + len > PAGE_SIZE) return -1;
  return pageFrame(arch, cpu, arch.m.sectionOf(va, len), va - off);
}

/** The frames of resolved runs and their area ids now (what a window pins when it opens). */
export function holdOf(
  arch: X86MechanismContext,
  runs: readonly TargetRun[],
): { pfns: number[]; areas: number[] } {
  const pfns: number[] = [];
  const areas: number[] = [];
  const fa = arch.m.phys.frameArea;
  for (const r of runs)
    for (const pa of r.pas) {
      pfns.push(pa / PAGE_SIZE);
      areas.push(fa[pa / PAGE_SIZE]);
    }
  return { pfns, areas };
}
