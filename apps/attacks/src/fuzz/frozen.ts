/**
 * The refused-call check's picture of the machine: what an attacker's refused call must
 * leave exactly as it was — physical memory, frame flags, the free count, areas, pools,
 * CPU state, and (strict) counters and every TLB entry.
 */
import type { Machine, Tlb } from '@prmem/core';
import { MemorySnapshot } from './memsnap.js';
import type { World } from './world.js';

/** Physical memory before a refused call: one snapshot, reused by every check. */
const memory = new MemorySnapshot();

export interface Frozen {
  readonly flags: Uint16Array;
  readonly free: number;
  readonly areas: string;
  readonly pools: string;
  readonly cpus: string;
  readonly stats: string;
  readonly tlbs: readonly number[];
}

/**
 * The picture, physical memory aside. Not strict (a plain store's fault may fill a TLB
 * entry and count its walk): counters and TLBs are left out.
 */
export function freeze(m: Machine, w: World, strict: boolean): Frozen {
  const cpus = Array.from({ length: m.cpuCount }, (_, i) => m.cpu(i));
  return {
    flags: m.phys.frameFlags.slice(),
    free: m.phys.freeFrames,
    areas: JSON.stringify(m.liveAreas.map((a) => [a.id, a.level, a.flags])),
    pools: JSON.stringify(w.pools.map((p) => [p.destroyed, p.areas.length])),
    cpus: JSON.stringify(
      cpus.map((c) => [c.mm.id, c.asid, c.irqsDisabled, c.preemptCount, m.windowOpen(c)]),
    ),
    stats: strict ? JSON.stringify(m.stats()) : '',
    tlbs: strict ? tlbState(cpus.map((c) => c.tlb)) : [],
  };
}

/** Snapshots physical memory (before the call; `compareFrozen` checks against it). */
export function freezeMemory(m: Machine): void {
  memory.take(m.phys.bytes);
}

/** The first thing that differs, or undefined. */
export function compareFrozen(m: Machine, a: Frozen, b: Frozen): string | undefined {
  const pa = memory.firstChange(m.phys.bytes);
  if (pa >= 0) return `physical memory (first at pa 0x${pa.toString(16)})`;
  if (Buffer.compare(Buffer.from(a.flags.buffer), Buffer.from(b.flags.buffer)) !== 0)
    return 'frame flags';
  for (const k of ['free', 'areas', 'pools', 'cpus', 'stats'] as const) if (a[k] !== b[k]) return k;
  if (a.tlbs.length !== b.tlbs.length || a.tlbs.some((x, i) => x !== b.tlbs[i])) return 'tlbs';
  return undefined;
}

/**
 * Every valid entry of each TLB, as numbers: exactly what `Tlb.entries()` reports (slot,
 * tag — the VA and ASID —, PA, flags, fast write; a large entry's span), without an
 * object per entry. Each TLB's list starts with -1; a slot is >= 0, a large entry's
 * index -2 and down.
 */
export function tlbState(tlbs: readonly Tlb[]): number[] {
  const out: number[] = [];
  for (const t of tlbs) {
    out.push(-1);
    for (let i = 0; i < t.size; i++) {
      const tag = t.tag[i];
      if (tag >= 0) out.push(i, tag, t.pa[i], t.flags[i], t.wtag[i] === tag ? 1 : 0);
    }
    for (let li = 0; li < t.lspan.length; li++) {
      const span = t.lspan[li];
      if (span !== 0) out.push(-2 - li, t.ltag[li], span, t.lpa[li], t.lflags[li]);
    }
  }
  return out;
}
