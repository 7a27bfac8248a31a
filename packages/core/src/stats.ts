import * as costs from './costs.js';
import { EVENT_NAMES, type EventName } from './costs.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { EVENT_COUNT } = costs;

export type EventCounts = Record<EventName, number>;

export interface CpuStats {
  readonly cpu: number;
  readonly cycles: number;
  readonly events: EventCounts;
}

export interface MachineStats {
  /** Sum over CPUs. */
  readonly events: EventCounts;
  /** Sum of every CPU's cycles. */
  readonly cycles: number;
  /** The latest CPU clock: the modeled wall time of the run. */
  readonly maxCycles: number;
  readonly perCpu: readonly CpuStats[];
}

/** Per-CPU event counters and cycle clocks, in typed arrays. */
export class Counters {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare readonly counts: Float64Array;
  declare readonly clock: Float64Array;
  declare readonly cost: Float64Array;
  constructor(
    readonly cpus: number,
    cost: Float64Array,
  ) {
    this.cost = cost;
    this.counts = new Float64Array(cpus * EVENT_COUNT);
    this.clock = new Float64Array(cpus);
  }

  charge(cpu: number, ev: number, n = 1): void {
    this.counts[cpu * EVENT_COUNT + ev] += n;
    this.clock[cpu] += this.cost[ev] * n;
  }

  /** Adds `cycles` to a CPU's clock without counting an event (e.g. waiting for acks). */
  wait(cpu: number, cycles: number): void {
    this.clock[cpu] += cycles;
  }

  count(cpu: number, ev: number): number {
    return this.counts[cpu * EVENT_COUNT + ev];
  }

  reset(): void {
    this.counts.fill(0);
    this.clock.fill(0);
  }
}

export function emptyCounts(): EventCounts {
  const o = {} as EventCounts;
  for (const n of EVENT_NAMES) o[n] = 0;
  return o;
}
