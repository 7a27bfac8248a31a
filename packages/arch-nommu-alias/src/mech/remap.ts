import {
  type Cpu,
  deadlock,
  drain,
  type IpiRound,
  frameAreas,
  isWrFrame,
  OpWriter,
  opsSpan,
  PAGE_MASK,
  PAGE_SIZE,
  pinWrFrames,
  refuseWrTarget,
  resolveOneWrFrame,
  resolveWrFrames,
  StateError,
  type Step,
  type StepProgram,
  unpinWrFrames,
  WalkResult,
  type WrOp,
} from '@prmem/core';
import { VA32_LIMIT } from '../layout.js';
import type { NommuMechanismContext } from './plugin.js';

/** Reused: every window's pages are looked up here. */
const scratch = new WalkResult();

/**
 * The pages [s, e) a remap window opens, checked before anything changes: every op's own
 * pages must be write-rare memory (operands first: a huge length is refused before
 * anything lists its pages), and so must every page of the span — gaps between the ops
 * included — since the window opens all of it to every CPU. Returns their frames.
 */
function windowFrames(
  arch: NommuMechanismContext,
  cpu: Cpu,
  name: string,
  ops: readonly WrOp[],
): { s: number; e: number; pfns: number[] } {
  const m = arch.m;
  const userEnd = m.layout.userEnd;
  // One op in one page (every wrAssign) is checked without a frame array.
  if (ops.length !== 1 || resolveOneWrFrame(cpu, name, ops[0], userEnd) < 0)
    resolveWrFrames(cpu, name, ops, userEnd);
  const { start, end } = opsSpan(ops);
  if (end > VA32_LIMIT)
    refuseWrTarget(cpu, name, start, end - start, 'bad-address', 'runs past 2^32');
  // `&`: exact on the integer below 2^32 checked above (no float modulo per window).
  const s = start - (start & PAGE_MASK);
  const e = Math.ceil(end / PAGE_SIZE) * PAGE_SIZE;
  const pfns: number[] = [];
  for (let va = s; va < e; va += PAGE_SIZE) {
    // The kernel's own tables: the window opens the PTEs, so these are the frames it writes.
    const pa = m.arch.pt.lookup(m.kernelMm, va, scratch) && scratch.fault === 0 ? scratch.pa : -1;
    if (pa < 0)
      refuseWrTarget(
        cpu,
        name,
        va,
        PAGE_SIZE,
        'unmapped',
        'the window would span an unmapped page',
      );
    if (!isWrFrame(cpu, pa / PAGE_SIZE))
      refuseWrTarget(
        cpu,
        name,
        va,
        PAGE_SIZE,
        'not-write-rare',
        'the window would span memory that is not write-rare',
      );
    pfns.push(pa / PAGE_SIZE);
  }
  return { s, e, pfns };
}

/** Where a RemapWindow is: the next thing its `step` does. */
const LOCK = 0;
/** The shootdown after the PTEs went writable (direct-remap only). */
const RELAX_SHOOTDOWN = 1;
const WRITE = 2;
/** The shootdown after the PTEs went read-only again; its end closes the window. */
const TIGHTEN_SHOOTDOWN = 3;
const DONE = 4;

/**
 * Write-rare by changing the one mapping in place. `lazy` skips the shootdown when
 * relaxing (RO → RW): other CPUs keep stale read-only entries, which cost them a spurious
 * fault if they write; only tightening (RW → RO) pays the IPIs. Either way the PTE is
 * writable for every CPU while the window is open: that is the mechanism's weakness.
 *
 * Steps: the write-rare lock (a wait step while another CPU holds it), frames pinned,
 * preemption off, PTEs writable; the relaxing shootdown (one step per IPI); the writes;
 * PTEs read-only; the tightening shootdown (one step per IPI). An abort at any point puts
 * the PTEs back read-only (with the shootdown), closes the window and releases the rest.
 */
export class RemapWindow implements StepProgram {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare private readonly arch: NommuMechanismContext;
  declare private readonly cpu: Cpu;
  declare private readonly lazy: boolean;
  declare private readonly s: number;
  declare private readonly e: number;
  declare private readonly pfns: readonly number[];
  declare private readonly areas: readonly number[];
  declare private readonly writer: OpWriter;
  declare private phase: number;
  /** The shootdown being delivered, one IPI per step. */
  declare private shootdown: IpiRound | null;
  /** What is held or changed, for `abort`. */
  declare private locked: boolean;
  declare private pinned: boolean;
  declare private writable: boolean;
  declare private unflushed: boolean;
  declare private opened: boolean;

  constructor(arch: NommuMechanismContext, cpu: Cpu, ops: readonly WrOp[], lazy: boolean) {
    this.arch = arch;
    this.cpu = cpu;
    this.lazy = lazy;
    // A session with nothing to write takes no step at all.
    const w =
      ops.length === 0 ? null : windowFrames(arch, cpu, lazy ? 'lazy' : 'direct-remap', ops);
    this.s = w ? w.s : 0;
    this.e = w ? w.e : 0;
    this.pfns = w ? w.pfns : [];
    this.areas = frameAreas(cpu, this.pfns);
    this.writer = new OpWriter(cpu, ops, 0);
    this.phase = w ? LOCK : DONE;
    this.shootdown = null;
    this.locked = false;
    this.pinned = false;
    this.writable = false;
    this.unflushed = false;
    this.opened = false;
  }

  step(): Step | null {
    for (;;) {
      switch (this.phase) {
        case LOCK:
          return this.lock();
        case RELAX_SHOOTDOWN: {
          const label = this.nextIpi();
          if (label !== null) return label;
          this.phase = WRITE;
          break;
        }
        case WRITE: {
          if (!this.opened) {
            this.arch.m.openWindow(this.cpu);
            this.opened = true;
          }
          const label = this.writer.step();
          if (label !== null) return label;
          this.arch.setKernelPtes(this.cpu, this.s, this.e, false);
          this.writable = false;
          this.unflushed = true;
          this.shootdown = this.arch.flushKernelRangeRound(this.cpu, this.s, this.e);
          this.phase = TIGHTEN_SHOOTDOWN;
          return 'pte: read-only';
        }
        case TIGHTEN_SHOOTDOWN: {
          const label = this.nextIpi();
          if (label !== null) return label;
          this.unflushed = false;
          this.release();
          return null;
        }
        default:
          return null;
      }
    }
  }

  /**
   * Every remaining step at once, as `step` until null would do them (the synchronous
   * API's path): the shootdowns are delivered without their step labels.
   */
  run(): void {
    for (;;) {
      switch (this.phase) {
        case LOCK: {
          const label = this.lock();
          if (this.phase === LOCK) deadlock(label);
          break;
        }
        case RELAX_SHOOTDOWN:
          this.runShootdown();
          this.phase = WRITE;
          break;
        case WRITE:
          if (!this.opened) {
            this.arch.m.openWindow(this.cpu);
            this.opened = true;
          }
          while (this.writer.step() !== null); // stores never wait
          this.step(); // PTEs read-only, the tightening shootdown started (no IPI yet)
          break;
        case TIGHTEN_SHOOTDOWN:
          this.runShootdown();
          this.unflushed = false;
          this.release();
          return;
        default:
          return;
      }
    }
  }

  private runShootdown(): void {
    const round = this.shootdown;
    if (round !== null) round.run();
    this.shootdown = null;
  }

  /**
   * Windows are serialized (as text_mutex serializes text_poke): one closing window must
   * not make the page read-only under another CPU's open one.
   */
  private lock(): Step {
    const { arch, cpu } = this;
    if (arch.wrLockOwner !== -1) {
      if (arch.wrLockOwner === cpu.id)
        throw new StateError('EWRNESTED', `CPU ${cpu.id} already holds the write-rare lock`, {
          cpu: cpu.id,
        });
      return 'wait: write-rare lock';
    }
    arch.wrLockOwner = cpu.id;
    this.locked = true;
    pinWrFrames(cpu, this.pfns, this.areas);
    this.pinned = true;
    cpu.preemptCount++;
    arch.setKernelPtes(cpu, this.s, this.e, true);
    this.writable = true;
    if (this.lazy) {
      // Only the writer's own stale read-only entry is dropped; no IPI.
      arch.localFlushKernelRange(cpu, this.s, this.e);
      this.phase = WRITE;
      return 'pte: writable (local flush only)';
    }
    this.shootdown = arch.flushKernelRangeRound(cpu, this.s, this.e);
    this.phase = RELAX_SHOOTDOWN;
    return 'pte: writable';
  }

  /** The next IPI of the shootdown under way, or null when it is over. */
  private nextIpi(): Step | null {
    const label = (this.shootdown as IpiRound).step();
    if (label === null) this.shootdown = null;
    return label;
  }

  /** An op that threw, or an abandoned schedule: never leave the page writable. */
  abort(): void {
    if (this.phase === DONE) return;
    const { arch, cpu } = this;
    this.shootdown?.abort();
    this.shootdown = null;
    if (this.writable) arch.setKernelPtes(cpu, this.s, this.e, false);
    if (this.writable || this.unflushed) drain(arch.flushKernelRange(cpu, this.s, this.e));
    this.writable = false;
    this.unflushed = false;
    this.release();
  }

  private release(): void {
    const { arch, cpu } = this;
    if (this.opened) arch.m.closeWindow(cpu);
    if (this.pinned) {
      cpu.preemptCount--;
      unpinWrFrames(cpu, this.pfns);
    }
    if (this.locked) arch.wrLockOwner = -1;
    this.opened = false;
    this.pinned = false;
    this.locked = false;
    this.phase = DONE;
  }
}
