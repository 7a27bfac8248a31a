import type { Cpu } from './cpu.js';
import { StateError } from './errors.js';

/**
 * The label prefix of a step that waits for another CPU (a lock held, an
 * acknowledgement due). Under a scheduler the other CPU may run; run synchronously,
 * nothing else can, so the wait could never end.
 */
export const WAIT_STEP = 'wait:';

/**
 * A sleeping lock held by one CPU (text_mutex, the write-rare lock): it serialises
 * windows that share state — one alias mm, one in-place remap — so one CPU's window
 * never runs while another's is open. A CPU that finds it held yields a wait step
 * (`waitLabel`); run with no scheduler, that wait could never end and is refused
 * (EDEADLK) by the drivers.
 */
export class CpuMutex {
  /** The CPU holding it, -1 if free. */
  owner = -1;
  readonly waitLabel: string;
  constructor(readonly name: string) {
    this.waitLabel = `${WAIT_STEP} ${name}`;
  }

  /** Takes the lock if it is free; false if another CPU holds it. */
  tryLock(cpu: Cpu): boolean {
    if (this.owner === -1) {
      this.owner = cpu.id;
      return true;
    }
    if (this.owner === cpu.id)
      throw new StateError('EWRNESTED', `CPU ${cpu.id} already holds ${this.name}`, {
        cpu: cpu.id,
        lock: this.name,
      });
    return false;
  }

  /** Releases it, if `cpu` holds it. */
  unlock(cpu: Cpu): void {
    if (this.owner === cpu.id) this.owner = -1;
  }
}

/** Thrown by a synchronous driver that meets a wait step: nothing else could run. */
export function deadlock(label: string): never {
  throw new StateError('EDEADLK', `would wait forever with no scheduler: ${label}`, {
    step: label,
  });
}
