import { applyOpsViaCpu, type Cpu, EV, type Steps, type WrOp } from '@prmem/core';
import type { WrTarget } from './target.js';

/** An op whose target has been validated. */
export interface PlannedOp {
  readonly op: WrOp;
  readonly target: WrTarget;
}

/** What running a group of ops cost, for callers that compare mechanisms (the bench). */
export interface WrRunResult {
  /** Ops performed. */
  readonly ops: number;
  /** Of those, plain writes (target not protected yet). */
  readonly plainOps: number;
  /** Mechanism sessions run (`machine.mechanism.session` calls). */
  readonly sessions: number;
  /** Write-rare windows the mechanism reported opening on this CPU (EV.wrWindow). */
  readonly windows: number;
}

export const NO_RUN: WrRunResult = { ops: 0, plainOps: 0, sessions: 0, windows: 0 };

/**
 * Runs validated ops in program order. Plain ops are ordinary stores through the CPU
 * (no window). Protected ops go through the machine's mechanism: with `batch` and a
 * batchable mechanism, each maximal run of consecutive ops on one region (area or
 * section) shares one session; otherwise every op gets its own. Regions are kept apart
 * so no mechanism is asked for a window spanning unrelated memory.
 */
export function* runPlanned(
  cpu: Cpu,
  planned: readonly PlannedOp[],
  batch: boolean,
): Steps<WrRunResult> {
  const m = cpu.owner;
  const windowsBefore = m.counters.count(cpu.id, EV.wrWindow);
  const share = batch && m.mechanism.batchable;
  let plainOps = 0;
  let sessions = 0;
  let i = 0;
  while (i < planned.length) {
    const first = planned[i];
    let j = i + 1;
    while (
      j < planned.length &&
      planned[j].target.protected === first.target.protected &&
      planned[j].target.region === first.target.region &&
      (share || !first.target.protected)
    )
      j++;
    const ops = j - i === 1 ? [first.op] : planned.slice(i, j).map((p) => p.op);
    if (!first.target.protected) {
      // Not protected yet: the kernel writes it directly (boot, an unprotected pool).
      yield* applyOpsViaCpu(cpu, ops, 0, false);
      plainOps += ops.length;
    } else {
      sessions++;
      yield* m.mechanism.session(cpu, ops);
    }
    i = j;
  }
  return {
    ops: planned.length,
    plainOps,
    sessions,
    windows: m.counters.count(cpu.id, EV.wrWindow) - windowsBefore,
  };
}
