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
  if ((mech === 'alias-mm-mirror' || mech === 'pks') && arch.mechanismName !== mech)
    throw new UnknownMechanismError('x86-64', name, [arch.mechanismName]);
  return FACTORIES[mech](arch);
}
