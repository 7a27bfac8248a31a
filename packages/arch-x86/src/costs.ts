import type { CostTable } from '@prmem/core';

const MOLNAR = 'Ingo Molnar, LKML 2015-06-08 (x86 TLB flush cost measurements)';
const HANSEN = 'Dave Hansen, commit a5102476a24b (2014), flush_tlb_mm_range incl. IPIs';

/**
 * Cycles per event on x86-64. Every figure names its source; `estimate: true` marks the
 * ones with no published measurement, with the reasoning in the source string.
 */
export const X86_COSTS: CostTable = {
  memAccess: {
    cycles: 4,
    source: 'L1D load-to-use latency of 4-5 cycles (Intel optimization manual); TLB hit assumed',
    estimate: true,
  },
  tlbMiss: {
    cycles: 0,
    source: 'counted only; the miss cost is the page walk (pageWalk)',
  },
  pageWalk: {
    cycles: 30,
    source:
      'no published figure here: a 4-level walk whose entries hit the data caches, ~20-40 cycles',
    estimate: true,
  },
  pteWrite: {
    cycles: 5,
    source: 'no published figure: set_pte is one 8-byte store plus the surrounding code',
    estimate: true,
  },
  localFlushPage: { cycles: 260, source: `${MOLNAR}: INVLPG of one page, 260 cycles` },
  localFlushAll: {
    cycles: 96,
    source: `${MOLNAR}: a CR3-reload flush costs 96 cycles; the full flush with global entries (CR4.PGE toggle) is assumed to cost the same (no figure published)`,
    estimate: true,
  },
  localFlushAsid: {
    cycles: 0,
    source: `${MOLNAR}: the flush is part of the CR3 write (96 cycles, charged as mmSwitch); refills are charged as page walks`,
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
    source: 'no published figure here: exception entry, the fault handler and the oops path',
    estimate: true,
  },
  spuriousFault: {
    cycles: 1000,
    source: 'no published figure: a fault round trip plus a table re-check (spurious_kernel_fault)',
    estimate: true,
  },
  irqToggle: {
    cycles: 10,
    source: 'no published figure: CLI/STI or POPF, a few to ~20 cycles',
    estimate: true,
  },
  cr0Write: {
    cycles: 100,
    source: 'no published figure: MOV to CR0 is serializing, costed like a pipeline drain',
    estimate: true,
  },
  pkrsWrite: {
    cycles: 50,
    source:
      'no published figure for WRMSR IA32_PKRS; it is not serializing (PKS RFCs), estimated near a WRPKRU',
    estimate: true,
  },
  wrWindow: { cycles: 0, source: 'bookkeeping only: the window costs its steps' },
  wrBytes: { cycles: 0, source: 'counted only: the stores are charged as memAccess' },
  barrier: {
    cycles: 33,
    source: 'no published figure here: MFENCE / a locked instruction, ~30 cycles',
    estimate: true,
  },
};
