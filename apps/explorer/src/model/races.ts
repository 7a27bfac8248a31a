import { expectsWindow, exploreCombo, scenario } from '@prmem/attacks/explore';
import { type Machine, runSchedule, type StepRecord as SchedStep } from '@prmem/core';
import { BACKENDS } from './scenario.js';
import { ExplorerError } from './world.js';

export type RaceOp = 'assign' | 'memcpy' | 'protect';

export interface RaceBound {
  /** Plain-write attempts of the attacking CPU (each one step). */
  readonly attempts: number;
  /** Schedules at most. */
  readonly maxSchedules: number;
  readonly op: RaceOp;
}

export interface RaceReport {
  readonly combo: string;
  readonly bound: RaceBound;
  readonly schedules: number;
  /** Every schedule within the bound was enumerated. */
  readonly complete: boolean;
  /** A schedule in which another CPU's plain write landed (or another check failed). */
  readonly violation?: { readonly message: string; readonly choices: readonly number[] };
  /** Whether the catalogue documents this mechanism as having an open window. */
  readonly documentedWindow: boolean;
  readonly ms: number;
}

function comboOf(arch: string, mechanism: string) {
  const backend = BACKENDS[arch];
  if (!backend?.mechanisms.includes(mechanism))
    throw new ExplorerError('ECOMBO', `no mechanism ${arch}/${mechanism}`, `${arch}/${mechanism}`);
  return { label: `${arch}/${mechanism}`, backend, mechanism, userMm: true };
}

function checkBound(b: RaceBound): void {
  if (!Number.isInteger(b.attempts) || b.attempts < 1 || b.attempts > 4)
    throw new ExplorerError('EBOUND', 'attempts must be an integer in [1, 4]', b.attempts);
  if (!Number.isInteger(b.maxSchedules) || b.maxSchedules < 1 || b.maxSchedules > 20_000)
    throw new ExplorerError(
      'EBOUND',
      'maxSchedules must be an integer in [1, 20000]',
      b.maxSchedules,
    );
  if (!['assign', 'memcpy', 'protect'].includes(b.op))
    throw new ExplorerError('EBOUND', 'op must be assign, memcpy or protect', b.op);
}

/**
 * The attack suite's exhaustive schedule explorer (a writer on CPU0, an attacker's plain
 * writes on CPU1) for one mechanism, within a bound.
 */
export function exploreRaces(arch: string, mechanism: string, bound: RaceBound): RaceReport {
  checkBound(bound);
  const combo = comboOf(arch, mechanism);
  const t0 = performance.now();
  const r = exploreCombo(combo, {
    mode: 'exhaustive',
    op: bound.op,
    attempts: bound.attempts,
    maxSchedules: bound.maxSchedules,
  });
  return {
    combo: combo.label,
    bound,
    schedules: r.result.schedules,
    complete: r.result.complete,
    ...(r.first ? { violation: { message: r.first.message, choices: r.first.choices } } : {}),
    documentedWindow: expectsWindow(combo),
    ms: Math.round(performance.now() - t0),
  };
}

export interface ReplayState {
  readonly machine: Machine;
  /** The steps performed so far, in order. */
  readonly steps: readonly SchedStep[];
  /** The check's message if it failed by now. */
  readonly violation?: string;
  /** Steps in the whole schedule. */
  readonly total: number;
}

/** Replays a schedule's first `upTo` steps on a fresh world (re-run from the start). */
export function replayRace(
  arch: string,
  mechanism: string,
  bound: RaceBound,
  choices: readonly number[],
  upTo: number,
): ReplayState {
  checkBound(bound);
  const combo = comboOf(arch, mechanism);
  if (!Number.isInteger(upTo) || upTo < 0 || upTo > choices.length)
    throw new ExplorerError('ESTEP', `step must be in [0, ${choices.length}]`, upTo);
  let machine: Machine | undefined;
  const world = scenario(combo, {
    op: bound.op,
    attempts: bound.attempts,
    onReady: (m) => {
      machine = m;
    },
  })();
  const r = runSchedule(world.programs, (_r, n) => choices[n] ?? 0, world.check, upTo);
  if (!machine) throw new ExplorerError('ENOWORLD', 'the race world did not start', combo.label);
  return {
    machine,
    steps: r.steps,
    ...(r.violation ? { violation: r.violation.message } : {}),
    total: choices.length,
  };
}
