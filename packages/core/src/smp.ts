import type { Steps } from './backend.js';
import type { Cpu } from './cpu.js';
import * as costs from './costs.js';
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
    private readonly cpus: readonly Cpu[],
    private readonly counters: Counters,
    private readonly trace: Trace,
  ) {}

  *ipi(from: Cpu, targets: readonly number[], name: string, handler: (target: Cpu) => void): Steps {
    const c = this.counters;
    const trace = this.trace;
    const flows: number[] = [];
    for (let i = 0; i < targets.length; i++) {
      // Each send is a slice holding its flow's start (Perfetto drops a flow outside one).
      if (trace.enabled) trace.begin(from.id, `IPI send: ${name}`, 'ipi', { target: targets[i] });
      c.charge(from.id, EV.ipiSent);
      flows.push(trace.flowStart(from.id, name));
      trace.end(from.id);
    }
    let done = c.clock[from.id];
    for (let i = 0; i < targets.length; i++) {
      const t = this.cpus[targets[i]];
      const start = Math.max(c.clock[t.id], c.clock[from.id]);
      c.clock[t.id] = start;
      if (trace.enabled) trace.begin(t.id, `IPI handler: ${name}`, 'ipi', { from: from.id });
      trace.flowEnd(t.id, name, flows[i]);
      c.charge(t.id, EV.ipiHandled);
      handler(t);
      trace.end(t.id);
      done = Math.max(done, c.clock[t.id]);
      yield this.ipiLabel(name, from.id, t.id);
    }
    c.clock[from.id] = done;
  }

  /** IPI step labels, made once per (name, sender, target): a shootdown is on hot paths. */
  private readonly ipiLabels = new Map<string, string[]>();
  private ipiLabel(name: string, from: number, to: number): string {
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
