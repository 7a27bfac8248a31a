export {
  ASID_LIMIT,
  archOf,
  NommuArch,
  type NommuOptions,
  nommuArch,
  PAGE_KERNEL,
  PAGE_KERNEL_RO,
} from './arch.js';
export { backend, createNommuBackend, MECHANISMS } from './backend.js';
export {
  type NommuMechanism,
  type NommuMechanismContext,
  type NommuMechanismPlugin,
  PLUGINS,
  pluginOf,
} from './mech/index.js';
export { RemapWindow } from './mech/remap.js';
export { NOMMU_COSTS } from './costs.js';
export { DEFAULT_DCACHE, type DcacheGeometry, ViptDcache } from './dcache.js';
export {
  AP_FULL,
  AP_PRIV_ONLY,
  AP_USER_RO,
  DACR_DEFAULT,
  DOMAIN_KERNEL,
  DOMAIN_USER,
  L1_BIT4,
  L1_COARSE_BASE_MASK,
  L1_DOMAIN_MASK,
  L1_DOMAIN_SHIFT,
  L1_ENTRIES,
  L1_TABLE_BYTES,
  L1_TYPE_COARSE,
  L1_TYPE_FAULT,
  L1_TYPE_MASK,
  L1_TYPE_SECTION,
  L2_ENTRIES,
  L2_TABLE_BYTES,
  L_PTE_DIRTY,
  L_PTE_MT_WRITEALLOC,
  L_PTE_PRESENT,
  L_PTE_RDONLY,
  L_PTE_SHARED,
  L_PTE_USER,
  L_PTE_XN,
  L_PTE_YOUNG,
  LPTE_BASE_MASK,
  LPTE_TYPE,
  LPTE_XN,
  PTE_AP_SHIFT,
  PTE_APX,
  PTE_B,
  PTE_BASE_MASK,
  PTE_C,
  PTE_HWTABLE_OFF,
  PTE_MT_WBWA,
  PTE_NG,
  PTE_S,
  PTE_SMALL,
  PTE_TEX_SHIFT,
  PTE_XN,
  SECT_AP_SHIFT,
  SECT_APX,
  SECT_B,
  SECT_BASE_MASK,
  SECT_C,
  SECT_NG,
  SECT_S,
  SECT_SUPER,
  SECT_TEX_SHIFT,
  SECT_XN,
} from './descriptors.js';
export { AliasRefusedError } from './errors.js';
export {
  LOWMEM_MAX_BYTES,
  MODULES_VADDR,
  NOMMU_LAYOUT,
  PAGE_OFFSET,
  TASK_SIZE,
  VA32_LIMIT,
  VMALLOC_END,
  VMALLOC_OFFSET,
  VMALLOC_START,
  WR_DEFAULT_MIB,
  WR_END,
  WR_START,
} from './layout.js';
export { KERNEL_L1_FIRST, permFlags, ShortDescriptorTables } from './pagetable.js';
export { armPtdump, armPtdumpLine, PTE_BITS, SECTION_BITS } from './ptdump.js';
export { FrameMapCount } from './rmap.js';

import { backend } from './backend.js';
export default backend;
