import { UnknownMechanismError, type WriteRareMechanism } from '@prmem/core';
import { ALIAS_MM } from './alias-mm.js';
import { ALIAS_MM_MIRROR } from './alias-mm-mirror.js';
import { ALIAS_MM_PER_POOL } from './alias-mm-per-pool.js';
import { CR0_WP_PLUGIN } from './cr0-wp.js';
import { PKS } from './pks.js';
import type { X86MechanismContext, X86MechanismNeeds, X86MechanismPlugin } from './plugin.js';

export type { X86MechanismContext, X86MechanismNeeds, X86MechanismPlugin } from './plugin.js';

/**
 * The write-rare mechanisms of this backend, one line each; the first is the default.
 * A new mechanism is its file (exporting its plug-in) and a line here.
 */
export const PLUGINS = [ALIAS_MM, ALIAS_MM_MIRROR, ALIAS_MM_PER_POOL, CR0_WP_PLUGIN, PKS] as const;

export type MechanismName = (typeof PLUGINS)[number]['name'];

/** Their names (`backend.mechanisms`). */
export const MECHANISMS: readonly MechanismName[] = PLUGINS.map((p) => p.name);

/** The plug-in named `name`, or undefined. */
export function pluginOf(name: string): X86MechanismPlugin | undefined {
  return PLUGINS.find((p) => p.name === name);
}

/** What each mechanism declares it needs (read from the plug-ins). */
export const MECHANISM_NEEDS: Readonly<Record<MechanismName, X86MechanismNeeds>> =
  Object.fromEntries(PLUGINS.map((p) => [p.name, p.needs])) as Record<
    MechanismName,
    X86MechanismNeeds
  >;

/**
 * The mechanism `name` on this machine. One that changes what setProtection does to the
 * tables (a mirror, a protection key) only works on a machine built with it.
 */
export function createMechanism(ctx: X86MechanismContext, name: string): WriteRareMechanism {
  const plugin = pluginOf(name);
  if (!plugin) throw new UnknownMechanismError('x86-64', name, MECHANISMS);
  const { needs } = plugin;
  if ((needs.mirror || needs.wrPkey) && ctx.mechanismName !== plugin.name)
    throw new UnknownMechanismError('x86-64', name, [ctx.mechanismName]);
  return plugin.create(ctx);
}
