import type { WriteRareMechanism } from '@prmem/core';
import type { NommuArch } from '../arch.js';

/**
 * The part of the architecture a mechanism may use: the machine, the kernel PTEs, the
 * local and IPI shootdowns, the write-rare lock. Nothing else of `NommuArch` is its business.
 */
export type NommuMechanismContext = Pick<
  NommuArch,
  | 'm'
  | 'setKernelPtes'
  | 'localFlushKernelRange'
  | 'flushKernelRange'
  | 'flushKernelRangeRound'
  | 'wrLockOwner'
>;

/**
 * A write-rare mechanism as a plug-in: its name and how it is made on a machine. This
 * architecture prepares nothing per mechanism, so a plug-in declares no needs.
 */
export interface NommuMechanismPlugin<N extends string = string> {
  readonly name: N;
  create(ctx: NommuMechanismContext): WriteRareMechanism;
}
