/**
 * `@prmem/attacks`: the attack catalogue (each attack a named scenario with its expected
 * outcome per backend × mechanism) and the matrix runner the CLI and the bench use.
 */
export * from './catalogue/index.js';
export { defaultCombos } from './catalogue/default-combos.js';
export {
  deriveProperties,
  type AttackInfo,
  type ComboInfo,
  type MatrixOptions,
  type MatrixReport,
  type MechanismProperties,
  PROPERTIES,
  type PropertyDefinition,
  type PropertyName,
  renderMatrix,
  runMatrix,
} from './matrix.js';
