import * as core from '@prmem/core';
import {
  type Cpu,
  OpWriter,
  runProgram,
  type StepProgram,
  type Steps,
  stepsOf,
  type WrOp,
} from '@prmem/core';
import type { WrTarget } from './target.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { EV } = core;

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

export const NO_RUN: WrRunResult = Object.freeze({ ops: 0, plainOps: 0, sessions: 0, windows: 0 });

/** The results of one op, shared: a synchronous store returns one of these, allocating none. */
const ONE_PLAIN: WrRunResult = Object.freeze({ ops: 1, plainOps: 1, sessions: 0, windows: 0 });
const ONE_SESSION: readonly WrRunResult[] = [0, 1, 2].map((windows) =>
  Object.freeze({ ops: 1, plainOps: 0, sessions: 1, windows }),
);

/** Counts kept while a plan runs. */
interface Tally {
  readonly windowsBefore: number;
  plainOps: number;
  sessions: number;
}

function startTally(cpu: Cpu): Tally {
  return { windowsBefore: cpu.owner.counters.count(cpu.id, EV.wrWindow), plainOps: 0, sessions: 0 };
}

function endTally(cpu: Cpu, t: Tally, ops: number): WrRunResult {
  return {
    ops,
    plainOps: t.plainOps,
    sessions: t.sessions,
    windows: cpu.owner.counters.count(cpu.id, EV.wrWindow) - t.windowsBefore,
  };
}

/**
 * The end of the group of ops starting at `i`: consecutive ops on one region (area or
 * section) with the same protection, when they may share a session (`share`, or plain
 * writes, which need none). Regions are kept apart so no mechanism is asked for a window
 * spanning unrelated memory.
 */
function groupEnd(planned: readonly PlannedOp[], i: number, share: boolean): number {
  const first = planned[i];
  let j = i + 1;
  while (
    j < planned.length &&
    planned[j].target.protected === first.target.protected &&
    planned[j].target.region === first.target.region &&
    (share || !first.target.protected)
  )
    j++;
  return j;
}

/**
 * The work of `ops` as one step program: plain stores through the CPU when the target is
 * not protected yet (boot, an unprotected pool: the kernel writes it directly), else one
 * session of the machine's mechanism.
 */
function work(cpu: Cpu, ops: readonly WrOp[], isProtected: boolean): StepProgram {
  return isProtected ? cpu.owner.mechanism.program(cpu, ops) : new OpWriter(cpu, ops, 0, false);
}

/** The work of ops [i, j), counted in the tally. */
function groupWork(
  cpu: Cpu,
  planned: readonly PlannedOp[],
  i: number,
  j: number,
  t: Tally,
): StepProgram {
  const ops = j - i === 1 ? [planned[i].op] : planned.slice(i, j).map((p) => p.op);
  if (planned[i].target.protected) t.sessions++;
  else t.plainOps += ops.length;
  return work(cpu, ops, planned[i].target.protected);
}

/**
 * Runs validated ops in program order, every mechanism step visible to a scheduler.
 * Protected ops go through the machine's mechanism: with `batch` and a batchable
 * mechanism, each maximal run of consecutive ops on one region shares one session;
 * otherwise every op gets its own.
 */
export function* runPlanned(
  cpu: Cpu,
  planned: readonly PlannedOp[],
  batch: boolean,
): Steps<WrRunResult> {
  const share = batch && cpu.owner.mechanism.batchable;
  const t = startTally(cpu);
  for (let i = 0; i < planned.length; ) {
    const j = groupEnd(planned, i, share);
    yield* stepsOf(groupWork(cpu, planned, i, j, t));
    i = j;
  }
  return endTally(cpu, t, planned.length);
}

/**
 * `runPlanned` run to completion with no scheduler: the same sessions and steps, with
 * no generator where the work is a step program (the hot path of every synchronous
 * write-rare call).
 */
export function runPlannedSync(
  cpu: Cpu,
  planned: readonly PlannedOp[],
  batch: boolean,
): WrRunResult {
  const share = batch && cpu.owner.mechanism.batchable;
  const t = startTally(cpu);
  for (let i = 0; i < planned.length; ) {
    const j = groupEnd(planned, i, share);
    runProgram(groupWork(cpu, planned, i, j, t));
    i = j;
  }
  return endTally(cpu, t, planned.length);
}

/**
 * `runPlannedSync` of a single op: the same work (a plain store, or one session of the
 * mechanism) without the arrays and tallies a group needs. Every single-store write-rare
 * call runs through here.
 */
export function runOneSync(cpu: Cpu, p: PlannedOp): WrRunResult {
  const ops = [p.op];
  if (!p.target.protected) {
    runProgram(work(cpu, ops, false));
    return ONE_PLAIN;
  }
  const counters = cpu.owner.counters;
  const before = counters.count(cpu.id, EV.wrWindow);
  runProgram(work(cpu, ops, true));
  const windows = counters.count(cpu.id, EV.wrWindow) - before;
  return windows < ONE_SESSION.length
    ? ONE_SESSION[windows]
    : { ops: 1, plainOps: 0, sessions: 1, windows };
}
