import type { Step, Steps } from './backend.js';
import type { Cpu } from './cpu.js';
import * as costs from './costs.js';
import { type StepProgram, stepsOf } from './program.js';
import type { Counters } from './stats.js';
import type { Trace } from './trace.js';

// Bound in this module (docs/decisions.md §10): every shootdown charges through it.
const { EV } = costs;

/**
 * Cross-CPU work: IPIs with a step and a clock per target (smp_call_function_many with
 * wait=1), and broadcast TLB maintenance (TLBI …IS + DSB ISH).
 * @internal a room of `Machine`, which is its public face
 */
export class SmpRoom {
  constructor(
    /** @internal */ readonly cpus: readonly Cpu[],
    /** @internal */ readonly counters: Counters,
    /** @internal */ readonly trace: Trace,
  ) {}

  /** The IPIs as scheduler steps: one step per target (`ipiRound` as a generator). */
  ipi(from: Cpu, targets: readonly number[], name: string, handler: (target: Cpu) => void): Steps {
    return stepsOf(this.ipiRound(from, targets, name, handler, 0, 0));
  }

  /**
   * The IPIs as a step program, one step per target; `handler(target, a, b)` runs on each
   * (two numbers passed through, so a hot caller binds its handler once, not per round).
   */
  ipiRound(
    from: Cpu,
    targets: readonly number[],
    name: string,
    handler: (target: Cpu, a: number, b: number) => void,
    a: number,
    b: number,
  ): IpiRound {
    return new IpiRound(this, from, targets, name, handler, a, b);
  }

  /** IPI step labels, made once per (name, sender, target): a shootdown is on hot paths. */
  private readonly ipiLabels = new Map<string, string[]>();
  /** @internal */
  ipiLabel(name: string, from: number, to: number): string {
    let row = this.ipiLabels.get(name);
    if (row === undefined) {
      row = [];
      this.ipiLabels.set(name, row);
    }
    const k = from * this.cpus.length + to;
    let label = row[k];
    if (label === undefined) {
      label = `${name}: IPI CPU${from} -> CPU${to}`;
      row[k] = label;
    }
    return label;
  }

  broadcastTlbi(from: Cpu, name: string, fn: (target: Cpu) => void): void {
    this.counters.charge(from.id, EV.tlbiBroadcast);
    for (const t of this.cpus) fn(t);
    this.counters.charge(from.id, EV.dsb);
    if (this.trace.enabled) this.trace.annotate(from.id, { op: name });
  }

  otherCpus(cpu: Cpu): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.cpus.length; i++) if (i !== cpu.id) out.push(i);
    return out;
  }
}

const SEND = 0;
const HANDLE = 1;
const OVER = 2;

/**
 * One IPI round (smp_call_function_many, wait=1) as a step program: the first step sends
 * every IPI and runs the first target's handler, each further step one more handler, and
 * the sender's clock moves to the last handler's end when the round is over. `run` does
 * the same charges, clocks and trace without the step labels. Abandoned midway, the
 * sender's clock stays where it was (nothing to undo).
 */
export class IpiRound implements StepProgram {
  declare private readonly room: SmpRoom;
  declare private readonly from: Cpu;
  declare private readonly targets: readonly number[];
  declare private readonly name: string;
  declare private readonly handler: (target: Cpu, a: number, b: number) => void;
  declare private readonly a: number;
  declare private readonly b: number;
  declare private phase: number;
  declare private next: number;
  /** The first send's flow id; the others follow it (sends are consecutive). */
  declare private flow: number;
  declare private done: number;

  constructor(
    room: SmpRoom,
    from: Cpu,
    targets: readonly number[],
    name: string,
    handler: (target: Cpu, a: number, b: number) => void,
    a: number,
    b: number,
  ) {
    this.room = room;
    this.from = from;
    this.targets = targets;
    this.name = name;
    this.handler = handler;
    this.a = a;
    this.b = b;
    this.phase = SEND;
    this.next = 0;
    this.flow = 0;
    this.done = 0;
  }

  step(): Step | null {
    if (this.phase === SEND) this.send();
    if (this.phase !== HANDLE) return null;
    const i = this.next;
    if (i === this.targets.length) {
      this.finish();
      return null;
    }
    const to = this.handle(i);
    return this.room.ipiLabel(this.name, this.from.id, to);
  }

  abort(): void {
    this.phase = OVER;
  }

  run(): void {
    if (this.phase === SEND) this.send();
    if (this.phase !== HANDLE) return;
    for (let i = this.next; i < this.targets.length; i++) this.handle(i);
    this.finish();
  }

  private send(): void {
    const { counters: c, trace } = this.room;
    const from = this.from.id;
    const targets = this.targets;
    for (let i = 0; i < targets.length; i++) {
      // Each send is a slice holding its flow's start (Perfetto drops a flow outside one).
      if (trace.enabled) trace.begin(from, `IPI send: ${this.name}`, 'ipi', { target: targets[i] });
      c.charge(from, EV.ipiSent);
      const id = trace.flowStart(from, this.name);
      if (i === 0) this.flow = id;
      trace.end(from);
    }
    this.done = c.clock[from];
    this.phase = HANDLE;
  }

  /** Target `i`'s handler; returns its CPU id. */
  private handle(i: number): number {
    const { counters: c, trace } = this.room;
    const from = this.from.id;
    const t = this.room.cpus[this.targets[i]];
    const start = Math.max(c.clock[t.id], c.clock[from]);
    c.clock[t.id] = start;
    if (trace.enabled) trace.begin(t.id, `IPI handler: ${this.name}`, 'ipi', { from });
    trace.flowEnd(t.id, this.name, this.flow + i);
    c.charge(t.id, EV.ipiHandled);
    const handler = this.handler; // called bare, as a plain callback (no `this`)
    handler(t, this.a, this.b);
    trace.end(t.id);
    this.done = Math.max(this.done, c.clock[t.id]);
    this.next = i + 1;
    return t.id;
  }

  private finish(): void {
    this.room.counters.clock[this.from.id] = this.done;
    this.phase = OVER;
  }
}
