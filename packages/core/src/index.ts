export * from './addr.js';
export * from './audit.js';
export * from './backend.js';
export * from './config.js';
export * from './costs.js';
export * from './cpu.js';
export * from './errors.js';
export * from './fault.js';
export * from './machine.js';
export * from './mm.js';
export * from './phys.js';
export * from './ptdump.js';
export * from './rng.js';
export * from './scheduler.js';
export * from './stats.js';
export * from './tlb.js';
export * from './trace.js';
export * from './trace-window.js';
export { AreaOwner, VM, VmapArea } from './vmap.js';
export { VaSpace } from './vaspace.js';
export * from './program.js';
export * from './window.js';
export * from './aliaswindow.js';
export * from './wrapply.js';
export * from './wrtarget.js';
export * from './mutex.js';
export {
  type BackendCombo,
  type BackendDiscovery,
  backendCombos,
  type CombosOptions,
  type LoadedBackend,
  loadBuiltinBackends,
  type PackageLoader,
  withProfile,
} from './registry.js';
