import type { Machine } from '@prmem/core';
import type { PoolApi } from '../pool-api.js';

/** `full`: the workload's real size; `sweep`: a reduced size run at every CPU count. */
export type Scale = 'full' | 'sweep';

/** Size parameters of one run (allocations, operations, bytes), recorded in results. */
export type WorkloadSize = Readonly<Record<string, number>>;

/** Measures phases: the harness snapshots the counters and the wall clock around `fn`. */
export interface Meter {
  phase(name: string, op: string, ops: number, fn: () => void): void;
}

/** A workload set up on one machine. `iterate` is repeatable: the harness runs it several times. */
export interface WorkloadRun {
  iterate(meter: Meter): void;
}

export interface WorkloadEnv {
  readonly seed: number;
  /** `@prmem/pool`, when the workload needs it (the runner skips it otherwise). */
  readonly pool?: PoolApi;
}

export interface Workload {
  readonly name: string;
  readonly description: string;
  readonly needsPool: boolean;
  /** Build a fresh machine (and run `setup`) for every repeat, not only the first. */
  readonly freshMachinePerRepeat?: boolean;
  size(scale: Scale, quick: boolean): WorkloadSize;
  /** Simulated memory the workload needs at this size. */
  memoryMiB(size: WorkloadSize): number;
  /** Runs of `iterate` for the wall-clock median. */
  repeats(scale: Scale, quick: boolean): number;
  /**
   * Reserves static variables, boots (`finishBoot`) and builds the initial state. The
   * harness measures only what `iterate` runs inside `meter.phase`.
   */
  setup(m: Machine, size: WorkloadSize, env: WorkloadEnv): WorkloadRun;
}

/** Picks a size by scale and --quick. */
export function pick<T>(
  scale: Scale,
  quick: boolean,
  v: { full: T; sweep: T; quickFull: T; quickSweep: T },
): T {
  if (quick) return scale === 'full' ? v.quickFull : v.quickSweep;
  return scale === 'full' ? v.full : v.sweep;
}

export function requirePool(env: WorkloadEnv, workload: string): PoolApi {
  if (!env.pool) throw new Error(`${workload} needs @prmem/pool`);
  return env.pool;
}
