import type { CostTable } from '@prmem/core';

const MOLNAR =
  'Ingo Molnar, "Re: [PATCH 0/3] TLB flush multiple pages per IPI v5", LKML 2015-06-08 (boot-time measurements: __flush_tlb() 96, __flush_tlb_one() 260, __flush_tlb_range() 404 cycles)';
const HANSEN =
  'Dave Hansen, "x86/mm: Set TLB flush tunable to sane value (33)", commit a5102476a24b (2014): average cycles of flush_tlb_mm_range() incl. IPIs during a kernel build — 1 page 1,276, 8 pages 3,542, 33 pages 8,534, a full (GLOBAL) flush 2,283';
/** Searched (2026): Molnar's and Hansen's LKML posts, LATR (ASPLOS'18), Amit et al. (ATC'17, EuroSys'20), the PKS RFC series; none gives a per-operation figure for these events. */
const NONE_FOUND =
  'no per-operation measurement was found in the kernel threads and papers searched';

/**
 * Cycles per event on x86-64. Every figure names its source; `estimate: true` marks the
 * ones with no published measurement, with the reasoning in the source string.
 */
export const X86_COSTS: CostTable = {
  memAccess: {
    cycles: 4,
    source:
      'L1D load-to-use latency of 4-5 cycles (Intel 64 and IA-32 Architectures Optimization Reference Manual); TLB hit assumed',
    estimate: true,
  },
  tlbMiss: {
    cycles: 0,
    source: 'counted only; the miss cost is the page walk (pageWalk)',
  },
  pageWalk: {
    cycles: 30,
    source: `${NONE_FOUND}: a 4-level walk whose entries hit the data caches, ~20-40 cycles`,
    estimate: true,
  },
  pteWrite: {
    cycles: 5,
    source: `${NONE_FOUND}: set_pte is one 8-byte store plus the surrounding code`,
    estimate: true,
  },
  localFlushPage: { cycles: 260, source: `${MOLNAR}: INVLPG of one page, 260 cycles` },
  localFlushAll: {
    cycles: 8580,
    source: `derived so that FLUSH_CEILING (33) is the break-even Linux's choice treats it as: a full flush with the refills it causes costs what 33 INVLPGs cost, 33 x 260 = 8,580 (${MOLNAR}). The flush alone is cheap (Molnar: a CR3 flush 96 cycles; ${HANSEN}, i.e. ~1,267 without the ~1,016-cycle IPI); the rest stands for the refills, which Molnar notes are hard to measure — so this is an estimate. The model's own refill walks (pageWalk) come on top`,
    estimate: true,
  },
  localFlushAsid: {
    cycles: 0,
    source: `${MOLNAR}: the flush is part of the CR3 write (96 cycles, charged as mmSwitch); a PCID's entries are few and its refills are charged as page walks`,
  },
  ipiSent: {
    cycles: 400,
    source: `${HANSEN}: 1,276 cycles for a 1-page flush, of which 260 are the local INVLPG (Molnar); the remaining ~1,016 cycles of IPI are split sender 400 / handler 616 by estimate (no published split)`,
    estimate: true,
  },
  ipiHandled: {
    cycles: 616,
    source: `${HANSEN}: interrupt entry, the handler and the acknowledgement; the rest of the ~1,016-cycle IPI cost (split by estimate)`,
    estimate: true,
  },
  mmSwitch: { cycles: 96, source: `${MOLNAR}: a CR3 write (reload) costs 96 cycles` },
  fault: {
    cycles: 1000,
    source: `${NONE_FOUND}: exception entry, the fault handler and the oops path`,
    estimate: true,
  },
  spuriousFault: {
    cycles: 1000,
    source: `${NONE_FOUND}: a fault round trip plus a table re-check (spurious_kernel_fault)`,
    estimate: true,
  },
  irqToggle: {
    cycles: 10,
    source: `${NONE_FOUND}: CLI/STI or POPF, a few to ~20 cycles`,
    estimate: true,
  },
  cr0Write: {
    cycles: 100,
    source: `${NONE_FOUND}: MOV to CR0 is serializing, costed like a pipeline drain`,
    estimate: true,
  },
  pkrsWrite: {
    cycles: 50,
    source: `${NONE_FOUND} (the PKS series states only that the WRMSR is not serializing and needs no TLB flush): estimated near a WRPKRU`,
    estimate: true,
  },
  wrWindow: { cycles: 0, source: 'bookkeeping only: the window costs its steps' },
  wrBytes: { cycles: 0, source: 'counted only: the stores are charged as memAccess' },
  barrier: {
    cycles: 33,
    source: `${NONE_FOUND}: MFENCE / a locked instruction, ~30 cycles`,
    estimate: true,
  },
  cpaSplit: {
    cycles: 1000,
    source: `${NONE_FOUND} for split_large_page(): alloc_pages() of a zeroed table page and the cpa_lock; its 513 PTE writes (pteWrite) and flush_tlb_all() (IPIs, localFlushAll) are charged separately`,
    estimate: true,
  },
};
