import type { Step, Steps, WriteRareMechanism, WrOp } from './backend.js';
import type { Cpu } from './cpu.js';
import { deadlock, WAIT_STEP } from './mutex.js';

/** The first character of every wait label (`WAIT_STEP`). */
const WAIT_CHAR = WAIT_STEP.charCodeAt(0);

/**
 * A step sequence written once as a resumable state machine, so it can run either one
 * step at a time under a scheduler (`stepsOf`) or straight through (`runProgram`). A
 * generator resume costs tens of nanoseconds; a write-rare window has eight steps, so the
 * synchronous API of a hot mechanism runs its program without one.
 */
export interface StepProgram {
  /** Performs the next step and returns its label, or `null` when nothing is left. */
  step(): Step | null;
  /**
   * Undoes whatever the steps performed so far left half-done. Called once when a driver
   * stops before `step` returned `null`: a step threw, or a schedule abandoned the steps
   * (what a generator's `finally` does) — possibly right after the last step, when there
   * is nothing left to undo and abort must do nothing.
   */
  abort(): void;
  /**
   * Optional: performs every remaining step at once, exactly as calling `step` until it
   * returns `null` would, without a dispatch per step. `runProgram` uses it; a throw is
   * unwound by `abort` as from `step`.
   */
  run?(): void;
}

/** The program as scheduler steps: one yield per step, `abort` on a throw or `return()`. */
export function* stepsOf(p: StepProgram): Steps {
  let finished = false;
  try {
    for (let label = p.step(); label !== null; label = p.step()) yield label;
    finished = true;
  } finally {
    if (!finished) p.abort();
  }
}

/** Runs the program to its end with no scheduler; a throwing step is unwound by `abort`. */
export function runProgram(p: StepProgram): void {
  let finished = false;
  try {
    if (p.run) p.run();
    else
      for (let label = p.step(); label !== null; label = p.step())
        // Nothing else runs here: a wait for another CPU would never end. (The first
        // character first: this runs after every step of every synchronous window.)
        if (label.charCodeAt(0) === WAIT_CHAR && label.startsWith(WAIT_STEP)) deadlock(label);
    finished = true;
  } finally {
    if (!finished) p.abort();
  }
}

/** A mechanism's session as scheduler steps: `stepsOf(mech.program(cpu, ops))`. */
export function sessionOf(mech: WriteRareMechanism, cpu: Cpu, ops: readonly WrOp[]): Steps {
  return stepsOf(mech.program(cpu, ops));
}

/**
 * A generator as a step program (the adapter for steps written as a generator): `step`
 * resumes it, `abort` returns it (its `finally` blocks run), and `value` is what it
 * returned once `step` has given `null`.
 */
export class GeneratorProgram<T = void> implements StepProgram {
  private readonly steps: Steps<T>;
  private done = false;
  value: T | undefined = undefined;

  constructor(steps: Steps<T>) {
    this.steps = steps;
  }

  step(): Step | null {
    if (this.done) return null;
    const r = this.steps.next();
    if (!r.done) return r.value;
    this.done = true;
    this.value = r.value;
    return null;
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.steps.return(undefined as T);
  }
}

/** `new GeneratorProgram(steps)`. */
export function generatorProgram<T>(steps: Steps<T>): GeneratorProgram<T> {
  return new GeneratorProgram(steps);
}

/**
 * A mechanism written as a generator (`session`), as a `WriteRareMechanism`: its program
 * is the generator behind `generatorProgram`. Like a generator, it validates at its first
 * step, not when the program is built.
 */
export function generatorMechanism(
  spec: Omit<WriteRareMechanism, 'program'> & {
    session(cpu: Cpu, ops: readonly WrOp[]): Steps;
  },
): WriteRareMechanism {
  const { session, ...rest } = spec;
  return { ...rest, program: (cpu, ops) => new GeneratorProgram(session(cpu, ops)) };
}

/**
 * @deprecated A mechanism is a step program already (`WriteRareMechanism.program`);
 * this returns `spec` as it is.
 */
export function programMechanism(spec: WriteRareMechanism): WriteRareMechanism {
  return spec;
}
