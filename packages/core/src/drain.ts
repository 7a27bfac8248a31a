import { deadlock, WAIT_STEP } from './mutex.js';

/**
 * Runs a step generator to completion (the synchronous form of a multi-step operation).
 * A step that waits for another CPU throws EDEADLK (after unwinding the generator)
 * instead of spinning: with no scheduler, the other CPU never runs.
 */
export function drain<T>(steps: Generator<unknown, T, void>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    const v = r.value;
    if (typeof v === 'string' && v.startsWith(WAIT_STEP)) {
      steps.return(undefined as T);
      deadlock(v);
    }
  }
}
