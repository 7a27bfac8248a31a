import { generatorMechanism, sessionOf } from '@prmem/core';
/**
 * Deliberately broken mechanisms, to show the explorer catches bugs: a wrapper around a
 * real backend whose write-rare session stops right after its write — the steps that
 * close the window (set CR0.WP again, close the PKS key, switch back from the alias mm,
 * make the page read-only again) never run, as if the code forgot them.
 */
import type { ArchImpl, Backend, Cpu, Machine, Steps, WriteRareMechanism, WrOp } from '@prmem/core';

const armed = new WeakSet<Machine>();

/**
 * Turns the bug on for one machine from now on (a scenario's setup builds pools through
 * the same mechanism; the bug should hit the operation under test, not the setup).
 */
export function armSkipClose(m: Machine): void {
  armed.add(m);
}

/** Step labels of the data write itself (core's applyOpsViaCpu, arm64's EL2 writes). */
const WRITE_STEP = /^(store|copy|rmw|el2 )/;

export function skipClose(
  mech: WriteRareMechanism,
  isArmed: () => boolean = () => true,
): WriteRareMechanism {
  return generatorMechanism({
    name: `${mech.name}(skip-close)`,
    summary: `${mech.summary} — BUG: never closes its window`,
    batchable: mech.batchable,
    *session(cpu: Cpu, ops: readonly WrOp[]): Steps {
      const inner = sessionOf(mech, cpu, ops);
      if (!isArmed()) return yield* inner;
      for (;;) {
        const r = inner.next();
        if (r.done) return;
        yield r.value;
        // Abandon the session without return(): its finally blocks never run either.
        if (WRITE_STEP.test(String(r.value))) return;
      }
    },
  });
}

/** `base` with every mechanism wrapped by skipClose, active once armSkipClose(machine). */
export function skipCloseBackend(base: Backend): Backend {
  return {
    ...base,
    name: `${base.name}(skip-close)`,
    attach(m): ArchImpl {
      const impl = base.attach(m);
      const mechanism = impl.mechanism.bind(impl);
      impl.mechanism = (name: string) => skipClose(mechanism(name), () => armed.has(m));
      return impl;
    },
  };
}
