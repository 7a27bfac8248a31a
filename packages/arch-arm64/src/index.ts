import { type Backend, InvalidArgumentError } from '@prmem/core';
import { Arm64Arch, LINEAR_MAPS, type LinearMap } from './arch.js';
import { arm64Costs, HYPERVISOR_PROFILES, type HypervisorProfile } from './costs.js';
import { ARM64_LAYOUT } from './layout.js';
import { MECHANISMS } from './mech/index.js';

export { Arm64Arch, LINEAR_MAPS, type LinearMap, MAX_TLBI_OPS } from './arch.js';
export { arm64Costs, HYPERVISOR_PROFILES, type HypervisorProfile } from './costs.js';
export {
  leafSize,
  LEVEL_SPAN,
  MT_NORMAL,
  OA_HI_MASK,
  OA_LO_MASK,
  outputAddress,
  paHi,
  S1,
  S1_HI,
  S2,
  S2_HI,
  S2_MEMATTR_NORMAL_WB,
  SH_INNER,
  tableIndex,
} from './descriptors.js';
export {
  type AtomicSize,
  El2,
  type HvcCall,
  type HvcLevel,
  type HvcName,
  type Registration,
} from './el2.js';
export { HVC_REFUSAL, HypercallRefused, type HvcRefusalCode } from './errors.js';
export { ALIAS_MAX, ALIAS_MIN, ALIAS_WINDOW_PAGES, ARM64_LAYOUT, KERNEL_HALF } from './layout.js';
export {
  type Arm64Mechanism,
  type Arm64MechanismContext,
  type Arm64MechanismNeeds,
  type Arm64MechanismPlugin,
  hvcFor,
  hvcName,
  MECHANISM_NEEDS,
  MECHANISMS,
  PLUGINS,
  pluginOf,
} from './mech/index.js';
export {
  arm64Attributes,
  arm64Ptdump,
  arm64PtdumpLine,
  arm64Stage2Ptdump,
  STAGE1_BITS,
  STAGE2_BITS,
} from './ptdump.js';
export { A64F, combineFlags, encodeLeaf } from './pagetable.js';
export { EL2_OWNER, IPA_BITS, S2_START_LEVEL, S2AP_RO, S2AP_RW, S2P, Stage2 } from './stage2.js';

export interface Arm64Options {
  /** The EL2 design whose hypercall cost applies: KVM-style (default) or thin (Xen-style). */
  readonly hypervisor?: HypervisorProfile;
  /**
   * The linear map's granularity (default `pages`, what rodata=full gives): `blocks`
   * (rodata=on: 2 MiB / 1 GiB blocks, protection leaves the linear alias writable) or
   * `blocks-bbml2` (blocks split on demand, FEAT_BBM level 2).
   */
  readonly linearMap?: LinearMap;
}

/** An arm64 backend with the given hypervisor cost profile. */
export function createArm64Backend(opts: Arm64Options = {}): Backend {
  const profile = opts.hypervisor ?? 'kvm';
  if (!HYPERVISOR_PROFILES.includes(profile))
    throw new InvalidArgumentError(
      'hypervisor',
      profile,
      `must be one of ${HYPERVISOR_PROFILES.join(', ')}`,
    );
  const linearMap = opts.linearMap ?? 'pages';
  if (!LINEAR_MAPS.includes(linearMap))
    throw new InvalidArgumentError(
      'linearMap',
      linearMap,
      `must be one of ${LINEAR_MAPS.join(', ')}`,
    );
  const describe = (p: HypervisorProfile) =>
    `arm64: 4-level stage 1 (TTBR0/TTBR1, ASIDs) + EL2 stage 2 (${p} hypervisor profile, ${linearMap} linear map); TLBI …IS broadcasts, no IPIs`;
  return {
    name: 'arm64',
    description: describe(profile),
    layout: ARM64_LAYOUT,
    tlbMaintenance: 'broadcast',
    costs: arm64Costs(profile),
    // The hypercall cost differs by an order of magnitude between the two EL2 designs,
    // so comparisons run both.
    profiles: HYPERVISOR_PROFILES.map((p) => ({
      name: p,
      summary: p === 'kvm' ? 'KVM-style hypervisor at EL2' : 'thin (Xen-style) hypervisor at EL2',
      costs: arm64Costs(p),
      description: describe(p),
    })),
    mechanisms: MECHANISMS,
    defaultMechanism: MECHANISMS[0],
    traceLabels: {
      mmSwitch: 'MSR TTBR0_EL1',
      localFlushPage: 'TLBI VAE1',
      localFlushAll: 'TLBI VMALLE1',
      localFlushAsid: 'TLBI ASIDE1',
      tlbiBroadcast: 'TLBI …IS',
      dsb: 'DSB ISH',
      irqToggle: 'DAIF mask/unmask',
    },
    attach: (m) => new Arm64Arch(m, profile, linearMap),
  };
}

/** The arm64 backend, KVM-style hypervisor profile. */
export const backend: Backend = createArm64Backend();
export default backend;

/**
 * The Arm64Arch of a machine built with this backend (to reach EL2, wr_mm, ...); a typed
 * error for any other machine. Every arch package names this accessor `archOf`.
 */
export function archOf(m: { readonly arch: unknown }): Arm64Arch {
  if (!(m.arch instanceof Arm64Arch))
    throw new InvalidArgumentError('machine', 'arch', 'was not built with the arm64 backend');
  return m.arch;
}

/** @deprecated Use `archOf` (the accessor's name in every arch package). */
export const arm64Of = archOf;
