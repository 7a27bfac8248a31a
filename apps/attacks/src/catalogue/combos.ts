import { backend as arm64 } from '@prmem/arch-arm64';
import { backend as nommu } from '@prmem/arch-nommu-alias';
import { backend as x86 } from '@prmem/arch-x86';
import type { Backend } from '@prmem/core';
import { toyBackend } from '@prmem/core/testing';
import type { Combo } from './types.js';

/** Every mechanism of a backend as combos. */
export function combosOf(backend: Backend, mechanisms = backend.mechanisms): Combo[] {
  return mechanisms.map((mechanism) => ({
    id: `${backend.name}/${mechanism}`,
    backend,
    mechanism,
  }));
}

/** The landed backends and every mechanism, plus core's reference toy backend. */
export function defaultCombos(): Combo[] {
  return [...combosOf(x86), ...combosOf(arm64), ...combosOf(nommu), ...combosOf(toyBackend())];
}
