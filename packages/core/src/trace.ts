import type { Counters } from './stats.js';

/** One Chrome Trace Event (the JSON Perfetto and chrome://tracing open). */
export interface TraceEvent {
  readonly name: string;
  readonly cat: string;
  readonly ph: 'X' | 'i' | 's' | 'f' | 'M';
  readonly ts: number;
  readonly dur?: number;
  readonly pid: number;
  readonly tid: number;
  readonly id?: number;
  readonly bp?: 'e';
  readonly s?: 't';
  readonly args?: Record<string, unknown>;
}

/**
 * Records machine events against the per-CPU cycle clocks. Disabled recorders return at
 * once, so tracing costs nothing unless asked for. `tid` is the CPU; IPIs are flows.
 */
export class Trace {
  readonly events: TraceEvent[] = [];
  private nextFlow = 1;
  constructor(
    public enabled: boolean,
    private readonly counters: Counters,
    readonly pid: number,
    readonly label: string,
    /** Modeled clock, to turn cycles into microseconds. */
    readonly clockGHz: number,
  ) {}

  private us(cycles: number): number {
    return cycles / (this.clockGHz * 1000);
  }

  instant(cpu: number, name: string, cat: string, args?: Record<string, unknown>): void {
    if (!this.enabled) return;
    this.events.push({
      name,
      cat,
      ph: 'i',
      s: 't',
      ts: this.us(this.counters.clock[cpu]),
      pid: this.pid,
      tid: cpu,
      args,
    });
  }

  /** A span from `startCycles` to the CPU's current clock. */
  span(
    cpu: number,
    name: string,
    cat: string,
    startCycles: number,
    args?: Record<string, unknown>,
  ): void {
    if (!this.enabled) return;
    const end = this.counters.clock[cpu];
    this.events.push({
      name,
      cat,
      ph: 'X',
      ts: this.us(startCycles),
      dur: Math.max(this.us(end - startCycles), 0.001),
      pid: this.pid,
      tid: cpu,
      args,
    });
  }

  /** Starts a flow arrow (IPI send); returns its id for `flowEnd`. */
  flowStart(cpu: number, name: string): number {
    if (!this.enabled) return 0;
    const id = this.nextFlow++;
    this.events.push({
      name,
      cat: 'ipi',
      ph: 's',
      id,
      ts: this.us(this.counters.clock[cpu]),
      pid: this.pid,
      tid: cpu,
    });
    return id;
  }

  flowEnd(cpu: number, name: string, id: number): void {
    if (!this.enabled) return;
    this.events.push({
      name,
      cat: 'ipi',
      ph: 'f',
      bp: 'e',
      id,
      ts: this.us(this.counters.clock[cpu]),
      pid: this.pid,
      tid: cpu,
    });
  }

  clear(): void {
    this.events.length = 0;
  }

  /** Chrome Trace Event JSON: open it in Perfetto (ui.perfetto.dev) or chrome://tracing. */
  toChromeTrace(cpus: number): { traceEvents: TraceEvent[]; displayTimeUnit: 'ns' } {
    const meta: TraceEvent[] = [
      {
        name: 'process_name',
        cat: '__metadata',
        ph: 'M',
        ts: 0,
        pid: this.pid,
        tid: 0,
        args: { name: this.label },
      },
    ];
    for (let c = 0; c < cpus; c++) {
      meta.push({
        name: 'thread_name',
        cat: '__metadata',
        ph: 'M',
        ts: 0,
        pid: this.pid,
        tid: c,
        args: { name: `CPU ${c}` },
      });
    }
    return { traceEvents: [...meta, ...this.events], displayTimeUnit: 'ns' };
  }
}
