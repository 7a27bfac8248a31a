import * as addr from './addr.js';
import type { Step, WrOp } from './backend.js';
import * as costs from './costs.js';
import type { Cpu } from './cpu.js';
import type { Mm } from './mm.js';
import { type CpuMutex, deadlock } from './mutex.js';
import type { StepProgram } from './program.js';
import { OpWriter } from './wrapply.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { PAGE_MASK, PAGE_SIZE } = addr;
const { EV } = costs;

/** The step labels of a text_poke window, in its order, as the architecture names them. */
export interface AliasWindowLabels {
  /** Lock taken, frames pinned, IRQs off. */
  readonly irqOff: Step;
  /** One alias PTE set (a step per alias). */
  readonly map: Step;
  /** The alias mm loaded: the window is open from here… */
  readonly switchIn: Step;
  /** Every alias PTE cleared. */
  readonly clear: Step;
  /** Every alias's TLB entry dropped on this CPU. */
  readonly flush: Step;
  /** …to here, where it closes and the previous mm is loaded again. */
  readonly switchOut: Step;
  /** IRQs restored, frames unpinned, lock released. */
  readonly irqOn: Step;
}

/**
 * What an architecture supplies for a text_poke-style window: the page-table and TLB
 * instructions. The window charges the PTE writes; the rest charge what they do.
 */
export interface AliasWindowArch {
  /** Serialises windows that share an alias mm (text_mutex). */
  readonly lock: CpuMutex;
  readonly labels: AliasWindowLabels;
  /** Sets the alias PTE `va` → frame `pa` in `mm`; returns what `clearAlias` needs (a pte pointer). */
  mapAlias(mm: Mm, va: number, pa: number): number;
  /** Clears the alias PTE that `mapAlias` set. */
  clearAlias(mm: Mm, va: number, handle: number): void;
  /** Drops the alias's translation on this CPU (INVLPG, TLBI VALE1 with mm's ASID). */
  flushAlias(cpu: Cpu, mm: Mm, va: number): void;
  /** After the flushes of a window's `n` aliases (a DSB), if the architecture needs one. */
  flushed?(cpu: Cpu, n: number): void;
  /** The context switch (CR3 / TTBR0 write). */
  switchMm(cpu: Cpu, mm: Mm): void;
}

/**
 * Where the aliases of a window over several pages go: alias VAs in mapping order, the
 * frame behind each, and per op the distance from its kernel VA to its alias.
 */
export interface AliasPlan {
  readonly va: readonly number[];
  readonly pa: readonly number[];
  readonly deltas: readonly number[];
}

/** Where an AliasWindow is: the next step it performs, in order. */
const IRQ_OFF = 0;
const MAP_ALIASES = 1;
const SWITCH_IN = 2;
/** The writes, one step each; the step after the last write clears the aliases. */
const WRITE = 3;
const FLUSH = 4;
const SWITCH_OUT = 5;
const IRQ_ON = 6;
const DONE = 7;

/**
 * One text_poke-style window in `mm`, step by step — the order written once, for every
 * architecture: the lock, the frames pinned (each checked to be the write-rare frame the
 * window was built for), IRQs off; map non-global supervisor aliases of the target frames
 * (one step each); switch to `mm` (the window, `openWindow`, is open while it is
 * loaded); write through the aliases; clear them; flush them on
 * this CPU while `mm` is still loaded (x86's INVLPG only reaches the current PCID); switch
 * back; IRQs on. Nothing here sends an IPI. A faulting write, or a schedule that abandons
 * the window, unwinds every step in `abort`.
 *
 * Runs on every write-rare store: fields are read through `this` (no destructuring, no
 * tuples). The first alias lives in scalar fields, so the common window (one small write,
 * one alias page) allocates no arrays; a window of several pages keeps them in `plan`.
 */
export class AliasWindow implements StepProgram {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare private readonly arch: AliasWindowArch;
  declare private readonly cpu: Cpu;
  declare private readonly mm: Mm;
  declare private readonly writer: OpWriter;
  /** Alias pages to map. */
  declare private readonly count: number;
  /** The alias of a one-page window (no plan): its VA, its frame, its handle once mapped. */
  declare private readonly va0: number;
  declare private readonly pa0: number;
  declare private handle0: number;
  /** Every alias, when there are several (else null), and their handles. */
  declare private readonly plan: AliasPlan | null;
  declare private readonly handles: number[] | null;
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
    arch: AliasWindowArch,
    cpu: Cpu,
    mm: Mm,
    ops: readonly WrOp[],
    va0: number,
    pa0: number,
    plan: AliasPlan | null,
    areas: readonly number[] | null,
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
    this.handle0 = -1;
    this.plan = plan;
    this.handles = plan ? new Array<number>(plan.va.length) : null;
    this.phase = ops.length === 0 ? DONE : IRQ_OFF;
    this.mapped = 0;
    this.prev = null;
    this.irqsWereOff = false;
    const fa = cpu.owner.phys.frameArea;
    this.area0 = plan ? -1 : fa[pa0 / PAGE_SIZE];
    this.areas = plan ? (areas ?? plan.pa.map((pa) => fa[pa / PAGE_SIZE])) : null;
  }

  /** The window of ops within one page, whose frame is `pa`, aliased at `va`. */
  static single(
    arch: AliasWindowArch,
    cpu: Cpu,
    mm: Mm,
    ops: readonly WrOp[],
    va: number,
    pa: number,
  ): AliasWindow {
    return new AliasWindow(arch, cpu, mm, ops, va, pa, null, null);
  }

  /**
   * The window of any ops, laid out by `plan`; `areas`: the area id of each planned frame
   * when its target was resolved (default: now).
   */
  static of(
    arch: AliasWindowArch,
    cpu: Cpu,
    mm: Mm,
    ops: readonly WrOp[],
    plan: AliasPlan,
    areas?: readonly number[],
  ): AliasWindow {
    return new AliasWindow(arch, cpu, mm, ops, 0, 0, plan, areas ?? null);
  }

  step(): Step | null {
    const labels = this.arch.labels;
    switch (this.phase) {
      case IRQ_OFF:
        if (!this.irqOff()) return this.arch.lock.waitLabel;
        return labels.irqOff;
      case MAP_ALIASES:
        this.mapNext();
        return labels.map;
      case SWITCH_IN:
        this.switchIn();
        return labels.switchIn;
      case WRITE: {
        const label = this.writer.step();
        if (label !== null) return label;
        this.clearAliases();
        this.phase = FLUSH;
        return labels.clear;
      }
      case FLUSH:
        this.flushAliases();
        this.phase = SWITCH_OUT;
        return labels.flush;
      case SWITCH_OUT:
        this.switchOut();
        return labels.switchOut;
      case IRQ_ON:
        this.irqOn();
        return labels.irqOn;
      default:
        return null;
    }
  }

  /**
   * Every remaining step at once (`runProgram`): the actions `step` performs, in the same
   * order, without a dispatch and a label per step — kept because it pays on the hottest
   * path there is (one `wrAssign` on x86 alias-mm: about 8 % of its instructions, see
   * docs/decisions.md §8).
   */
  run(): void {
    if (this.phase === IRQ_OFF && !this.irqOff()) deadlock(this.arch.lock.waitLabel);
    while (this.phase === MAP_ALIASES) this.mapNext();
    if (this.phase === SWITCH_IN) this.switchIn();
    if (this.phase === WRITE) {
      while (this.writer.step() !== null);
      this.clearAliases();
      this.phase = FLUSH;
    }
    if (this.phase === FLUSH) {
      this.flushAliases();
      this.phase = SWITCH_OUT;
    }
    if (this.phase === SWITCH_OUT) this.switchOut();
    if (this.phase === IRQ_ON) this.irqOn();
  }

  /**
   * Unwinds without a step: a fault (or an abandoned schedule) must not leave an alias
   * mapped, cached or loaded, nor the window open.
   */
  abort(): void {
    const { cpu, mm, phase } = this;
    if (phase === IRQ_OFF || phase === DONE) return;
    if (phase <= WRITE) this.clearAliases();
    // Entries of the aliases exist only once `mm` was loaded (and until the flush).
    if (phase <= FLUSH && cpu.mm === mm) this.flushAliases();
    if (this.prev) this.switchOut();
    this.irqOn();
  }

  /** The alias mm loaded; the window is open while it is: only then can this CPU write. */
  private switchIn(): void {
    this.prev = this.cpu.mm;
    this.arch.switchMm(this.cpu, this.mm);
    this.cpu.owner.openWindow(this.cpu);
    this.phase = WRITE;
  }

  /** The window closed, the previous mm loaded again. */
  private switchOut(): void {
    this.cpu.owner.closeWindow(this.cpu);
    this.arch.switchMm(this.cpu, this.prev as Mm);
    this.prev = null;
    this.phase = IRQ_ON;
  }

  /**
   * The lock, then the frames pinned, then IRQs off. False, with nothing changed, while
   * another CPU holds the lock: windows share the alias mm, so one CPU's live alias is
   * never there for another CPU's window to write through.
   */
  private irqOff(): boolean {
    const { arch, cpu } = this;
    if (!arch.lock.tryLock(cpu)) return false;
    try {
      this.pinAll();
    } catch (e) {
      arch.lock.unlock(cpu);
      this.phase = DONE;
      throw e;
    }
    this.irqsWereOff = cpu.localIrqSave();
    this.phase = MAP_ALIASES;
    return true;
  }

  private pinAll(): void {
    const m = this.cpu.owner;
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

  /** IRQs restored, frames unpinned, lock released. */
  private irqOn(): void {
    const { cpu } = this;
    const m = cpu.owner;
    cpu.localIrqRestore(this.irqsWereOff);
    if (this.plan === null) m.unpinFrame(this.pa0 / PAGE_SIZE);
    else for (const pa of this.plan.pa) m.unpinFrame(pa / PAGE_SIZE);
    this.arch.lock.unlock(cpu);
    this.phase = DONE;
  }

  /** The next alias PTE, its handle kept for the clear. */
  private mapNext(): void {
    const i = this.mapped;
    const va = this.plan === null ? this.va0 : this.plan.va[i];
    const pa = this.plan === null ? this.pa0 : this.plan.pa[i];
    const handle = this.arch.mapAlias(this.mm, va, pa);
    if (this.plan === null) this.handle0 = handle;
    else (this.handles as number[])[i] = handle;
    this.mapped = i + 1;
    const m = this.cpu.owner;
    m.counters.charge(this.cpu.id, EV.pteWrite);
    if (m.trace.enabled) this.traceAlias(va, pa);
    if (this.mapped === this.count) this.phase = SWITCH_IN;
  }

  /** Trace details of the PTE write that mapped an alias (traced machines only). */
  private traceAlias(va: number, pa: number): void {
    this.cpu.owner.trace.annotate(this.cpu.id, {
      va: addr.canonical(va),
      pa: `0x${pa.toString(16)}`,
      mm: this.mm.name,
    });
  }

  /** Clears every alias set so far, through the handles `mapAlias` gave. */
  private clearAliases(): void {
    const n = this.mapped;
    if (this.plan === null) {
      if (n === 1) this.arch.clearAlias(this.mm, this.va0, this.handle0);
    } else {
      const handles = this.handles as number[];
      for (let i = 0; i < n; i++) this.arch.clearAlias(this.mm, this.plan.va[i], handles[i]);
    }
    this.cpu.owner.counters.charge(this.cpu.id, EV.pteWrite, n);
  }

  /** Drops every mapped alias's translation on this CPU. */
  private flushAliases(): void {
    const { arch, cpu, mm } = this;
    const n = this.mapped;
    if (this.plan === null) {
      if (n === 1) arch.flushAlias(cpu, mm, this.va0);
    } else {
      for (let i = 0; i < n; i++) arch.flushAlias(cpu, mm, this.plan.va[i]);
    }
    if (n > 0 && arch.flushed) arch.flushed(cpu, n);
  }
}
