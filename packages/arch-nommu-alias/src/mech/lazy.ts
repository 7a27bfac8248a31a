import type { WriteRareMechanism } from '@prmem/core';
import type { NommuMechanismContext, NommuMechanismPlugin } from './plugin.js';
import { RemapWindow } from './remap.js';

export function lazyRemap(arch: NommuMechanismContext): WriteRareMechanism {
  return {
    name: 'lazy',
    summary:
      'direct-remap without the shootdown on relaxing: stale RO entries take spurious faults; only tightening pays IPIs (window open to every CPU)',
    batchable: true,
    program: (cpu, ops) => new RemapWindow(arch, cpu, ops, true),
  };
}

export const LAZY: NommuMechanismPlugin<'lazy'> = { name: 'lazy', create: lazyRemap };
