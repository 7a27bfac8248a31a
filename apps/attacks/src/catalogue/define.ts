import { createMachine } from '@prmem/core';
import type {
  Attack,
  AttackResult,
  AttackSpec,
  Combo,
  Expectation,
  ExpectationTable,
  ExpectedOutcome,
  Observation,
  Outcome,
} from './types.js';

/** An expectation table: a default and the reasoned exceptions. */
export function expect(
  def: ExpectedOutcome,
  overrides: Readonly<Record<string, readonly [ExpectedOutcome, string]>> = {},
  defaultReason?: string,
): ExpectationTable {
  return { default: def, overrides, ...(defaultReason ? { defaultReason } : {}) };
}

export function expectationFor(table: ExpectationTable, combo: Combo): Expectation {
  const o = table.overrides[combo.id] ?? table.overrides[combo.backend.name];
  if (o) return { outcome: o[0], reason: o[1] };
  return table.defaultReason
    ? { outcome: table.default, reason: table.defaultReason }
    : { outcome: table.default };
}

/**
 * Turns an observation into an outcome. The observation says whether the attacker's bytes
 * landed and whether the machine recorded the refusal; the catalogue's documentation says
 * whether a landing is a known opening (`window`, `unprotected`) or a failure.
 */
export function classify(obs: Observation, expected: ExpectedOutcome): Outcome {
  if (obs.notApplicable !== undefined) return 'n/a';
  if (obs.landed)
    return expected === 'window' || expected === 'unprotected' ? expected : 'succeeded';
  return obs.events.length > 0 ? 'detected' : 'stopped';
}

export function defineAttack(spec: AttackSpec): Attack {
  const expected = (combo: Combo) => expectationFor(spec.expect, combo);
  return {
    ...spec,
    expected,
    async run(combo: Combo, seed = 1): Promise<AttackResult> {
      const exp = expected(combo);
      const t0 = performance.now();
      let obs: Observation;
      let error: string | undefined;
      try {
        const machine = await createMachine({
          arch: combo.backend,
          mechanism: combo.mechanism,
          cpus: spec.cpus ?? 2,
          memoryMiB: 16,
          seed,
        });
        obs = await spec.perform({ combo, machine });
      } catch (e) {
        // The attack's own set-up failed: report it, never count it as stopped.
        error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        obs = { landed: false, events: [], detail: `attack could not run: ${error}` };
      }
      const outcome: Outcome = error ? 'error' : classify(obs, exp.outcome);
      return {
        attack: spec.id,
        combo: combo.id,
        outcome,
        expected: exp.outcome,
        ...(exp.reason ? { reason: exp.reason } : {}),
        match: !error && outcome === exp.outcome,
        detail: obs.detail,
        ...(obs.refusal ? { refusal: obs.refusal } : {}),
        events: obs.events,
        ...(error ? { error } : {}),
        ms: Math.round((performance.now() - t0) * 10) / 10,
      };
    },
  };
}
