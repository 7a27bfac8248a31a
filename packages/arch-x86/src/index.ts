/**
 * @prmem/arch-x86: x86-64 4-level paging with PCIDs, INVLPG/IPI shootdowns, CR0.WP and
 * PKS, and write-rare through a temporary alias mm (text_poke) with its variants.
 */
import type { Backend, Machine } from '@prmem/core';
import { InvalidArgumentError } from '@prmem/core';
import { X86Arch } from './arch.js';
import { X86_COSTS } from './costs.js';
import { X86_LAYOUT } from './layout.js';
import { MECHANISMS } from './mech/index.js';

export {
  ALIAS_PROT,
  DEFAULT_CR0,
  DEFAULT_CR4,
  DEFAULT_PKRS,
  FLUSH_CEILING,
  MIRROR_ORIGIN,
  POKE_SLOT_SIZE,
  WR_PKEY,
} from './constants.js';
export { X86Arch } from './arch.js';
export * as bits from './bits.js';
export { X86_COSTS } from './costs.js';
export {
  DIRECT_MAP,
  HIGH_KERNEL,
  IMAGE_START,
  KERNEL_START,
  MODULES_START,
  USER_END,
  VMALLOC_END,
  VMALLOC_START,
  VMEMMAP_START,
  WR_END,
  WR_START,
  X86_LAYOUT,
} from './layout.js';
export {
  MECHANISM_NEEDS,
  MECHANISMS,
  type MechanismName,
  PLUGINS,
  pluginOf,
  type X86MechanismContext,
  type X86MechanismNeeds,
  type X86MechanismPlugin,
} from './mech/index.js';
export { KERNEL_PML4_FIRST, X86PageTable } from './pagetable.js';
export { x86ProtColumns, x86Ptdump, x86PtdumpLine } from './ptdump.js';

export const backend: Backend = {
  name: 'x86-64',
  description:
    'x86-64 4-level paging (PCID, INVLPG, IPI shootdowns); write-rare through a temporary alias mm (text_poke), with mirror, per-pool, cr0-wp and pks variants',
  layout: X86_LAYOUT,
  tlbMaintenance: 'ipi',
  costs: X86_COSTS,
  mechanisms: MECHANISMS,
  defaultMechanism: MECHANISMS[0],
  traceLabels: {
    mmSwitch: 'mov cr3',
    localFlushPage: 'INVLPG',
    localFlushAsid: 'PCID flush (CR3 write without NOFLUSH)',
    localFlushAll: 'flush all (CR4.PGE toggle)',
    cr0Write: 'mov cr0 (WP)',
    pkrsWrite: 'WRMSR IA32_PKRS',
    irqToggle: 'cli/sti',
  },
  attach: (m: Machine) => new X86Arch(m),
};

export default backend;

/**
 * The x86 architecture of a machine built with this backend (for tests and tools); a
 * typed error for any other machine. Every arch package names this accessor `archOf`.
 */
export function archOf(m: Machine): X86Arch {
  if (!(m.arch instanceof X86Arch))
    throw new InvalidArgumentError(
      'machine',
      m.backend.name,
      'was not built with the x86-64 backend',
    );
  return m.arch;
}

/** @deprecated Use `archOf` (the accessor's name in every arch package). */
export const x86Arch = archOf;
