/**
 * `@prmem/core/testing`: a minimal reference backend ('toy') for tests of packages that
 * need a machine but no particular architecture, and as a worked example for authors of
 * a new backend. It is not a model of any real MMU.
 */
export { TOY_LAYOUT, type ToyOptions, toyBackend } from './toy.js';
export { faultOf } from './faults.js';
