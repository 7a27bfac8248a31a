import * as core from '@prmem/core';
import {
  type AliasPlan,
  AliasWindow,
  type AliasWindowArch,
  BadSizeError,
  type Cpu,
  type Mm,
  type StepProgram,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { X86MechanismContext, X86MechanismPlugin } from './plugin.js';
import * as constants from '../constants.js';
import { resolveOnePage, resolveTargets, type TargetRun } from './targets.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { PAGE_SIZE } = core;
const { ALIAS_PROT, POKE_SLOT_SIZE } = constants;

/**
 * Lays the distinct target pages out in the CPU's poking slot: each page is mapped once
 * however many ops write it (a batch of small writes to one page costs one alias), and
 * pages that are contiguous in the kernel stay contiguous in the slot, so an op that
 * crosses a page boundary has a single delta.
 */
function planAliases(arch: X86MechanismContext, cpu: Cpu, runs: readonly TargetRun[]): AliasPlan {
  const slot = arch.pokingSlot(cpu);
  if (runs.length === 1 && runs[0].pas.length === 1) {
    // The common case (one small write): one alias page, no bookkeeping.
    return { va: [slot], pa: [runs[0].pas[0]], deltas: [slot - runs[0].first] };
  }
  const frames = new Map<number, number>(); // kernel page VA -> frame PA
  for (const r of runs)
    for (let i = 0; i < r.pas.length; i++) frames.set(r.first + i * PAGE_SIZE, r.pas[i]);
  const pages = [...frames.keys()].sort((a, b) => a - b);
  const aliasOf = new Map<number, number>();
  const va: number[] = [];
  const pa: number[] = [];
  let next = slot;
  for (let i = 0; i < pages.length; i++) {
    // A gap in the kernel VAs starts a new cluster at the next free alias page.
    if (i > 0 && pages[i] !== pages[i - 1] + PAGE_SIZE) next += PAGE_SIZE;
    const at = i === 0 ? slot : next;
    if (at + PAGE_SIZE > slot + POKE_SLOT_SIZE)
      throw new BadSizeError(
        pages.length,
        `pages in one window; the poking slot holds ${POKE_SLOT_SIZE / PAGE_SIZE}`,
      );
    aliasOf.set(pages[i], at);
    va.push(at);
    pa.push(frames.get(pages[i])!);
    next = at + PAGE_SIZE;
  }
  const deltas = runs.map((r) => aliasOf.get(r.first)! - r.first);
  return { va, pa, deltas };
}

/**
 * The text_poke window's instructions on x86: get_locked_pte + set_pte_at (the pte pointer
 * kept for the clear), pte_clear through it, INVLPG (this CPU, the PCID loaded), a CR3
 * switch. One per arch, made once: the window's order is core's `AliasWindow`.
 */
export function windowArch(arch: X86MechanismContext): AliasWindowArch {
  const pt = arch.pt;
  return {
    lock: arch.textMutex,
    labels: {
      irqOff: 'local_irq_save',
      map: 'set_pte alias',
      switchIn: 'switch_mm alias mm',
      clear: 'pte_clear aliases',
      flush: 'invlpg aliases',
      switchOut: 'switch_mm back',
      irqOn: 'local_irq_restore',
    },
    mapAlias(mm: Mm, va: number, pa: number): number {
      const ptep = pt.getLockedPte(mm, va);
      pt.setPte(ptep, pa, ALIAS_PROT);
      return ptep;
    },
    clearAlias(_mm: Mm, _va: number, ptep: number): void {
      pt.pteClear(ptep);
    },
    flushAlias(cpu: Cpu, _mm: Mm, va: number): void {
      arch.flushLocalPage(cpu, va);
    },
    switchMm(cpu: Cpu, mm: Mm): void {
      arch.switchMm(cpu, mm);
    },
  };
}

/** The general window of any ops, their pages resolved in `runs` (what a one-page window must equal). */
export function aliasWindowOf(
  arch: X86MechanismContext,
  cpu: Cpu,
  mm: Mm,
  runs: readonly TargetRun[],
  ops: readonly WrOp[],
): AliasWindow {
  return AliasWindow.of(windowArch(arch), cpu, mm, ops, planAliases(arch, cpu, runs));
}

/** The window of one op within one page (frame `pa`), or of any ops (pages in `runs`). */
export function aliasWindow(
  arch: X86MechanismContext,
  w: AliasWindowArch,
  cpu: Cpu,
  mm: Mm,
  ops: readonly WrOp[],
  pa: number,
  runs: readonly TargetRun[] | null,
): AliasWindow {
  return runs === null
    ? AliasWindow.single(w, cpu, mm, ops, arch.pokingSlot(cpu), pa)
    : AliasWindow.of(w, cpu, mm, ops, planAliases(arch, cpu, runs));
}

/** `alias-mm`: the text_poke form, one shared wr_mm, aliases mapped per write. */
export function aliasMm(arch: X86MechanismContext): WriteRareMechanism {
  const w = windowArch(arch);
  // Validates at once (resolveTargets throws before any step) and hands back the window.
  const program = (cpu: Cpu, ops: readonly WrOp[]): StepProgram => {
    const mm = arch.wrMm();
    // One small write, the common case: its page resolved without arrays.
    const pa = ops.length === 1 ? resolveOnePage(arch, cpu, ops[0]) : -1;
    return pa >= 0
      ? aliasWindow(arch, w, cpu, mm, ops, pa, null)
      : aliasWindow(arch, w, cpu, mm, ops, -1, resolveTargets(arch, cpu, ops));
  };
  return {
    name: 'alias-mm',
    summary:
      'temporary mm (text_poke): per write, non-global aliases in wr_mm, CR3 switch, local INVLPG, no IPI',
    batchable: true,
    program,
  };
}

export const ALIAS_MM: X86MechanismPlugin<'alias-mm'> = {
  name: 'alias-mm',
  needs: { aliasMm: true, wrPkey: false, mirror: false },
  create: aliasMm,
};
