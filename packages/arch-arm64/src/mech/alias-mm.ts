import {
  AliasWindow,
  type AliasWindowArch,
  BadSizeError,
  type Cpu,
  EV,
  type Mm,
  opLength,
  PAGE_SIZE,
  ProgramSequence,
  resolveOneWrFrame,
  resolveWrFrames,
  type StepProgram,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import { ALIAS_WINDOW_PAGES } from '../layout.js';
import type { Arm64MechanismContext, Arm64MechanismPlugin } from './plugin.js';

/** Splits ops into runs that each touch at most ALIAS_WINDOW_PAGES distinct pages, in order. */
function windows(ops: readonly WrOp[]): WrOp[][] {
  const out: WrOp[][] = [];
  let cur: WrOp[] = [];
  let pages = new Set<number>();
  for (const op of ops) {
    const mine = pagesOf(op);
    const merged = new Set([...pages, ...mine]);
    if (cur.length > 0 && merged.size > ALIAS_WINDOW_PAGES) {
      out.push(cur);
      cur = [];
      pages = new Set(mine);
    } else pages = merged;
    cur.push(op);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

function pagesOf(op: WrOp): number[] {
  const out: number[] = [];
  const end = op.va + opLength(op);
  for (let p = op.va - (op.va % PAGE_SIZE); p < end; p += PAGE_SIZE) out.push(p);
  return out;
}

/** wr_mm's alias PTEs: EL1-only, non-global, writable, never executable. */
const ALIAS_PROT = { write: true, exec: false, global: false } as const;

/**
 * The text_poke window's instructions on arm64: wr_mm's TTBR0-half PTEs set and cleared,
 * TLBI VALE1 with wr_mm's ASID (this CPU only) and one DSB, a TTBR0 switch. The order
 * is core's `AliasWindow`, the one x86 runs.
 */
function windowArch(arch: Arm64MechanismContext): AliasWindowArch {
  const m = arch.m;
  return {
    lock: arch.textMutex,
    labels: {
      irqOff: 'local_irq_save',
      map: 'alias-mm: wr_mm PTE set',
      switchIn: 'alias-mm: TTBR0 <- wr_mm',
      clear: 'alias-mm: wr_mm PTEs cleared',
      flush: 'alias-mm: TLBI VALE1 (wr_mm ASID); DSB',
      switchOut: 'alias-mm: TTBR0 <- previous mm',
      irqOn: 'alias-mm: closed',
    },
    // The pte pointer is kept from the set to the clear, as text_poke keeps it: the clear
    // writes the very descriptor the set wrote, with no second walk of wr_mm.
    mapAlias(mm: Mm, va: number, pa: number): number {
      return arch.pt.mapPte(mm, va, pa, ALIAS_PROT);
    },
    clearAlias(_mm: Mm, _va: number, pte: number): void {
      arch.pt.clearPte(pte);
    },
    flushAlias(cpu: Cpu, mm: Mm, va: number): void {
      cpu.tlb.flushPage(va, mm.asid);
      m.counters.charge(cpu.id, EV.localFlushPage);
    },
    flushed(cpu: Cpu): void {
      m.counters.charge(cpu.id, EV.dsb);
    },
    switchMm(cpu: Cpu, mm: Mm): void {
      arch.switchMm(cpu, mm);
    },
  };
}

/**
 * alias-mm: the x86 text_poke design on arm64. wr_mm's TTBR0 half gets EL1-only, non-global
 * writable aliases (AP = 00, nG, PXN, UXN) of the target pages at a randomized base; IRQs
 * off, TTBR0 switched with wr_mm's ASID, write, clear the PTEs, local TLBI VALE1 + DSB,
 * switch back. No other CPU ever has wr_mm loaded, so nothing is broadcast. Stage 1
 * only: a kernel that rewrites its own page tables defeats it. A batch over more pages
 * than a CPU's alias window holds runs in several windows, one after the other.
 */
export function aliasMm(arch: Arm64MechanismContext): WriteRareMechanism {
  const w = windowArch(arch);
  return {
    name: 'alias-mm',
    summary:
      'temporary wr_mm (TTBR0 + ASID) with non-global EL1 aliases, local TLBI only (stage 1 only: no defence against page-table attacks)',
    batchable: true,
    program(cpu: Cpu, ops: readonly WrOp[]): StepProgram {
      // Every target checked before the ops are split into windows (whose page lists a
      // huge length would blow up): a bad op anywhere writes nothing.
      // This CPU's own alias window: two CPUs' windows never map, or tear down, each other's.
      const base = arch.aliasBase + cpu.id * ALIAS_WINDOW_PAGES * PAGE_SIZE;
      // One op within one page (every wrAssign): one alias, no plan, no frame array.
      if (ops.length === 1) {
        const pfn = resolveOneWrFrame(cpu, 'alias-mm', ops[0], arch.m.layout.userEnd);
        if (pfn >= 0) return AliasWindow.single(w, cpu, arch.wrMm, ops, base, pfn * PAGE_SIZE);
      }
      const pfns = resolveWrFrames(cpu, 'alias-mm', ops, arch.m.layout.userEnd);
      // Each page's frame and its area, resolved once: every window pins exactly these, so
      // a frame that changed while an earlier window ran is refused (ESTALE), not used.
      const frames = new Map<number, { pfn: number; area: number }>();
      const fa = arch.m.phys.frameArea;
      let k = 0;
      for (const op of ops)
        for (const p of pagesOf(op)) {
          const pfn = pfns[k++];
          frames.set(p, { pfn, area: fa[pfn] });
        }
      // Every window is laid out before the first step: one too big refuses the batch whole.
      const programs = windows(ops).map((group) => {
        const pages = [...new Set(group.flatMap(pagesOf))].sort((a, b) => a - b);
        if (pages.length > ALIAS_WINDOW_PAGES)
          throw new BadSizeError(
            pages.length,
            `pages in one window; a CPU's alias window holds ${ALIAS_WINDOW_PAGES}`,
          );
        const slot = new Map(pages.map((p, i) => [p, i]));
        const at = (op: WrOp) => op.va - (op.va % PAGE_SIZE);
        const plan = {
          va: pages.map((_, i) => base + i * PAGE_SIZE),
          pa: pages.map((p) => (frames.get(p) as { pfn: number }).pfn * PAGE_SIZE),
          deltas: group.map((op) => base + (slot.get(at(op)) as number) * PAGE_SIZE - at(op)),
        };
        const areas = pages.map((p) => (frames.get(p) as { area: number }).area);
        return AliasWindow.of(w, cpu, arch.wrMm, group, plan, areas);
      });
      return programs.length === 1 ? programs[0] : new ProgramSequence(programs);
    },
  };
}

export const ALIAS_MM: Arm64MechanismPlugin<'alias-mm'> = {
  name: 'alias-mm',
  needs: { aliasMm: true, el2WriteRare: false },
  create: aliasMm,
};
