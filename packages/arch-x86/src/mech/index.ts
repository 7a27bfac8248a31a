import { UnknownMechanismError, type WriteRareMechanism } from '@prmem/core';
import type { X86Arch } from '../arch.js';
import { aliasMm, aliasMmPerPool } from './alias.js';
import { cr0Wp } from './cr0wp.js';
import { aliasMmMirror } from './mirror.js';
import { pks } from './pks.js';

/** The write-rare mechanisms of this backend; the first is the default. */
export const MECHANISMS = [
  'alias-mm',
  'alias-mm-mirror',
  'alias-mm-per-pool',
  'cr0-wp',
  'pks',
] as const;
export type MechanismName = (typeof MECHANISMS)[number];

/** What a mechanism needs from the architecture, declared by the mechanism. */
export interface X86MechanismNeeds {
  /** `wr_mm` (like `poking_mm`), created at boot. */
  readonly aliasMm: boolean;
  /** Write-rare pages stay RW in their PTEs and carry the write-rare protection key. */
  readonly wrPkey: boolean;
  /** setProtection keeps a persistent writable mirror of write-rare pages in `wr_mm`. */
  readonly mirror: boolean;
}

export const MECHANISM_NEEDS: Readonly<Record<MechanismName, X86MechanismNeeds>> = {
  'alias-mm': { aliasMm: true, wrPkey: false, mirror: false },
  'alias-mm-mirror': { aliasMm: true, wrPkey: false, mirror: true },
  'alias-mm-per-pool': { aliasMm: true, wrPkey: false, mirror: false },
  'cr0-wp': { aliasMm: false, wrPkey: false, mirror: false },
  pks: { aliasMm: false, wrPkey: true, mirror: false },
};

const FACTORIES: Readonly<Record<MechanismName, (arch: X86Arch) => WriteRareMechanism>> = {
  'alias-mm': aliasMm,
  'alias-mm-mirror': aliasMmMirror,
  'alias-mm-per-pool': aliasMmPerPool,
  'cr0-wp': cr0Wp,
  pks,
};

/**
 * The mechanism `name` on this machine. `alias-mm-mirror` and `pks` depend on what
 * setProtection did to the tables, so they only work on a machine built with them.
 */
export function createMechanism(arch: X86Arch, name: string): WriteRareMechanism {
  if (!(MECHANISMS as readonly string[]).includes(name))
    throw new UnknownMechanismError('x86-64', name, MECHANISMS);
  const mech = name as MechanismName;
  const needs = MECHANISM_NEEDS[mech];
  // What setProtection did to the tables is the machine's mechanism's: these need its own.
  if ((needs.mirror || needs.wrPkey) && arch.mechanismName !== mech)
    throw new UnknownMechanismError('x86-64', name, [arch.mechanismName]);
  return FACTORIES[mech](arch);
}
