import type { Step, Steps, WriteRareMechanism, WrOp } from './backend.js';
import type { Cpu } from './cpu.js';
import { deadlock, WAIT_STEP } from './mutex.js';

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
        // Nothing else runs here: a wait for another CPU would never end.
        if (label.startsWith(WAIT_STEP)) deadlock(label);
    finished = true;
  } finally {
    if (!finished) p.abort();
  }
}

/**
 * A mechanism written as a step program: `session` is derived as `stepsOf(program(...))`,
 * so the scheduler and synchronous callers run the very same steps.
 */
export function programMechanism(
  spec: Omit<WriteRareMechanism, 'session' | 'program'> & {
    program(cpu: Cpu, ops: readonly WrOp[]): StepProgram;
  },
): WriteRareMechanism {
  const { program } = spec;
  return { ...spec, program, session: (cpu, ops) => stepsOf(program(cpu, ops)) };
}
