import * as core from '@prmem/core';
import {
  BadSizeError,
  canonical,
  type Cpu,
  deadlock,
  type Mm,
  OpWriter,
  ProgramSequence,
  type Step,
  type StepProgram,
  programMechanism,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { X86Arch } from '../arch.js';
import * as constants from '../constants.js';
import { resolveOnePage, resolveTargets, type TargetRun } from './targets.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { EV, PAGE_MASK, PAGE_SIZE } = core;
const { ALIAS_PROT, POKE_SLOT_SIZE } = constants;

interface AliasPlan {
  /** Alias VAs in the poking slot, in the order they are mapped. */
  readonly va: readonly number[];
  /** The frame behind each alias. */
  readonly pa: readonly number[];
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

/** Where an AliasWindow is: the next step it performs, in order. */
const IRQ_OFF = 0;
const MAP_ALIASES = 1;
const SWITCH_IN = 2;
/** The writes, one step each; the step after the last write clears the aliases. */
const WRITE = 3;
const INVLPG = 4;
const SWITCH_OUT = 5;
const IRQ_ON = 6;
const DONE = 7;

/**
 * One text_poke-style window in `mm`, step by step: IRQs off; map non-global supervisor
 * aliases of the target frames in the CPU's poking slot (get_locked_pte + set_pte_at,
 * keeping each pte pointer for the clear); switch CR3 to `mm`; write through the aliases;
 * clear them; INVLPG them while `mm` is still loaded (INVLPG only reaches the current
 * PCID); switch back; IRQs on. Nothing here sends an IPI. A faulting write, or a schedule
 * that abandons the window, unwinds every step in `abort`.
 *
 * Runs on every write-rare store: fields are read through `this` (no destructuring, no
 * tuples), and the step after the last write is the clear (no extra dispatch). The first
 * alias lives in scalar fields, so the common window (one small write, one alias page)
 * allocates no arrays; a window of several pages keeps them all in `plan` and `ptes`.
 */
export class AliasWindow implements StepProgram {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare private readonly arch: X86Arch;
  declare private readonly cpu: Cpu;
  declare private readonly mm: Mm;
  declare private readonly writer: OpWriter;
  /** Alias pages to map. */
  declare private readonly count: number;
  /** The alias of a one-page window (no plan): its VA in the poking slot, its frame, its pte pointer once mapped. */
  declare private readonly va0: number;
  declare private readonly pa0: number;
  declare private pte0: number;
  /** Every alias, when there are several (else null). */
  declare private readonly plan: AliasPlan | null;
  declare private readonly ptes: number[] | null;
  declare private phase: number;
  /** Aliases set so far (the first `mapped`). */
  declare private mapped: number;
  declare private prev: Mm | null;
  /** IRQ state found at the window's start (local_irq_save), restored at its end. */
  declare private irqsWereOff: boolean;
  /** Area id of the one-page window's frame when the window was built (see Machine.pinFrame). */
  declare private readonly area0: number;
  /** Area ids of the planned frames when the window was built. */
  declare private readonly areas: readonly number[] | null;

  private constructor(
    arch: X86Arch,
    cpu: Cpu,
    mm: Mm,
    ops: readonly WrOp[],
    va0: number,
    pa0: number,
    plan: AliasPlan | null,
  ) {
    this.arch = arch;
    this.cpu = cpu;
    this.mm = mm;
    this.writer = new OpWriter(
      cpu,
      ops,
      plan ? plan.deltas : va0 - (ops[0].va - (ops[0].va & PAGE_MASK)),
    );
    this.count = plan ? plan.va.length : 1;
    this.va0 = va0;
    this.pa0 = pa0;
    this.pte0 = -1;
    this.plan = plan;
    this.ptes = plan ? new Array<number>(plan.va.length) : null;
    this.phase = ops.length === 0 ? DONE : IRQ_OFF;
    this.mapped = 0;
    this.prev = null;
    this.irqsWereOff = false;
    const fa = arch.m.phys.frameArea;
    this.area0 = plan ? -1 : fa[pa0 / PAGE_SIZE];
    this.areas = plan ? plan.pa.map((pa) => fa[pa / PAGE_SIZE]) : null;
  }

  /** The window of one op within one page, whose frame is `pa`. */
  static single(arch: X86Arch, cpu: Cpu, mm: Mm, ops: readonly WrOp[], pa: number): AliasWindow {
    return new AliasWindow(arch, cpu, mm, ops, arch.pokingSlot(cpu), pa, null);
  }

  /** The window of any ops, their pages resolved in `runs`. */
  static of(
    arch: X86Arch,
    cpu: Cpu,
    mm: Mm,
    runs: readonly TargetRun[],
    ops: readonly WrOp[],
  ): AliasWindow {
    // With a plan, every alias (the first too) is read from it: va0/pa0 are not used.
    return new AliasWindow(arch, cpu, mm, ops, 0, 0, planAliases(arch, cpu, runs));
  }

  step(): Step | null {
    switch (this.phase) {
      case IRQ_OFF:
        if (!this.irqOff()) return this.arch.textMutex.waitLabel;
        return 'local_irq_save';
      case MAP_ALIASES:
        this.mapNext();
        return 'set_pte alias';
      case SWITCH_IN:
        this.switchIn();
        return 'switch_mm alias mm';
      case WRITE: {
        const label = this.writer.step();
        if (label !== null) return label;
        this.clearAliases();
        this.phase = INVLPG;
        return 'pte_clear aliases';
      }
      case INVLPG:
        this.invlpg();
        return 'invlpg aliases';
      case SWITCH_OUT:
        this.switchOut();
        return 'switch_mm back';
      case IRQ_ON:
        this.irqOn();
        return 'local_irq_restore';
      default:
        return null;
    }
  }

  /**
   * Every remaining step at once (`runProgram`): the actions `step` performs, in the same
   * order, from whatever phase the window is in, without a dispatch per step.
   */
  run(): void {
    if (this.phase === IRQ_OFF && !this.irqOff()) deadlock(this.arch.textMutex.waitLabel);
    while (this.phase === MAP_ALIASES) this.mapNext();
    if (this.phase === SWITCH_IN) this.switchIn();
    if (this.phase === WRITE) {
      while (this.writer.step() !== null);
      this.clearAliases();
      this.phase = INVLPG;
    }
    if (this.phase === INVLPG) this.invlpg();
    if (this.phase === SWITCH_OUT) this.switchOut();
    if (this.phase === IRQ_ON) this.irqOn();
  }

  // The actions, one per phase; each moves the window to its next phase.

  /**
   * text_mutex, then the frames pinned (each checked to be the write-rare frame the
   * window was built for), then IRQs off. False, with nothing changed, while another CPU
   * holds the mutex: windows share wr_mm, so one CPU's live alias is never there for
   * another CPU's window to write through.
   */
  private irqOff(): boolean {
    const { arch, cpu } = this;
    if (!arch.textMutex.tryLock(cpu)) return false;
    try {
      this.pinAll();
    } catch (e) {
      arch.textMutex.unlock(cpu);
      this.phase = DONE;
      throw e;
    }
    this.irqsWereOff = cpu.localIrqSave();
    arch.m.openWindow(cpu);
    this.phase = MAP_ALIASES;
    return true;
  }

  private pinAll(): void {
    const m = this.arch.m;
    if (this.plan === null) {
      m.pinFrame(this.cpu, this.pa0 / PAGE_SIZE, this.area0);
      return;
    }
    const pa = this.plan.pa;
    const areas = this.areas as readonly number[];
    let i = 0;
    try {
      for (; i < pa.length; i++) m.pinFrame(this.cpu, pa[i] / PAGE_SIZE, areas[i]);
    } catch (e) {
      for (let k = 0; k < i; k++) m.unpinFrame(pa[k] / PAGE_SIZE);
      throw e;
    }
  }

  /** The end of the window's hold: frames unpinned, text_mutex released. */
  private release(): void {
    const m = this.arch.m;
    if (this.plan === null) m.unpinFrame(this.pa0 / PAGE_SIZE);
    else for (const pa of this.plan.pa) m.unpinFrame(pa / PAGE_SIZE);
    this.arch.textMutex.unlock(this.cpu);
  }

  /** get_locked_pte + set_pte_at of the next alias, keeping the pte pointer for the clear. */
  private mapNext(): void {
    const i = this.mapped;
    const pt = this.arch.pt;
    if (this.plan === null) {
      this.pte0 = pt.getLockedPte(this.mm, this.va0);
      pt.setPte(this.pte0, this.pa0, ALIAS_PROT);
    } else {
      const ptep = pt.getLockedPte(this.mm, this.plan.va[i]);
      pt.setPte(ptep, this.plan.pa[i], ALIAS_PROT);
      (this.ptes as number[])[i] = ptep;
    }
    this.mapped = i + 1;
    this.arch.m.counters.charge(this.cpu.id, EV.pteWrite);
    if (this.arch.m.trace.enabled) this.traceAlias(i);
    if (this.mapped === this.count) this.phase = SWITCH_IN;
  }

  /** Trace details of the PTE write that mapped alias `i` (traced machines only). */
  private traceAlias(i: number): void {
    const va = this.plan === null ? this.va0 : this.plan.va[i];
    const pa = this.plan === null ? this.pa0 : this.plan.pa[i];
    this.arch.m.trace.annotate(this.cpu.id, {
      va: canonical(va),
      pa: `0x${pa.toString(16)}`,
      mm: this.mm.name,
    });
  }

  private switchIn(): void {
    this.prev = this.cpu.mm;
    this.arch.switchMm(this.cpu, this.mm);
    this.phase = WRITE;
  }

  private invlpg(): void {
    this.flushAliases();
    this.phase = SWITCH_OUT;
  }

  private switchOut(): void {
    this.arch.switchMm(this.cpu, this.prev as Mm);
    this.prev = null;
    this.phase = IRQ_ON;
  }

  private irqOn(): void {
    this.arch.m.closeWindow(this.cpu);
    this.cpu.localIrqRestore(this.irqsWereOff);
    this.release();
    this.phase = DONE;
  }

  /**
   * Unwinds without a step: a fault (or an abandoned schedule) must not leave the alias
   * mapped, cached or loaded, nor the window open.
   */
  abort(): void {
    const { arch, cpu, mm, phase } = this;
    if (phase === IRQ_OFF || phase === DONE) return;
    if (phase <= WRITE) this.clearAliases();
    if (phase <= INVLPG && cpu.mm === mm) this.flushAliases();
    if (this.prev) arch.switchMm(cpu, this.prev);
    arch.m.closeWindow(cpu);
    cpu.localIrqRestore(this.irqsWereOff);
    this.release();
    this.phase = DONE;
  }

  /** pte_clear of every alias set so far, through the pointers get_locked_pte gave. */
  private clearAliases(): void {
    const n = this.mapped;
    const pt = this.arch.pt;
    if (this.plan === null) {
      if (n === 1) pt.pteClear(this.pte0);
    } else {
      for (let i = 0; i < n; i++) pt.pteClear((this.ptes as number[])[i]);
    }
    this.arch.m.counters.charge(this.cpu.id, EV.pteWrite, n);
  }

  /** INVLPG of every mapped alias, on the mm loaded now. */
  private flushAliases(): void {
    if (this.plan === null) {
      if (this.mapped === 1) this.arch.flushLocalPage(this.cpu, this.va0);
    } else {
      for (let i = 0; i < this.mapped; i++) this.arch.flushLocalPage(this.cpu, this.plan.va[i]);
    }
  }
}

/** `alias-mm`: the text_poke form, one shared wr_mm, aliases mapped per write. */
export function aliasMm(arch: X86Arch): WriteRareMechanism {
  // Validates at once (resolveTargets throws before any step) and hands back the window.
  const program = (cpu: Cpu, ops: readonly WrOp[]): StepProgram => {
    const mm = arch.wrMm();
    // One small write, the common case: its page resolved without arrays.
    const pa = ops.length === 1 ? resolveOnePage(arch, cpu, ops[0]) : -1;
    return pa >= 0
      ? AliasWindow.single(arch, cpu, mm, ops, pa)
      : AliasWindow.of(arch, cpu, mm, resolveTargets(arch, cpu, ops), ops);
  };
  return programMechanism({
    name: 'alias-mm',
    summary:
      'temporary mm (text_poke): per write, non-global aliases in wr_mm, CR3 switch, local INVLPG, no IPI',
    batchable: true,
    program,
  });
}

/**
 * `alias-mm-per-pool`: one alias mm_struct per pool (the owner of the target's area),
 * static targets through the shared wr_mm. Ops of different pools get one window each.
 */
export function aliasMmPerPool(arch: X86Arch): WriteRareMechanism {
  const mmOf = (va: number): Mm => {
    const area = arch.m.findArea(va);
    return arch.poolMm(area ? area.owner : -1);
  };
  const program = (cpu: Cpu, ops: readonly WrOp[]): StepProgram => {
    const pa = ops.length === 1 ? resolveOnePage(arch, cpu, ops[0]) : -1;
    if (pa >= 0) return AliasWindow.single(arch, cpu, mmOf(ops[0].va), ops, pa);
    const groups = new Map<Mm, { runs: TargetRun[]; ops: WrOp[] }>();
    for (const r of resolveTargets(arch, cpu, ops)) {
      const mm = mmOf(r.op.va);
      let g = groups.get(mm);
      if (!g) {
        g = { runs: [], ops: [] };
        groups.set(mm, g);
      }
      g.runs.push(r);
      g.ops.push(r.op);
    }
    const windows = [...groups].map(([mm, g]) => AliasWindow.of(arch, cpu, mm, g.runs, g.ops));
    return windows.length === 1 ? windows[0] : new ProgramSequence(windows);
  };
  return programMechanism({
    name: 'alias-mm-per-pool',
    summary: 'temporary mm per pool: like alias-mm, with a separate mm_struct and PCID per pool',
    batchable: true,
    program,
  });
}
