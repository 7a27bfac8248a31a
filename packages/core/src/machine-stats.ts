import type { Cpu } from './cpu.js';
import * as costs from './costs.js';
import { EVENT_COUNT, EVENT_NAMES } from './costs.js';
import {
  type CpuStats,
  type Counters,
  type EventCounts,
  emptyCounts,
  type MachineStats,
} from './stats.js';

const { EV } = costs;

/**
 * The machine's counters per CPU and in total. TLB hits are counted on the CPU (the hit
 * path touches nothing else) and folded in here: `memAccess` and their cycles.
 */
export function machineStats(counters: Counters, cpus: readonly Cpu[]): MachineStats {
  const total = emptyCounts();
  const perCpu: CpuStats[] = [];
  let cycles = 0;
  let maxCycles = 0;
  const hitCost = counters.cost[EV.memAccess];
  for (const cpu of cpus) {
    const events: EventCounts = emptyCounts();
    for (let e = 0; e < EVENT_COUNT; e++) {
      const n = counters.counts[cpu.id * EVENT_COUNT + e];
      events[EVENT_NAMES[e]] = n;
    }
    events.memAccess += cpu.hits;
    const cyc = counters.clock[cpu.id] + cpu.hits * hitCost;
    for (const n of EVENT_NAMES) total[n] += events[n];
    cycles += cyc;
    maxCycles = Math.max(maxCycles, cyc);
    perCpu.push({ cpu: cpu.id, cycles: cyc, events });
  }
  return { events: total, cycles, maxCycles, perCpu };
}

/** Zeroes every counter and clock, and the CPUs' hit counters. */
export function resetMachineStats(counters: Counters, cpus: readonly Cpu[]): void {
  counters.reset();
  for (const c of cpus) c.hits = 0;
}
