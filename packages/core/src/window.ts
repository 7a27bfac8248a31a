import type { Step } from './backend.js';
import type { Cpu } from './cpu.js';
import type { CpuMutex } from './mutex.js';
import type { StepProgram } from './program.js';

/**
 * What a window holds while it is open, besides its brackets: the lock that serialises
 * it with other CPUs' windows, and the target frames it pins (resolved when the window
 * was built, checked again when it opens: see Machine.pinFrame).
 */
export interface WindowHold {
  readonly lock?: CpuMutex;
  readonly pfns?: readonly number[];
  /** The area id of each frame when the window was built. */
  readonly areas?: readonly number[];
}

/**
 * One bracket of a write-rare window: a step that opens something on the CPU (IRQs off,
 * CR0.WP clear, a PKRS key open, a CR3 switch) and the step that closes it again. What
 * `enter` returns (the mm it switched away from, say) is handed back to `exit`.
 */
export interface WindowBracket {
  readonly enter: (cpu: Cpu) => unknown;
  readonly exit: (cpu: Cpu, saved: unknown) => void;
  /** Labels of the opening and the closing step. */
  readonly open: Step;
  readonly close: Step;
}

/**
 * A window made of nested brackets around the writes: each bracket's opening step in
 * order, the writes (the steps of `writer`), each closing step in reverse order. A throw
 * or an abandoned schedule closes the brackets that are open, innermost first: the
 * `try`/`finally` of a generator-written window, as a step program. The brackets are the
 * mechanism's, made once; a window allocates itself and the values `enter` saves.
 */
export class BracketWindow implements StepProgram {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare private readonly cpu: Cpu;
  declare private readonly brackets: readonly WindowBracket[];
  declare private readonly writer: StepProgram;
  declare private readonly saved: unknown[];
  /**
   * Where the window is, for n brackets: [0, n) opens bracket `pos`; n writes; n+1 … 2n
   * closes bracket 2n−pos; 2n+1 is done.
   */
  declare private pos: number;
  declare private readonly hold: WindowHold | null;
  /** Whether the lock is taken and the frames pinned. */
  declare private held: boolean;

  /** `empty`: a window with nothing to write takes no step at all (as a session with no ops). */
  constructor(
    cpu: Cpu,
    brackets: readonly WindowBracket[],
    writer: StepProgram,
    empty = false,
    hold: WindowHold | null = null,
  ) {
    this.cpu = cpu;
    this.brackets = brackets;
    this.writer = writer;
    this.saved = new Array<unknown>(brackets.length);
    this.pos = empty ? 2 * brackets.length + 1 : 0;
    this.hold = hold;
    this.held = false;
  }

  step(): Step | null {
    const n = this.brackets.length;
    const pos = this.pos;
    if (pos === 0 && !this.held && this.hold !== null) {
      const label = this.take(this.hold);
      if (label !== null) return label;
    }
    if (pos < n) {
      this.saved[pos] = this.brackets[pos].enter(this.cpu);
      this.pos = pos + 1;
      return this.brackets[pos].open;
    }
    if (pos === n) {
      const label = this.writer.step();
      if (label !== null) return label;
      this.pos = n + 1;
    }
    if (this.pos > 2 * n) return null;
    const i = 2 * n - this.pos;
    this.pos++;
    this.exit(i);
    if (this.pos > 2 * n) this.release();
    return this.brackets[i].close;
  }

  /** Closes the brackets still open, innermost first; the writes have nothing to undo. */
  abort(): void {
    const n = this.brackets.length;
    if (this.pos === n) this.writer.abort();
    const open = this.pos <= n ? this.pos : 2 * n + 1 - this.pos;
    this.pos = 2 * n + 1;
    for (let i = open - 1; i >= 0; i--) this.exit(i);
    this.release();
  }

  /** Takes the lock and pins the frames; the lock's wait label while another CPU holds it. */
  private take(hold: WindowHold): Step | null {
    if (hold.lock && !hold.lock.tryLock(this.cpu)) return hold.lock.waitLabel;
    if (hold.pfns) {
      const m = this.cpu.owner;
      let i = 0;
      try {
        for (; i < hold.pfns.length; i++) m.pinFrame(this.cpu, hold.pfns[i], hold.areas?.[i] ?? -1);
      } catch (e) {
        for (let k = 0; k < i; k++) m.unpinFrame(hold.pfns[k]);
        hold.lock?.unlock(this.cpu);
        this.pos = 2 * this.brackets.length + 1;
        throw e;
      }
    }
    this.held = true;
    return null;
  }

  private release(): void {
    if (!this.held || this.hold === null) return;
    this.held = false;
    const { lock, pfns } = this.hold;
    if (pfns) for (const pfn of pfns) this.cpu.owner.unpinFrame(pfn);
    lock?.unlock(this.cpu);
  }

  private exit(i: number): void {
    const saved = this.saved[i];
    this.saved[i] = undefined;
    this.brackets[i].exit(this.cpu, saved);
  }
}

/**
 * Programs run one after the other as one program (several windows of one operation,
 * e.g. one per alias mm). Abort unwinds the program that is running; those before it
 * have finished and those after it have not started.
 */
export class ProgramSequence implements StepProgram {
  declare private readonly programs: readonly StepProgram[];
  declare private i: number;

  constructor(programs: readonly StepProgram[]) {
    this.programs = programs;
    this.i = 0;
  }

  step(): Step | null {
    while (this.i < this.programs.length) {
      const label = this.programs[this.i].step();
      if (label !== null) return label;
      this.i++;
    }
    return null;
  }

  abort(): void {
    if (this.i < this.programs.length) this.programs[this.i].abort();
    this.i = this.programs.length;
  }
}
