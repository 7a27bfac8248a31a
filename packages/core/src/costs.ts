/**
 * Counted events and the cost table format. Every event the machine counts has an
 * index into per-CPU typed-array counters; a backend's cost table gives each event a
 * cycle figure and the source of that figure.
 */
export const EVENT_NAMES = [
  'memAccess', // a load or store that hits the TLB (charged lazily from the hit counter)
  'tlbMiss',
  'pageWalk', // one hardware walk (all levels, all stages)
  'pteWrite', // a software write of a page-table entry
  'localFlushPage', // INVLPG / TLBI VALE1 (non-broadcast)
  'localFlushAll', // full local flush (CR3 reload / TLBI VMALLE1)
  'localFlushAsid', // one ASID's non-global entries
  'ipiSent',
  'ipiHandled',
  'tlbiBroadcast', // a TLBI ...IS instruction broadcast to all CPUs (arm64)
  'dsb', // DSB ISH completing broadcast maintenance
  'mmSwitch', // CR3 / TTBR write
  'hypercall', // HVC round trip to EL2
  'fault', // a page fault delivered to the kernel
  'spuriousFault', // a fault the kernel found spurious (tables allow it) and retried
  'irqToggle', // local_irq_disable / enable pair half
  'cr0Write',
  'pkrsWrite', // WRMSR IA32_PKRS
  'wrWindow', // one write-rare window opened and closed
  'wrBytes', // bytes written through a write-rare window
  'stage2Fault', // a stage-2 permission fault taken to EL2
  'cacheFlush', // a D-cache line clean/invalidate (aliasing caches)
  'barrier', // smp_mb() / DMB
  'cpaSplit', // a large page of the direct map split into a table of smaller ones (CPA)
] as const;

export type EventName = (typeof EVENT_NAMES)[number];
export const EVENT_COUNT = EVENT_NAMES.length;
export const EV = Object.fromEntries(EVENT_NAMES.map((n, i) => [n, i])) as {
  readonly [K in EventName]: number;
};

/** A cycle figure and where it comes from. `estimate` marks figures with no published source. */
export interface CostFigure {
  readonly cycles: number;
  readonly source: string;
  readonly estimate?: boolean;
}

export type CostTable = { readonly [K in EventName]?: CostFigure };

/** Turns a cost table (plus user overrides in cycles) into a flat per-event array. */
export function costVector(table: CostTable, overrides: Partial<Record<EventName, number>> = {}) {
  const v = new Float64Array(EVENT_COUNT);
  for (let i = 0; i < EVENT_COUNT; i++) {
    const name = EVENT_NAMES[i];
    const o = overrides[name];
    v[i] = o ?? table[name]?.cycles ?? 0;
  }
  return v;
}
