import { ALIAS_MM } from './alias-mm.js';
import { HYP_ASSIST } from './hyp-assist.js';
import type { Arm64MechanismNeeds, Arm64MechanismPlugin } from './plugin.js';

export { hvcFor, hvcName } from './hyp-assist.js';
export type { Arm64MechanismContext, Arm64MechanismNeeds, Arm64MechanismPlugin } from './plugin.js';

/**
 * The write-rare mechanisms of this backend, one line each; the first is the default.
 * A new mechanism is its file (exporting its plug-in) and a line here.
 */
export const PLUGINS = [HYP_ASSIST, ALIAS_MM] as const;

export type Arm64Mechanism = (typeof PLUGINS)[number]['name'];

/** Their names (`backend.mechanisms`). */
export const MECHANISMS: readonly Arm64Mechanism[] = PLUGINS.map((p) => p.name);

/** The plug-in named `name`, or undefined. */
export function pluginOf(name: string): Arm64MechanismPlugin | undefined {
  return PLUGINS.find((p) => p.name === name);
}

/** What each mechanism declares it needs (read from the plug-ins). */
export const MECHANISM_NEEDS: Readonly<Record<Arm64Mechanism, Arm64MechanismNeeds>> =
  Object.fromEntries(PLUGINS.map((p) => [p.name, p.needs])) as Record<
    Arm64Mechanism,
    Arm64MechanismNeeds
  >;
