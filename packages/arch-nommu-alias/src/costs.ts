import type { CostTable } from '@prmem/core';

const NO_FIGURE = 'no published ARM11 figure (estimate)';

/**
 * Cycles per event on an ARM11-class core. No published per-operation figure was found
 * for ARM11 TLB maintenance, cache maintenance or IPIs (searched: ARM11 MPCore TRM-level
 * timing, LKML threads on ARMv6 cache flushing, the shootdown papers, which measure
 * x86), so every figure is an estimate, marked as such, with its reasoning. The IPI pair is calibrated so
 * that a one-target shootdown costs ~1,000 cycles (≈ 2 µs at an ARM11's 500 MHz), in line
 * with shootdowns costing "microseconds" (Amit, USENIX ATC 2017).
 */
export const NOMMU_COSTS: CostTable = {
  memAccess: { cycles: 1, source: 'L1 hit, pipelined (estimate)', estimate: true },
  tlbMiss: {
    cycles: 2,
    source: 'micro-TLB miss served by the main TLB (estimate)',
    estimate: true,
  },
  pageWalk: {
    cycles: 40,
    source: 'two dependent descriptor loads, L1 then L2, mostly from L2 cache/memory (estimate)',
    estimate: true,
  },
  pteWrite: {
    cycles: 20,
    source:
      'str + clean of the D-cache line holding the PTE (the ARMv6 walker does not snoop L1, set_pte_ext cleans it) (estimate)',
    estimate: true,
  },
  localFlushPage: {
    cycles: 15,
    source: `TLBIMVA (mcr p15,0,rX,c8,c7,1) + drain write buffer; ${NO_FIGURE}`,
    estimate: true,
  },
  localFlushAll: {
    cycles: 20,
    source: `TLBIALL + drain write buffer; ${NO_FIGURE}; refills are counted as walks`,
    estimate: true,
  },
  localFlushAsid: { cycles: 15, source: `TLBIASID; ${NO_FIGURE}`, estimate: true },
  ipiSent: {
    cycles: 200,
    source:
      'smp_call_function_many: cpumask + GIC SGI write + waiting for the ack; Amit ATC 2017 ("microseconds") (estimate)',
    estimate: true,
  },
  ipiHandled: {
    cycles: 800,
    source:
      'IRQ exception entry, GIC acknowledge, handler, EOI and return on an in-order ARM11 core; Amit ATC 2017 (estimate)',
    estimate: true,
  },
  mmSwitch: {
    cycles: 50,
    source: 'cpu_v6_switch_mm: CONTEXTIDR + TTBR0 writes, BTB flush, barriers (estimate)',
    estimate: true,
  },
  fault: {
    cycles: 1000,
    source: 'data abort entry + do_page_fault on an in-order core (estimate)',
    estimate: true,
  },
  spuriousFault: {
    cycles: 300,
    source: 'the table re-check and local flush of a spurious-fault fixup (estimate)',
    estimate: true,
  },
  irqToggle: { cycles: 2, source: 'cpsid/cpsie (estimate)', estimate: true },
  wrWindow: {
    cycles: 10,
    source: 'preempt_disable/enable and bookkeeping (estimate)',
    estimate: true,
  },
  wrBytes: { cycles: 1, source: 'memcpy, about a byte per cycle (estimate)', estimate: true },
  cacheFlush: {
    cycles: 15,
    source: `one D-cache line clean+invalidate (mcr p15,0,rX,c7,c14,1) incl. a possible write-back; ${NO_FIGURE}`,
    estimate: true,
  },
  barrier: {
    cycles: 10,
    source: 'ARMv6 DMB (mcr p15,0,rX,c7,c10,5) (estimate)',
    estimate: true,
  },
};
