import * as costs from './costs.js';
import { EVENT_NAMES, type EventName } from './costs.js';
import { Counters } from './stats.js';

const { EV } = costs;

/** One Chrome Trace Event (the JSON Perfetto and chrome://tracing open). */
export interface TraceEvent {
  name: string;
  readonly cat: string;
  readonly ph: 'B' | 'E' | 'i' | 's' | 'f' | 'M';
  readonly ts: number;
  readonly pid: number;
  readonly tid: number;
  readonly id?: number;
  readonly bp?: 'e';
  readonly s?: 't';
  args?: Record<string, unknown>;
}

/** The JSON document: `ts` in microseconds (the format's default unit). */
export interface ChromeTrace {
  traceEvents: TraceEvent[];
}

/**
 * Trace names of counted events when the backend gives none of its own
 * (`Backend.traceLabels` names them as its instructions: `INVLPG`, `TLBI VALE1`, ...).
 */
export const EVENT_LABELS: Readonly<Record<EventName, string>> = {
  memAccess: 'memory access',
  tlbMiss: 'TLB miss',
  pageWalk: 'page walk',
  pteWrite: 'PTE write',
  localFlushPage: 'local TLB flush (page)',
  localFlushAll: 'local TLB flush (all)',
  localFlushAsid: 'local TLB flush (ASID)',
  ipiSent: 'IPI send',
  ipiHandled: 'IPI handler',
  tlbiBroadcast: 'broadcast TLBI',
  dsb: 'DSB',
  mmSwitch: 'mm switch',
  hypercall: 'hypercall',
  fault: 'fault',
  spuriousFault: 'spurious fault',
  irqToggle: 'irq disable/enable',
  cr0Write: 'CR0 write',
  pkrsWrite: 'PKRS write',
  wrWindow: 'write-rare window',
  wrBytes: 'write-rare store',
  stage2Fault: 'stage-2 fault',
  cacheFlush: 'cache line flush',
  barrier: 'barrier',
  cpaSplit: 'split_large_page (CPA)',
};

/** Events not drawn as slices of their own: payload, or drawn as `Machine.ipi` and `hvcEnter` do. */
const SILENT = new Set<number>([
  EV.memAccess,
  EV.ipiSent,
  EV.ipiHandled,
  EV.wrWindow,
  EV.hypercall,
]);

/** The EL2 track of CPU n has thread id `EL2_TID + n`. */
export const EL2_TID = 1000;

/**
 * Records machine events against the per-CPU cycle clocks. Disabled recorders return at
 * once, so tracing costs nothing unless asked for. `tid` is the CPU (its EL2 work, on
 * arm64, is on `EL2_TID + cpu`). Slices are `B`/`E` pairs emitted in program order, so
 * they nest exactly as the work did; every flow starts and ends inside a slice, as
 * Perfetto's importer requires.
 */
export class Trace {
  readonly events: TraceEvent[] = [];
  private nextFlow = 1;
  /** Open slices per track (CPUs first, then their EL2 tracks). */
  private readonly stacks: TraceEvent[][] = [];
  /** 1 while a CPU runs at EL2 (between hvcEnter and hvcExit). */
  private readonly el2: Uint8Array;
  private readonly el2Used: Uint8Array;
  private readonly labels: Record<string, string>;
  constructor(
    public enabled: boolean,
    private readonly counters: Counters,
    readonly pid: number,
    readonly label: string,
    /** Modeled clock, to turn cycles into microseconds. */
    readonly clockGHz: number,
    labels: Partial<Record<EventName, string>> = {},
  ) {
    // Untraced machines (nearly all) allocate nothing per CPU here.
    const n = enabled ? counters.cpus : 0;
    this.el2 = new Uint8Array(n);
    this.el2Used = new Uint8Array(n);
    this.labels = { ...EVENT_LABELS, ...labels };
  }

  private us(cycles: number): number {
    return cycles / (this.clockGHz * 1000);
  }

  /** The track `cpu` is running on now: its EL2 track during a hypercall. */
  private track(cpu: number): number {
    return this.el2[cpu] ? this.counters.cpus + cpu : cpu;
  }

  /** The open slices of a track, created on first use. */
  private stack(track: number): TraceEvent[] {
    let s = this.stacks[track];
    if (!s) {
      s = [];
      this.stacks[track] = s;
    }
    return s;
  }

  private tidOf(track: number): number {
    const n = this.counters.cpus;
    return track < n ? track : EL2_TID + track - n;
  }

  private push(
    track: number,
    ph: TraceEvent['ph'],
    name: string,
    cat: string,
    cycles: number,
    extra?: Partial<TraceEvent>,
  ): TraceEvent {
    const e: TraceEvent = {
      name,
      cat,
      ph,
      ts: this.us(cycles),
      pid: this.pid,
      tid: this.tidOf(track),
      ...extra,
    };
    this.events.push(e);
    return e;
  }

  /** Opens a slice on the CPU's current track at its clock; returns its `B` event. */
  begin(
    cpu: number,
    name: string,
    cat: string,
    args?: Record<string, unknown>,
    atCycles = this.counters.clock[cpu],
  ): TraceEvent | undefined {
    if (!this.enabled) return undefined;
    const t = this.track(cpu);
    const e = this.push(t, 'B', name, cat, atCycles, args ? { args } : undefined);
    this.stack(t).push(e);
    return e;
  }

  /** Closes the innermost open slice of the CPU's current track; `args` join the slice's. */
  end(cpu: number, args?: Record<string, unknown>): void {
    if (!this.enabled) return;
    const t = this.track(cpu);
    const open = this.stack(t).pop();
    if (!open) return;
    this.push(t, 'E', open.name, open.cat, this.counters.clock[cpu], args ? { args } : undefined);
  }

  /** Open slices on the CPU's current track (to close down to a depth after a throw). */
  depth(cpu: number): number {
    return this.enabled ? this.stack(this.track(cpu)).length : 0;
  }

  /** Closes slices of the CPU's current track until `depth` remain. */
  endTo(cpu: number, depth: number, args?: Record<string, unknown>): void {
    if (!this.enabled) return;
    while (this.stack(this.track(cpu)).length > depth) this.end(cpu, args);
  }

  /**
   * Withdraws a slice just opened when nothing happened inside it; otherwise closes it
   * under `name` (the work a program did after its last step).
   */
  cancel(cpu: number, b: TraceEvent | undefined, name = b?.name ?? ''): void {
    if (!b) return;
    const t = this.track(cpu);
    const stack = this.stack(t);
    if (stack[stack.length - 1] !== b) return;
    stack.pop();
    if (this.events[this.events.length - 1] === b) {
      this.events.pop();
      return;
    }
    b.name = name;
    this.push(t, 'E', name, b.cat, this.counters.clock[cpu]);
  }

  /** Adds details (VA, PA, PCID, ...) to the event the CPU recorded last on its track. */
  annotate(cpu: number, args: Record<string, unknown>): void {
    if (!this.enabled) return;
    const tid = this.tidOf(this.track(cpu));
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i];
      if (e.tid !== tid) continue;
      e.args = { ...e.args, ...args };
      return;
    }
  }

  instant(cpu: number, name: string, cat: string, args?: Record<string, unknown>): void {
    if (!this.enabled) return;
    this.push(this.track(cpu), 'i', name, cat, this.counters.clock[cpu], {
      s: 't',
      ...(args ? { args } : {}),
    });
  }

  /** A counted event as a slice from `startCycles` to now (called by the traced counters). */
  event(cpu: number, ev: number, n: number, startCycles: number): void {
    if (!this.enabled || SILENT.has(ev)) return;
    const name = this.labels[EVENT_NAMES[ev]];
    this.begin(cpu, n === 1 ? name : `${name} ×${n}`, 'hw', undefined, startCycles);
    this.end(cpu);
  }

  /** Starts a flow arrow inside the slice open on the CPU's track; returns its id. */
  flowStart(cpu: number, name: string, cat = 'ipi'): number {
    if (!this.enabled) return 0;
    const id = this.nextFlow++;
    this.push(this.track(cpu), 's', name, cat, this.counters.clock[cpu], { id });
    return id;
  }

  /** Ends a flow inside the slice open on the CPU's track (`bp: "e"`: bind to it). */
  flowEnd(cpu: number, name: string, id: number, cat = 'ipi'): void {
    if (!this.enabled) return;
    this.push(this.track(cpu), 'f', name, cat, this.counters.clock[cpu], { id, bp: 'e' });
  }

  /**
   * The CPU enters EL2 for a hypercall: an `HVC` slice on its own track, an EL2 slice on
   * its EL2 track joined by a flow; what it does until `hvcExit` is drawn on EL2.
   */
  hvcEnter(cpu: number, fn: string, args?: Record<string, unknown>): void {
    if (!this.enabled) return;
    if (this.el2[cpu]) this.hvcExit(cpu, { unwound: true });
    const name = `HVC ${fn}`;
    this.begin(cpu, name, 'hvc', args);
    const id = this.flowStart(cpu, name, 'hvc');
    this.el2[cpu] = 1;
    this.el2Used[cpu] = 1;
    this.begin(cpu, `EL2: ${fn}`, 'el2');
    this.flowEnd(cpu, name, id, 'hvc');
  }

  /** The hypercall returns to EL1 (closes whatever EL2 work is still open). */
  hvcExit(cpu: number, args?: Record<string, unknown>): void {
    if (!this.enabled || !this.el2[cpu]) return;
    this.endTo(cpu, 0, args);
    this.el2[cpu] = 0;
    this.end(cpu, args);
  }

  clear(): void {
    this.events.length = 0;
    this.stacks.length = 0;
    this.el2.fill(0);
    this.el2Used.fill(0);
  }

  /**
   * Chrome Trace Event JSON: open it in Perfetto (ui.perfetto.dev) or chrome://tracing.
   * Metadata first, then every event in time order (stable: events of one CPU stay in
   * the order they happened, so slices nest); slices still open end at the CPU's clock.
   */
  toChromeTrace(cpus: number): ChromeTrace {
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
    const thread = (tid: number, name: string) =>
      meta.push({
        name: 'thread_name',
        cat: '__metadata',
        ph: 'M',
        ts: 0,
        pid: this.pid,
        tid,
        args: { name },
      });
    for (let c = 0; c < cpus; c++) thread(c, `CPU ${c}`);
    for (let c = 0; c < Math.min(cpus, this.el2Used.length); c++)
      if (this.el2Used[c]) thread(EL2_TID + c, `CPU ${c} · EL2`);
    const closing: TraceEvent[] = [];
    this.stacks.forEach((stack, t) => {
      if (!stack) return;
      const cpu = t % this.counters.cpus;
      for (let i = stack.length - 1; i >= 0; i--)
        closing.push({
          name: stack[i].name,
          cat: stack[i].cat,
          ph: 'E',
          ts: this.us(this.counters.clock[cpu]),
          pid: this.pid,
          tid: this.tidOf(t),
        });
    });
    const events = [...this.events, ...closing]
      .map((e, i) => ({ e, i }))
      .sort((a, b) => a.e.ts - b.e.ts || a.i - b.i)
      .map(({ e }) => ({ ...e, ...(e.args ? { args: { ...e.args } } : {}) }));
    return { traceEvents: [...meta, ...events] };
  }
}

/**
 * The counters of a traced machine: every charged event is also a slice on the CPU's
 * track. Only traced machines use this class, so untraced ones pay nothing for it.
 */
export class TracedCounters extends Counters {
  trace: Trace | undefined;

  override charge(cpu: number, ev: number, n = 1): void {
    const start = this.clock[cpu];
    super.charge(cpu, ev, n);
    this.trace?.event(cpu, ev, n, start);
  }
}
