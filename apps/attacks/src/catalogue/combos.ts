import { type Backend, backendCombos } from '@prmem/core';
import type { Combo } from './types.js';

/** Every mechanism of a backend as combos. */
export function combosOf(backend: Backend, mechanisms = backend.mechanisms): Combo[] {
  return backendCombos([backend], { profiles: false })
    .filter((c) => mechanisms.includes(c.mechanism))
    .map((c) => ({ id: c.label, backend: c.backend, mechanism: c.mechanism }));
}
