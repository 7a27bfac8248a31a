import { DIRECT_REMAP } from './direct-remap.js';
import { LAZY } from './lazy.js';
import type { NommuMechanismPlugin } from './plugin.js';

export type { NommuMechanismContext, NommuMechanismPlugin } from './plugin.js';

/**
 * The write-rare mechanisms of this backend, one line each; the first is the default.
 * A new mechanism is its file (exporting its plug-in) and a line here.
 */
export const PLUGINS = [DIRECT_REMAP, LAZY] as const;

export type NommuMechanism = (typeof PLUGINS)[number]['name'];

/** Their names (`backend.mechanisms`). */
export const MECHANISMS: readonly NommuMechanism[] = PLUGINS.map((p) => p.name);

/** The plug-in named `name`, or undefined. */
export function pluginOf(name: string): NommuMechanismPlugin | undefined {
  return PLUGINS.find((p) => p.name === name);
}
