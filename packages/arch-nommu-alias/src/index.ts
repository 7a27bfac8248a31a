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
export * from './descriptors.js';
export { AliasRefusedError } from './errors.js';
export * from './layout.js';
export { KERNEL_L1_FIRST, permFlags, ShortDescriptorTables } from './pagetable.js';
export { armPtdump, armPtdumpLine, PTE_BITS, SECTION_BITS } from './ptdump.js';
export { FrameMapCount } from './rmap.js';

import { backend } from './backend.js';
export default backend;
