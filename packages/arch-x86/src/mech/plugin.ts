import type { WriteRareMechanism } from '@prmem/core';
import type { X86Arch } from '../arch.js';

/** What a mechanism needs from the architecture, declared by the mechanism. */
export interface X86MechanismNeeds {
  /** `wr_mm` (like `poking_mm`), created at boot. */
  readonly aliasMm: boolean;
  /** Write-rare pages stay RW in their PTEs and carry the write-rare protection key. */
  readonly wrPkey: boolean;
  /** setProtection keeps a persistent writable mirror of write-rare pages in `wr_mm`. */
  readonly mirror: boolean;
}

/**
 * The part of the architecture a mechanism may use: the machine, the page tables, the
 * alias mms and their slots, the context switch and the local flush. Nothing else of
 * `X86Arch` is a mechanism's business.
 */
export type X86MechanismContext = Pick<
  X86Arch,
  | 'm'
  | 'pt'
  | 'mechanismName'
  | 'textMutex'
  | 'wrMm'
  | 'poolMm'
  | 'pokingSlot'
  | 'mirrorBase'
  | 'mirrorAddress'
  | 'switchMm'
  | 'flushLocalPage'
>;

/**
 * A write-rare mechanism as a plug-in: its name, what it needs of the architecture (the
 * architecture reads this, never the name), and how it is made on a machine.
 */
export interface X86MechanismPlugin<N extends string = string> {
  readonly name: N;
  readonly needs: X86MechanismNeeds;
  create(ctx: X86MechanismContext): WriteRareMechanism;
}
