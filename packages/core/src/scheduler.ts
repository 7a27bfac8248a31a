import { InvalidArgumentError } from './errors.js';
import { mulberry32 } from './rng.js';

/** A CPU's program: a generator that yields after each step. */
export interface Program {
  readonly name: string;
  readonly steps: Generator<unknown, unknown, void>;
}

export interface StepRecord {
  readonly program: string;
  readonly label: string;
}

export interface RunResult {
  /** The steps in the order they ran. */
  readonly steps: readonly StepRecord[];
  /** The choices made (an index into the runnable programs at each step), to replay. */
  readonly choices: readonly number[];
  /** The first failed check, if any, with the step after which it failed. */
  readonly violation?: { readonly message: string; readonly afterStep: number };
  /** Errors thrown by programs (a PageFault is an ordinary outcome for an attacker). */
  readonly errors: readonly { readonly program: string; readonly error: unknown }[];
}

/** Returns a message when the invariant is broken, else undefined. */
export type Check = () => string | undefined | false | null;

/**
 * Runs programs interleaved one step at a time. `choose` picks which runnable program
 * steps next (an index into `runnable`). `check` runs after every step.
 */
export function runSchedule(
  programs: readonly Program[],
  choose: (runnable: readonly number[], step: number) => number,
  check?: Check,
  maxSteps = 100_000,
): RunResult & { options: number[] } {
  const live = programs.map(() => true);
  const steps: StepRecord[] = [];
  const choices: number[] = [];
  const options: number[] = [];
  const errors: { program: string; error: unknown }[] = [];
  try {
    return runLoop(programs, live, choose, check, maxSteps, steps, choices, options, errors);
  } finally {
    // However the run ends (all done, a violation, the step bound, a bad choice), every
    // program still running is unwound: its `finally` closes what its window opened.
    for (let i = 0; i < programs.length; i++) {
      if (!live[i]) continue;
      try {
        programs[i].steps.return(undefined);
      } catch (error) {
        errors.push({ program: programs[i].name, error });
      }
    }
  }
}

function runLoop(
  programs: readonly Program[],
  live: boolean[],
  choose: (runnable: readonly number[], step: number) => number,
  check: Check | undefined,
  maxSteps: number,
  steps: StepRecord[],
  choices: number[],
  options: number[],
  errors: { program: string; error: unknown }[],
): RunResult & { options: number[] } {
  for (let n = 0; n < maxSteps; n++) {
    const runnable: number[] = [];
    for (let i = 0; i < programs.length; i++) if (live[i]) runnable.push(i);
    if (runnable.length === 0) break;
    const c = choose(runnable, n);
    if (!Number.isInteger(c) || c < 0 || c >= runnable.length)
      throw new InvalidArgumentError('schedule choice', c, `must be in [0, ${runnable.length})`);
    choices.push(c);
    options.push(runnable.length);
    const p = programs[runnable[c]];
    let label = 'done';
    try {
      const r = p.steps.next();
      if (r.done) live[runnable[c]] = false;
      else label = String(r.value);
    } catch (error) {
      live[runnable[c]] = false;
      errors.push({ program: p.name, error });
      label = `threw ${(error as Error)?.name ?? 'error'}`;
    }
    steps.push({ program: p.name, label });
    const v = check?.();
    if (v) return { steps, choices, options, errors, violation: { message: v, afterStep: n } };
  }
  return { steps, choices, options, errors };
}

/** One seeded random interleaving. */
export function runInterleaved(
  programs: readonly Program[],
  opts: { seed?: number; check?: Check } = {},
): RunResult {
  const rnd = mulberry32(opts.seed ?? 1);
  return runSchedule(programs, (r) => Math.floor(rnd() * r.length), opts.check);
}

/** Replays recorded choices (e.g. a violation found by explore). */
export function replay(
  programs: readonly Program[],
  choices: readonly number[],
  check?: Check,
): RunResult {
  return runSchedule(programs, (_r, n) => choices[n] ?? 0, check);
}

export interface ExploreOptions {
  /** 'exhaustive' enumerates schedules depth-first (bounded); 'random' samples seeded ones. */
  readonly mode?: 'exhaustive' | 'random';
  readonly maxSchedules?: number;
  readonly seed?: number;
  /** Stop at the first violation (default true). */
  readonly stopOnViolation?: boolean;
}

export interface ExploreResult {
  readonly schedules: number;
  /** True if every schedule was enumerated (exhaustive mode within the bound). */
  readonly complete: boolean;
  readonly violations: readonly RunResult[];
}

/**
 * Explores interleavings. `setup` builds a fresh world for every schedule (a new machine
 * and programs) and returns the programs and the invariant to check after each step.
 */
export function explore(
  setup: () => { programs: Program[]; check?: Check },
  opts: ExploreOptions = {},
): ExploreResult {
  const max = opts.maxSchedules ?? 1000;
  const stop = opts.stopOnViolation ?? true;
  const violations: RunResult[] = [];
  if (opts.mode === 'random') {
    const rnd = mulberry32(opts.seed ?? 1);
    let n = 0;
    for (; n < max; n++) {
      const w = setup();
      const r = runSchedule(w.programs, (rr) => Math.floor(rnd() * rr.length), w.check);
      if (r.violation) {
        violations.push(r);
        if (stop) return { schedules: n + 1, complete: false, violations };
      }
    }
    return { schedules: n, complete: false, violations };
  }
  // Stateless depth-first enumeration by replay: each run follows `prefix`, then takes
  // choice 0; the next prefix bumps the deepest choice that has an untried sibling.
  let prefix: number[] = [];
  let n = 0;
  while (n < max) {
    const w = setup();
    const r = runSchedule(w.programs, (_rr, k) => (k < prefix.length ? prefix[k] : 0), w.check);
    n++;
    if (r.violation) {
      violations.push(r);
      if (stop) return { schedules: n, complete: false, violations };
    }
    let k = r.choices.length - 1;
    while (k >= 0 && r.choices[k] + 1 >= r.options[k]) k--;
    if (k < 0) return { schedules: n, complete: true, violations };
    prefix = [...r.choices.slice(0, k), r.choices[k] + 1];
  }
  return { schedules: n, complete: false, violations };
}
