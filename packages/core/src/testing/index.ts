/**
 * `@prmem/core/testing`: the backend conformance kit (`backendConformance`), a minimal
 * reference backend ('toy') for tests of packages that need a machine but no particular
 * architecture and as a worked example for authors of a new backend (it is not a model
 * of any real MMU), and small test helpers.
 */
export { TOY_LAYOUT, type ToyOptions, toyBackend } from './toy.js';
export { faultOf } from './faults.js';
export { repositoryBackends } from './backends.js';
export {
  backendConformance,
  checkConformance,
  type ConformanceOptions,
  type ConformanceReport,
  type ConformanceRule,
  ConformanceViolation,
  conformanceRules,
  sessionSteps,
  type TestRunner,
} from './conformance/index.js';
export { WORK_EVENTS } from './conformance/mechanism.js';
export { type PluginRegistry, pluginConformance } from './conformance/plugins.js';
