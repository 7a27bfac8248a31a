import {
  type Cpu,
  resolveOneWrFrame,
  resolveWrFrames,
  type Step,
  type StepProgram,
  storeBytes,
  toBig,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { HvcCall, HvcName } from '../el2.js';
import type { Arm64MechanismContext, Arm64MechanismPlugin } from './plugin.js';

type WriteFn = 'write_8' | 'write_16' | 'write_32' | 'write_64';
/** Write hypercalls by store size. */
const WRITE_FN: Readonly<Record<1 | 2 | 4 | 8, WriteFn>> = {
  1: 'write_8',
  2: 'write_16',
  4: 'write_32',
  8: 'write_64',
};

/** Which HKIP-style hypercall carries one write-rare op. */
export function hvcName(op: WrOp): HvcName {
  if (op.kind === 'rmw') return 'rmw';
  if (op.kind === 'set') return op.value === 0 ? 'clear' : 'set';
  const n = op.kind === 'store' ? op.size : op.data.length;
  // A write of 1/2/4/8 aligned bytes is the scalar call; `&`: exact on an integer VA.
  if ((n === 1 || n === 2 || n === 4 || n === 8) && (op.va & (n - 1)) === 0) return WRITE_FN[n];
  return 'write';
}

/** The HKIP-style hypercall for one write-rare op (the call `hvcName(op)` names). */
export function hvcFor(op: WrOp): HvcCall {
  const fn = hvcName(op);
  if (op.kind === 'rmw') return { fn: 'rmw', op };
  if (op.kind === 'set')
    return op.value === 0
      ? { fn: 'clear', dst: op.va, len: op.len }
      : { fn: 'set', dst: op.va, value: op.value, len: op.len };
  const data = op.kind === 'store' ? storeBytes(op) : op.data;
  if (fn === 'write') return { fn, dst: op.va, data };
  return { fn: fn as WriteFn, dst: op.va, value: toBig(data) };
}

/**
 * One hyp-assist session: the window opens at the first step, each step is one
 * hypercall, the last step closes the window. Targets are checked when it is built.
 */
class HypAssistSession implements StepProgram {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare private readonly arch: Arm64MechanismContext;
  declare private readonly cpu: Cpu;
  declare private readonly ops: readonly WrOp[];
  declare private i: number;
  declare private opened: boolean;
  declare private done: boolean;

  constructor(arch: Arm64MechanismContext, cpu: Cpu, ops: readonly WrOp[]) {
    this.arch = arch;
    this.cpu = cpu;
    this.ops = ops;
    this.i = 0;
    this.opened = false;
    this.done = false;
  }

  step(): Step | null {
    if (this.done) return null;
    const { arch, cpu, ops } = this;
    if (!this.opened) {
      arch.m.openWindow(cpu);
      this.opened = true;
    }
    if (this.i < ops.length) {
      const op = ops[this.i++];
      return arch.el2.writeOp(cpu, hvcName(op), op);
    }
    this.close();
    return null;
  }

  abort(): void {
    this.close();
  }

  private close(): void {
    if (this.opened) this.arch.m.closeWindow(this.cpu);
    this.opened = false;
    this.done = true;
  }
}

/**
 * hyp-assist: the kernel asks EL2 to write, one HVC per op as HKIP's per-op calls do.
 * The kernel checks every target before the first HVC (EL2 checks each call again, on
 * its own): a batch with a bad op in it writes nothing.
 */
export function hypAssist(arch: Arm64MechanismContext): WriteRareMechanism {
  return {
    name: 'hyp-assist',
    summary:
      'HVC per write: EL2 writes ROWM ranges that are read-only at stage 2 (survives a kernel page-table attack)',
    batchable: false,
    program(cpu: Cpu, ops: readonly WrOp[]): StepProgram {
      // One op in one page (every wrAssign) is checked without a frame array.
      const userEnd = arch.m.layout.userEnd;
      if (ops.length !== 1 || resolveOneWrFrame(cpu, 'hyp-assist', ops[0], userEnd) < 0)
        resolveWrFrames(cpu, 'hyp-assist', ops, userEnd);
      return new HypAssistSession(arch, cpu, ops);
    },
  };
}

export const HYP_ASSIST: Arm64MechanismPlugin<'hyp-assist'> = {
  name: 'hyp-assist',
  needs: { aliasMm: false, el2WriteRare: true },
  create: hypAssist,
};
