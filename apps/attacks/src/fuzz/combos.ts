/**
 * Every backend × mechanism the fuzzer, the differential test and the explorer run on:
 * core's reference toy backend plus every built-in arch package (core's registry:
 * `repositoryBackends`, `backendCombos`).
 */
import { type Backend, backendCombos } from '@prmem/core';
import { repositoryBackends, toyBackend } from '@prmem/core/testing';

export interface Combo {
  /** `backend/mechanism`, the name used on the command line and in test titles. */
  readonly label: string;
  readonly backend: Backend;
  readonly mechanism: string;
  /**
   * False where a user mm does not see kernel mappings created after it (core's test-only
   * toy backend copies the kernel half once, at createMm): the fuzzer then never switches
   * a CPU to a user mm. Real backends share or pre-populate the kernel half.
   */
  readonly userMm: boolean;
}

export function combosOf(backend: Backend): Combo[] {
  // Cost profiles change costs only, and the fuzzer checks behaviour: the backend's own.
  return backendCombos([backend], { profiles: false }).map((c) => ({
    label: c.label,
    backend: c.backend,
    mechanism: c.mechanism,
    userMm: backend.name !== 'toy',
  }));
}

/** Every landed backend × mechanism, the toy backend first. */
export async function loadCombos(): Promise<Combo[]> {
  return (await repositoryBackends((pkg) => import(pkg))).flatMap(combosOf);
}

/**
 * Deliberately broken combos, to show the suite catches bugs: the toy backend with its
 * remote TLB shootdown skipped when a page's protection changes.
 */
export function injectedBugCombos(): Combo[] {
  const backend = toyBackend({ skipShootdown: true });
  return [
    { label: 'toy(skipShootdown)/toy-remap', backend, mechanism: 'toy-remap', userMm: false },
  ];
}

/** Picks combos by `--backend` / `--mechanism` filters (exact names; undefined = all). */
export function selectCombos(all: readonly Combo[], backend?: string, mechanism?: string): Combo[] {
  return all.filter(
    (c) =>
      (backend === undefined || c.backend.name === backend) &&
      (mechanism === undefined || c.mechanism === mechanism),
  );
}
