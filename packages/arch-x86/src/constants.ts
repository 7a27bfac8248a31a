import { CR4_PCIDE, CR4_PKS, pkrsWd } from './bits.js';
import { VMALLOC_START } from './layout.js';

/** tlb_single_page_flush_ceiling: above this many pages a range flush becomes a full flush. */
export const FLUSH_CEILING = 33;
/** The protection key write-rare pages carry under the `pks` mechanism. */
export const WR_PKEY = 1;
/** IA32_PKRS at boot: key WR_PKEY write-disabled, every other key open. */
export const DEFAULT_PKRS = pkrsWd(WR_PKEY);
/** CR0 as Linux runs: PG | AM | WP | NE | ET | MP | PE. */
export const DEFAULT_CR0 = 0x8005_0033;
/** CR4 bits the model cares about: PCIDE and PKS on. */
export const DEFAULT_CR4 = (CR4_PCIDE | CR4_PKS) >>> 0;

/** Each CPU's poking slot in an alias mm: 1 GiB of user-half address space. */
export const POKE_SLOT_SIZE = 2 ** 30;
/** The persistent mirror covers [vmalloc start, 2^48): the write-rare range and the image. */
export const MIRROR_ORIGIN = VMALLOC_START;
export const MIRROR_SPAN = 2 ** 48 - MIRROR_ORIGIN;

/** Supervisor, writable, non-global, NX: PAGE_KERNEL without _PAGE_GLOBAL (text_poke). */
export const ALIAS_PROT = { write: true, exec: false, global: false, user: false } as const;
