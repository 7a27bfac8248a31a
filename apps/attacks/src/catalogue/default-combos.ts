/**
 * The combos the matrix runs by default: core's registry (BUILTIN_ARCHES, then the toy),
 * read once when this module loads. Kept out of `@prmem/attacks/catalogue`, which the
 * explorer's browser bundle imports: a browser cannot import a package by a computed name.
 */
import { repositoryBackends } from '@prmem/core/testing';
import { combosOf } from './combos.js';
import type { Combo } from './types.js';

const [toy, ...builtins] = await repositoryBackends((pkg) => import(pkg));

/** The landed backends and every mechanism, plus core's reference toy backend (last). */
export function defaultCombos(): Combo[] {
  return [...builtins, toy].flatMap((b) => combosOf(b));
}
