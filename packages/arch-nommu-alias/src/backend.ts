import type { Backend } from '@prmem/core';
import { type NommuOptions, NommuArch } from './arch.js';
import { NOMMU_COSTS } from './costs.js';
import { checkGeometry, DEFAULT_DCACHE } from './dcache.js';
import { NOMMU_LAYOUT } from './layout.js';

import { MECHANISMS } from './mech/index.js';

export { MECHANISMS };

/**
 * A `nommu-alias` backend. Options are checked here, so a bad one fails before any machine
 * is built. `allowAliases` is a debug switch: the default refuses every alias.
 */
export function createNommuBackend(opts: NommuOptions = {}): Backend {
  const geometry = { ...DEFAULT_DCACHE, ...opts.dcache };
  checkGeometry(geometry);
  const resolved: NommuOptions = { allowAliases: opts.allowAliases === true, dcache: geometry };
  return {
    name: 'nommu-alias',
    description:
      'ARMv6 short-descriptor MMU with a VIPT aliasing D-cache that refuses aliases; write-rare by remapping the one mapping, IPI shootdowns',
    layout: NOMMU_LAYOUT,
    tlbMaintenance: 'ipi',
    costs: NOMMU_COSTS,
    mechanisms: MECHANISMS,
    defaultMechanism: MECHANISMS[0],
    traceLabels: {
      mmSwitch: 'TTBR0/CONTEXTIDR write',
      localFlushPage: 'TLBIMVA',
      localFlushAll: 'TLBIALL',
      cacheFlush: 'D-cache clean+invalidate',
    },
    attach: (m) => new NommuArch(m, resolved, geometry),
  };
}

/** The default backend: aliases refused, a 32 KiB 4-way D-cache (2 page colours). */
export const backend: Backend = createNommuBackend();
