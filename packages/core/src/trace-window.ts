/**
 * The write-rare window in a trace: a traced machine wraps its mechanism so that every
 * session is one slice on the calling CPU's track (`wr window · <mechanism>`, with the
 * targets' VAs and PAs and the CPU's mm and ASID/PCID), and every step of the session a
 * slice nested in it, named by the step's own label. What a step does (PTE writes, CR3 /
 * TTBR writes, INVLPG / TLBI, CR0 / PKRS writes, IPIs, hypercalls) nests inside the
 * step, drawn by the traced counters. Untraced machines never see this wrapper.
 */
import { canonical } from './addr.js';
import { WalkResult, type WriteRareMechanism, type WrOp } from './backend.js';
import type { Cpu } from './cpu.js';
import type { Machine } from './machine.js';
import type { StepProgram } from './program.js';
import type { Trace, TraceEvent } from './trace.js';

/** A step's slice is named by its label when it returns; one that threw keeps this name. */
const THREW = 'step (threw)';

/** At most this many targets are listed in a window's args. */
const MAX_LISTED = 8;

function opLength(op: WrOp): number {
  switch (op.kind) {
    case 'write':
      return op.data.length;
    case 'set':
      return op.len;
    default:
      return op.size;
  }
}

/** The window's args: what it writes where, and the address space it runs in. */
export function windowArgs(m: Machine, cpu: Cpu, ops: readonly WrOp[]): Record<string, unknown> {
  const w = new WalkResult();
  const targets = ops.slice(0, MAX_LISTED).map((op) => {
    const found = m.arch.pt.lookup(m.kernelMm, op.va, w) && w.fault === 0;
    return {
      kind: op.kind,
      va: canonical(op.va),
      pa: found ? `0x${(w.pa + (op.va % 4096)).toString(16)}` : null,
      bytes: opLength(op),
    };
  });
  return {
    ops: ops.length,
    bytes: ops.reduce((a, op) => a + opLength(op), 0),
    targets,
    mm: cpu.mm.name,
    asid: cpu.mm.asid,
  };
}

class TracedProgram implements StepProgram {
  private window: TraceEvent | undefined;
  private depth = 0;
  private closed = false;
  constructor(
    private readonly inner: StepProgram,
    private readonly trace: Trace,
    private readonly cpu: Cpu,
    private readonly name: string,
    private readonly args: () => Record<string, unknown>,
  ) {}

  step(): string | null {
    const { trace, cpu } = this;
    if (this.closed) return this.inner.step();
    if (!this.window) {
      this.depth = trace.depth(cpu.id);
      this.window = trace.begin(cpu.id, this.name, 'wr', this.args());
    }
    const b = trace.begin(cpu.id, THREW, 'wr-step');
    const label = this.inner.step();
    trace.hvcExit(cpu.id);
    if (label === null) {
      trace.cancel(cpu.id, b, 'window exit');
      this.close();
      return null;
    }
    if (b) b.name = label;
    trace.end(cpu.id);
    return label;
  }

  abort(): void {
    const { trace, cpu } = this;
    if (this.closed || !this.window) {
      this.inner.abort();
      return;
    }
    trace.hvcExit(cpu.id, { unwound: true });
    trace.endTo(cpu.id, this.depth + 1, { aborted: true });
    trace.begin(cpu.id, 'abort', 'wr-step');
    this.inner.abort();
    trace.end(cpu.id);
    this.close({ aborted: true });
  }

  private close(args?: Record<string, unknown>): void {
    this.closed = true;
    this.trace.endTo(this.cpu.id, this.depth, args);
  }
}

/** The mechanism as a traced machine runs it: the same steps, drawn as slices. */
export function tracedMechanism(mech: WriteRareMechanism, m: Machine): WriteRareMechanism {
  const name = `wr window · ${mech.name}`;
  const { trace } = m;
  return {
    name: mech.name,
    summary: mech.summary,
    batchable: mech.batchable,
    program: (cpu: Cpu, ops: readonly WrOp[]) =>
      new TracedProgram(mech.program(cpu, ops), trace, cpu, name, () => windowArgs(m, cpu, ops)),
  };
}
