import { type Backend, backendCombos } from '@prmem/core';
import { repositoryBackends } from '@prmem/core/testing';
import type { Combo } from './types.js';

/** Every mechanism of a backend as combos. */
export function combosOf(backend: Backend, mechanisms = backend.mechanisms): Combo[] {
  return backendCombos([backend], { profiles: false })
    .filter((c) => mechanisms.includes(c.mechanism))
    .map((c) => ({ id: c.label, backend: c.backend, mechanism: c.mechanism }));
}

// The registry (core's BUILTIN_ARCHES and the toy), read once when the catalogue loads.
const [toy, ...builtins] = await repositoryBackends((pkg) => import(pkg));

/** The landed backends and every mechanism, plus core's reference toy backend (last). */
export function defaultCombos(): Combo[] {
  return [...builtins, toy].flatMap((b) => combosOf(b));
}
