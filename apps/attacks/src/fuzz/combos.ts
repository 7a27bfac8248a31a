/**
 * Every backend × mechanism the fuzzer, the differential test and the explorer run on:
 * core's reference toy backend plus every arch package that exports a `backend` (detected
 * at import time, so a backend that has not landed is simply absent, and one that lands is
 * covered without edits).
 */
import { type Backend, isBackend } from '@prmem/core';
import { toyBackend } from '@prmem/core/testing';

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

async function archBackends(): Promise<Backend[]> {
  const out: Backend[] = [];
  const mods: Record<string, unknown>[] = [
    await import('@prmem/arch-x86'),
    await import('@prmem/arch-arm64'),
    await import('@prmem/arch-nommu-alias'),
  ];
  for (const mod of mods) if ('backend' in mod && isBackend(mod.backend)) out.push(mod.backend);
  return out;
}

export function combosOf(backend: Backend): Combo[] {
  return backend.mechanisms.map((mechanism) => ({
    label: `${backend.name}/${mechanism}`,
    backend,
    mechanism,
    userMm: backend.name !== 'toy',
  }));
}

/** Every landed backend × mechanism, the toy backend first. */
export async function loadCombos(): Promise<Combo[]> {
  return [toyBackend(), ...(await archBackends())].flatMap(combosOf);
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
