import type { WriteRareMechanism } from '@prmem/core';
import type { Arm64Arch } from '../arch.js';

/** What a mechanism needs from the architecture, declared by the mechanism. */
export interface Arm64MechanismNeeds {
  /** A `wr_mm` (TTBR0 + ASID) with a per-CPU alias window at a randomized base. */
  readonly aliasMm: boolean;
  /** Write-rare ranges registered write-mediated at EL2 (read-only ones always are). */
  readonly el2WriteRare: boolean;
}

/**
 * The part of the architecture a mechanism may use: the machine, stage 1, EL2, the alias
 * mm and its window, the context switch. Nothing else of `Arm64Arch` is its business.
 */
export type Arm64MechanismContext = Pick<
  Arm64Arch,
  'm' | 'pt' | 'el2' | 'wrMm' | 'aliasBase' | 'textMutex' | 'switchMm'
>;

/**
 * A write-rare mechanism as a plug-in: its name, what it needs of the architecture (the
 * architecture reads this, never the name), and how it is made on a machine.
 */
export interface Arm64MechanismPlugin<N extends string = string> {
  readonly name: N;
  readonly needs: Arm64MechanismNeeds;
  create(ctx: Arm64MechanismContext): WriteRareMechanism;
}
