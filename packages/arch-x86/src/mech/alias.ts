import {
  applyOpsViaCpu,
  BadSizeError,
  type Cpu,
  EV,
  type Mm,
  PAGE_SIZE,
  type Steps,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { X86Arch } from '../arch.js';
import { ALIAS_PROT, POKE_SLOT_SIZE } from '../constants.js';
import { resolveTargets, type TargetRun } from './targets.js';

interface AliasPlan {
  /** Alias VA → frame PA, in the order they are mapped. */
  readonly aliases: readonly (readonly [number, number])[];
  /** Per op, the distance from its kernel VA to its alias. */
  readonly deltas: readonly number[];
}

/**
 * Lays the distinct target pages out in the CPU's poking slot: each page is mapped once
 * however many ops write it (a batch of small writes to one page costs one alias), and
 * pages that are contiguous in the kernel stay contiguous in the slot, so an op that
 * crosses a page boundary has a single delta.
 */
function planAliases(arch: X86Arch, cpu: Cpu, runs: readonly TargetRun[]): AliasPlan {
  const slot = arch.pokingSlot(cpu);
  if (runs.length === 1 && runs[0].pas.length === 1) {
    // The common case (one small write): one alias page, no bookkeeping.
    return { aliases: [[slot, runs[0].pas[0]]], deltas: [slot - runs[0].first] };
  }
  const frames = new Map<number, number>(); // kernel page VA -> frame PA
  for (const r of runs)
    for (let i = 0; i < r.pas.length; i++) frames.set(r.first + i * PAGE_SIZE, r.pas[i]);
  const pages = [...frames.keys()].sort((a, b) => a - b);
  const aliasOf = new Map<number, number>();
  const aliases: [number, number][] = [];
  let next = slot;
  for (let i = 0; i < pages.length; i++) {
    // A gap in the kernel VAs starts a new cluster at the next free alias page.
    if (i > 0 && pages[i] !== pages[i - 1] + PAGE_SIZE) next += PAGE_SIZE;
    const va = i === 0 ? slot : next;
    if (va + PAGE_SIZE > slot + POKE_SLOT_SIZE)
      throw new BadSizeError(
        pages.length,
        `pages in one window; the poking slot holds ${POKE_SLOT_SIZE / PAGE_SIZE}`,
      );
    aliasOf.set(pages[i], va);
    aliases.push([va, frames.get(pages[i])!]);
    next = va + PAGE_SIZE;
  }
  const deltas = runs.map((r) => aliasOf.get(r.first)! - r.first);
  return { aliases, deltas };
}

/** pte_clear of every mapped alias (a plain function: no closure per window). */
function clearAliases(arch: X86Arch, cpu: Cpu, mm: Mm, mapped: readonly number[]): void {
  for (const va of mapped) arch.pt.unmap(mm, va);
  arch.m.counters.charge(cpu.id, EV.pteWrite, mapped.length);
}

/**
 * One text_poke-style window in `mm`: IRQs off, map non-global supervisor aliases of the
 * target frames in the CPU's poking slot, switch CR3 to `mm`, write through the aliases,
 * clear them, INVLPG them while `mm` is still loaded (INVLPG only reaches the current
 * PCID), switch back, IRQs on. Nothing here sends an IPI. A faulting write unwinds every
 * step in `finally`.
 */
export function* aliasWindow(
  arch: X86Arch,
  cpu: Cpu,
  mm: Mm,
  runs: readonly TargetRun[],
  ops: readonly WrOp[],
): Steps {
  if (ops.length === 0) return;
  const m = arch.m;
  const plan = planAliases(arch, cpu, runs);
  const mapped: number[] = [];
  let prev: Mm | undefined;
  let irqOff = false;
  let cleared = false;
  let done = false;
  try {
    cpu.localIrqDisable();
    irqOff = true;
    m.openWindow(cpu);
    yield 'local_irq_disable';
    for (let i = 0; i < plan.aliases.length; i++) {
      const va = plan.aliases[i][0];
      arch.pt.map(mm, va, plan.aliases[i][1], ALIAS_PROT);
      mapped.push(va);
      m.counters.charge(cpu.id, EV.pteWrite);
      yield 'set_pte alias';
    }
    prev = cpu.mm;
    arch.switchMm(cpu, mm);
    yield 'switch_mm alias mm';
    if (ops.length === 1) yield* applyOpsViaCpu(cpu, ops, plan.deltas[0]);
    else for (let i = 0; i < ops.length; i++) yield* applyOpsViaCpu(cpu, [ops[i]], plan.deltas[i]);
    clearAliases(arch, cpu, mm, mapped);
    cleared = true;
    yield 'pte_clear aliases';
    for (const va of mapped) arch.flushLocalPage(cpu, va);
    mapped.length = 0;
    yield 'invlpg aliases';
    arch.switchMm(cpu, prev);
    prev = undefined;
    yield 'switch_mm back';
    m.closeWindow(cpu);
    cpu.localIrqEnable();
    irqOff = false;
    done = true;
    yield 'local_irq_enable';
  } finally {
    if (!done) {
      // Unwind without yielding: a fault (or an abandoned schedule) must not leave the
      // alias mapped, cached or loaded, nor the window open.
      const loaded = cpu.mm === mm;
      if (!cleared) clearAliases(arch, cpu, mm, mapped);
      if (loaded) for (const va of mapped) arch.flushLocalPage(cpu, va);
      if (prev) arch.switchMm(cpu, prev);
      if (irqOff) {
        m.closeWindow(cpu);
        cpu.localIrqEnable();
      }
    }
  }
}

/** `alias-mm`: the text_poke form, one shared wr_mm, aliases mapped per write. */
export function aliasMm(arch: X86Arch): WriteRareMechanism {
  return {
    name: 'alias-mm',
    summary:
      'temporary mm (text_poke): per write, non-global aliases in wr_mm, CR3 switch, local INVLPG, no IPI',
    batchable: true,
    // Not a generator itself: it validates at once and hands back the window's steps,
    // one generator level less on every step of every write.
    session(cpu: Cpu, ops: readonly WrOp[]): Steps {
      return aliasWindow(arch, cpu, arch.wrMm(), resolveTargets(arch, ops), ops);
    },
  };
}

/**
 * `alias-mm-per-pool`: one alias mm_struct per pool (the owner of the target's area),
 * static targets through the shared wr_mm. Ops of different pools get one window each.
 */
export function aliasMmPerPool(arch: X86Arch): WriteRareMechanism {
  return {
    name: 'alias-mm-per-pool',
    summary: 'temporary mm per pool: like alias-mm, with a separate mm_struct and PCID per pool',
    batchable: true,
    *session(cpu: Cpu, ops: readonly WrOp[]): Steps {
      if (ops.length === 0) return;
      const runs = resolveTargets(arch, ops);
      const groups = new Map<Mm, { runs: TargetRun[]; ops: WrOp[] }>();
      for (const r of runs) {
        const area = arch.m.findArea(r.op.va);
        const mm = arch.poolMm(area ? area.owner : -1);
        let g = groups.get(mm);
        if (!g) {
          g = { runs: [], ops: [] };
          groups.set(mm, g);
        }
        g.runs.push(r);
        g.ops.push(r.op);
      }
      for (const [mm, g] of groups) yield* aliasWindow(arch, cpu, mm, g.runs, g.ops);
    },
  };
}
