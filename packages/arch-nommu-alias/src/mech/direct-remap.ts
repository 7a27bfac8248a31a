import type { WriteRareMechanism } from '@prmem/core';
import type { NommuMechanismContext, NommuMechanismPlugin } from './plugin.js';
import { RemapWindow } from './remap.js';

export function directRemap(arch: NommuMechanismContext): WriteRareMechanism {
  return {
    name: 'direct-remap',
    summary:
      'make the one mapping writable, IPI shootdown, write in place, read-only again, IPI shootdown (window open to every CPU)',
    batchable: true,
    program: (cpu, ops) => new RemapWindow(arch, cpu, ops, false),
  };
}

export const DIRECT_REMAP: NommuMechanismPlugin<'direct-remap'> = {
  name: 'direct-remap',
  create: directRemap,
};
