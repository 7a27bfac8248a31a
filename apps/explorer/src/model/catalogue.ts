import { type AttackResult, CATALOGUE, classify } from '@prmem/attacks/catalogue';
import { Machine, type SecurityEvent, type TraceEvent } from '@prmem/core';
import { BACKENDS } from './scenario.js';
import { ExplorerError } from './world.js';

export interface CatalogueEntry {
  readonly id: string;
  readonly title: string;
  readonly category: string;
  readonly description: string;
}

export const ATTACKS: readonly CatalogueEntry[] = CATALOGUE.map((a) => ({
  id: a.id,
  title: a.title,
  category: a.category,
  description: a.description,
}));

export interface CatalogueRun {
  /** The attack suite's own run: outcome, expectation, detail, refusal. */
  readonly result: AttackResult;
  /**
   * What the machine did during a second, traced run of the same attack on the same
   * machine configuration: its steps (CR3 writes, IPIs, TLBIs, HVCs, faults) per CPU.
   */
  readonly steps: readonly TraceEvent[];
  readonly security: readonly SecurityEvent[];
  /** The traced run's outcome, which must equal the suite's (the model is deterministic). */
  readonly tracedOutcome: string;
}

/** Runs one attack of the catalogue on a fresh machine of the mechanism. */
export async function runCatalogueAttack(
  id: string,
  arch: string,
  mechanism: string,
  seed: number,
): Promise<CatalogueRun> {
  const attack = CATALOGUE.find((a) => a.id === id);
  if (!attack) throw new ExplorerError('EATTACK', `no attack ${id} in the catalogue`, id);
  const backend = BACKENDS[arch];
  if (!backend?.mechanisms.includes(mechanism))
    throw new ExplorerError('ECOMBO', `no mechanism ${arch}/${mechanism}`, `${arch}/${mechanism}`);
  const combo = { id: `${arch}/${mechanism}`, backend, mechanism };
  const result = await attack.run(combo, seed);
  // The same machine as the suite builds for it, with the trace on.
  const machine = new Machine({
    backend,
    mechanism,
    cpus: attack.cpus ?? 2,
    memoryMiB: 16,
    seed,
    trace: true,
  });
  let tracedOutcome: string;
  try {
    tracedOutcome = classify(
      await attack.perform({ combo, machine }),
      attack.expected(combo).outcome,
    );
  } catch {
    // The suite reports an attack whose set-up throws as 'error'; so does the traced run.
    tracedOutcome = 'error';
  }
  return {
    result,
    steps: machine.trace.events.filter((e) => e.ph !== 'M'),
    security: machine.securityEvents(),
    tracedOutcome,
  };
}
