/**
 * A small reference backend (test use only): a 4-level, 9-bits-per-level radix table with x86-like bits
 * (P 0, RW 1, US 2, A 5, D 6, G 8, NX 63), IPI shootdowns, and one write-rare mechanism
 * ('toy-remap': make the pages writable, write, make them read-only again). It exists so
 * core can be tested without any real architecture package, and as the worked example of
 * the README's "Writing a backend": it passes the conformance kit, implements two of the
 * optional hooks (`leafWritable`, `onFault`), and writes its mechanism as a step program.
 */
import {
  type ArchImpl,
  loadMm,
  type Backend,
  type Cpu,
  EV,
  FAULT,
  type LeafMemo,
  type Machine,
  type Mm,
  type MmKind,
  PAGE_SIZE,
  type PteProt,
  type StepProgram,
  type Steps,
  TLBF,
  WalkResult,
  type WriteRareMechanism,
  type WrOp,
  drain,
  isWrFrame,
  OpWriter,
  opLength,
  refuseWrTarget,
  resolveWrFrames,
  UnknownMechanismError,
  ACC_WRITE,
  ACC_EXEC,
} from '../index.js';

const P = 1;
const RW = 2;
const US = 4;
const A = 0x20;
const D = 0x40;
const G = 0x100;
const NX_HI = 0x8000_0000;

export const TOY_LAYOUT = {
  directMap: 0x8880_0000_0000,
  vmallocStart: 0xc900_0000_0000,
  vmallocEnd: 0xe900_0000_0000,
  wrStart: 0xf000_0000_0000,
  wrEnd: 0xf100_0000_0000,
  imageStart: 0xffff_8000_0000,
  userEnd: 0x8000_0000_0000,
  markers: [
    [0, 'User Space'],
    [0x8000_0000_0000, 'Kernel Space'],
    [0x8880_0000_0000, 'Low Kernel Mapping'],
    [0xc900_0000_0000, 'vmalloc() Area'],
    [0xf000_0000_0000, 'Write-rare Area'],
    [0xffff_8000_0000, 'High Kernel Mapping'],
  ] as const,
};

export interface ToyOptions {
  /** Skip the remote shootdown in setProtection (an injected bug, for tests). */
  skipShootdown?: boolean;
  /** Leave the direct-map alias writable in setProtection (an injected bug, for tests). */
  keepAliasWritable?: boolean;
}

export function toyBackend(opts: ToyOptions = {}): Backend {
  return {
    name: 'toy',
    description: 'test-only radix MMU',
    layout: TOY_LAYOUT,
    tlbMaintenance: 'ipi',
    costs: {
      memAccess: { cycles: 1, source: 'test' },
      pageWalk: { cycles: 30, source: 'test' },
      ipiSent: { cycles: 500, source: 'test' },
      ipiHandled: { cycles: 700, source: 'test' },
      localFlushPage: { cycles: 100, source: 'test' },
      pteWrite: { cycles: 5, source: 'test' },
    },
    mechanisms: ['toy-remap'],
    defaultMechanism: 'toy-remap',
    attach: (m) => new ToyArch(m, opts),
  };
}

/** Bytes an entry of each level maps (index: level). */
const LEVEL_SPAN = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39];

const idx = (va: number, level: number) => Math.floor(va / 2 ** (12 + 9 * (level - 1))) % 512;

class ToyArch implements ArchImpl {
  readonly pt;
  /**
   * The direct map at boot: the entries and tables (allocated in the same order) that
   * mapping it page by page makes, with one walk per leaf table instead of per page.
   */
  readonly mapDirectMap: (mm: Mm, frames: number) => void;
  /** Page → write-rare windows open on it. */
  private readonly openers = new Map<number, number>();
  constructor(
    private readonly m: Machine,
    private readonly opts: ToyOptions,
  ) {
    const phys = m.phys;
    const entryAt = (table: number, i: number) => table + i * 8;
    const lo = (pa: number) => phys.u32[pa >>> 2];
    const hi = (pa: number) => phys.u32[(pa >>> 2) + 1];
    const set = (pa: number, l: number, h: number) => {
      phys.u32[pa >>> 2] = l >>> 0;
      phys.u32[(pa >>> 2) + 1] = h >>> 0;
    };
    const flagsOf = (l: number, h: number) =>
      TLBF.R |
      (l & RW ? TLBF.W : 0) |
      (l & US ? TLBF.U : 0) |
      (l & G ? TLBF.G : 0) |
      (l & D ? TLBF.D : 0) |
      (h & NX_HI ? 0 : TLBF.X);
    const leafEntry = (mm: Mm, va: number, alloc: boolean): number => {
      let table = mm.rootPa;
      for (let level = 4; level > 1; level--) {
        const e = entryAt(table, idx(va, level));
        if (!(lo(e) & P)) {
          if (!alloc) return -1;
          const pfn = phys.allocFrame(mm.id);
          phys.frameFlags[pfn] |= 0x2; // PG.PAGETABLE
          set(e, pfn * PAGE_SIZE + (P | RW | US), 0);
        }
        table = (lo(e) & ~0xfff) >>> 0;
      }
      return entryAt(table, idx(va, 1));
    };
    /**
     * The audit's walk: only leaves whose frame carries a flag of `mask`. Integer indexes
     * over the typed arrays and no closure per table, so the empty entries and the leaves
     * of unprotected memory that make up nearly every table cost a load and a test each.
     */
    const scanMasked = (
      table: number,
      level: number,
      base: number,
      fn: (va: number, pa: number, flags: number, level: number) => void,
      mask: number,
      memo?: LeafMemo,
    ): void => {
      const u32 = phys.u32;
      const frameFlags = phys.frameFlags;
      const frames = phys.frameCount;
      // A table outside memory reads as empty, as the plain walk's out-of-range loads do.
      if (table + PAGE_SIZE > phys.size) return;
      const w0 = table >>> 2;
      const step = LEVEL_SPAN[level];
      // With a memo: an unchanged table is visited at the slots its last scan picked.
      const cached = memo?.slotsOf(table, level, PAGE_SIZE);
      const picks = cached === undefined ? memo?.pickBuffer(level, 512) : undefined;
      let picked = 0;
      const n = cached === undefined ? 512 : cached.length;
      for (let k = 0; k < n; k++) {
        const i = cached === undefined ? k : cached[k];
        const l = u32[w0 + 2 * i];
        if ((l & P) === 0) continue;
        if (level === 1) {
          const pfn = l >>> 12;
          if (pfn >= frames || (frameFlags[pfn] & mask) === 0) continue;
          if (picks !== undefined) picks[picked++] = i;
          fn(base + i * step, (l & ~0xfff) >>> 0, flagsOf(l, u32[w0 + 2 * i + 1]), 1);
        } else {
          if (picks !== undefined) picks[picked++] = i;
          scanMasked((l & ~0xfff) >>> 0, level - 1, base + i * step, fn, mask, memo);
        }
      }
      if (picks !== undefined) memo?.keepSlots(table, level, PAGE_SIZE, picks, picked);
    };
    /** The root level of `scanMasked` with a memo: a root entry seen in another mm replays. */
    const scanRoot = (
      root: number,
      fn: (va: number, pa: number, flags: number, level: number) => void,
      mask: number,
      memo: LeafMemo,
    ): void => {
      const u32 = phys.u32;
      if (root + PAGE_SIZE > phys.size) return;
      const record = (va: number, pa: number, f: number, level: number) => {
        memo.add(va, pa, f, level);
        fn(va, pa, f, level);
      };
      const w0 = root >>> 2;
      // The root's present slots, as a table's in `scanMasked` (a kind of their own: 5).
      const cached = memo.slotsOf(root, 5, PAGE_SIZE);
      const picks = cached === undefined ? memo.pickBuffer(5, 512) : undefined;
      let picked = 0;
      const n = cached === undefined ? 512 : cached.length;
      for (let k = 0; k < n; k++) {
        const i = cached === undefined ? k : cached[k];
        const l = u32[w0 + 2 * i];
        if ((l & P) === 0) continue;
        if (picks !== undefined) picks[picked++] = i;
        const h = u32[w0 + 2 * i + 1];
        const r = memo.find(i, l, h);
        if (r >= 0) {
          memo.replay(r, fn);
          continue;
        }
        memo.begin(i, l, h);
        scanMasked((l & ~0xfff) >>> 0, 3, i * LEVEL_SPAN[4], record, mask, memo);
        memo.end();
      }
      if (picks !== undefined) memo.keepSlots(root, 5, PAGE_SIZE, picks, picked);
    };
    // A new entry is clean: the walk sets A, and D on a write it allows, as x86's MMU does.
    const encode = (pa: number, prot: PteProt, ad = 0) =>
      [
        (pa | P | ad | (prot.write ? RW : 0) | (prot.user ? US : 0) | (prot.global ? G : 0)) >>> 0,
        prot.exec ? 0 : NX_HI,
      ] as const;
    this.pt = {
      levels: 4,
      map: (mm: Mm, va: number, pa: number, prot: PteProt) => {
        const e = leafEntry(mm, va, true);
        const [l, h] = encode(pa, prot);
        set(e, l, h);
        return 1;
      },
      unmap: (mm: Mm, va: number) => {
        const e = leafEntry(mm, va, false);
        if (e < 0 || !(lo(e) & P)) return false;
        set(e, 0, 0);
        return true;
      },
      protect: (mm: Mm, va: number, prot: PteProt) => {
        const e = leafEntry(mm, va, false);
        if (e < 0 || !(lo(e) & P)) return false;
        const [l, h] = encode((lo(e) & ~0xfff) >>> 0, prot, lo(e) & (A | D));
        set(e, l, h);
        return true;
      },
      lookup: (mm: Mm, va: number, out: WalkResult) => {
        const e = leafEntry(mm, va, false);
        if (e < 0 || !(lo(e) & P)) return false;
        out.pa = (lo(e) & ~0xfff) >>> 0;
        out.flags = flagsOf(lo(e), hi(e));
        out.level = 1;
        out.leafPa = e;
        out.fault = 0;
        return true;
      },
      walk: (_cpu: Cpu, mm: Mm, write: boolean, out: WalkResult) => {
        // Inline, with the VA from `out`: a miss must not allocate (see WalkResult.va).
        const va = out.va;
        let table = mm.rootPa;
        let e = 0;
        for (let level = 4; level >= 1; level--) {
          e = table + (Math.floor(va / 2 ** (12 + 9 * (level - 1))) % 512) * 8;
          if (!(phys.u32[e >>> 2] & P)) return FAULT.NOT_PRESENT;
          table = (phys.u32[e >>> 2] & ~0xfff) >>> 0;
        }
        let l = phys.u32[e >>> 2] | A;
        if (write && l & RW) l |= D;
        phys.u32[e >>> 2] = l >>> 0;
        out.pa = (l & ~0xfff) >>> 0;
        out.flags = flagsOf(l, phys.u32[(e >>> 2) + 1]);
        out.level = 1;
        out.leafPa = e;
        out.fault = 0;
        return 0;
      },
      forEachLeaf: (
        mm: Mm,
        fn: (va: number, pa: number, flags: number, level: number) => void,
        frameMask = 0,
        memo?: LeafMemo,
      ) => {
        if (frameMask !== 0 && memo !== undefined && memo.frameMask === frameMask) {
          scanRoot(mm.rootPa, fn, frameMask, memo);
          return;
        }
        if (frameMask !== 0) {
          scanMasked(mm.rootPa, 4, 0, fn, frameMask);
          return;
        }
        const u32 = phys.u32;
        const rec = (table: number, level: number, base: number) => {
          const step = 2 ** (12 + 9 * (level - 1));
          for (let i = 0; i < 512; i++) {
            const e = entryAt(table, i);
            const l = u32[e >>> 2];
            if (!(l & P)) continue;
            const va = base + i * step;
            if (level === 1) fn(va, (l & ~0xfff) >>> 0, flagsOf(l, hi(e)), 1);
            else rec((l & ~0xfff) >>> 0, level - 1, va);
          }
        };
        rec(mm.rootPa, 4, 0);
      },
      // The root and every table below it (the kernel half's tables too: they are shared).
      tableFrames: (mm: Mm) => {
        const out: number[] = [];
        const rec = (table: number, level: number) => {
          out.push(table / PAGE_SIZE);
          if (level === 1) return;
          for (let i = 0; i < 512; i++) {
            const l = lo(entryAt(table, i));
            if (l & P) rec((l & ~0xfff) >>> 0, level - 1);
          }
        };
        rec(mm.rootPa, 4);
        return out;
      },
      // Frees the last-level tables left empty in [start, end) (free_pgd_range, one level).
      pruneTables: (mm: Mm, start: number, end: number) => {
        let freed = 0;
        const span = 2 ** 21;
        for (let va = start - (start % span); va < end; va += span) {
          let table = mm.rootPa;
          let e = -1;
          for (let level = 4; level > 1; level--) {
            e = entryAt(table, idx(va, level));
            if (!(lo(e) & P)) break;
            table = (lo(e) & ~0xfff) >>> 0;
            if (level === 2) {
              let empty = true;
              for (let i = 0; i < 1024 && empty; i++) empty = phys.u32[(table >>> 2) + i] === 0;
              if (!empty) break;
              set(e, 0, 0);
              phys.frameFlags[table / PAGE_SIZE] &= ~0x2; // PG.PAGETABLE
              phys.freeFrame(table / PAGE_SIZE);
              freed++;
            }
          }
        }
        return freed;
      },
    };
    this.mapDirectMap = (mm: Mm, frames: number) => {
      const base = m.layout.directMap;
      const u32 = phys.u32;
      let e = -1;
      for (let pfn = 0; pfn < frames; pfn++) {
        const va = base + pfn * PAGE_SIZE;
        e = e < 0 || idx(va, 1) === 0 ? leafEntry(mm, va, true) : e + 8;
        // encode(pa, { write: true, exec: false, global: true }), as `map` stores it.
        u32[e >>> 2] = (pfn * PAGE_SIZE + (P | RW | G)) >>> 0;
        u32[(e >>> 2) + 1] = NX_HI;
      }
    };
  }

  createMm(kind: MmKind, name: string): Mm {
    const pfn = this.m.phys.allocFrame();
    const root = pfn * PAGE_SIZE;
    if (kind !== 'kernel') {
      const k = this.m.kernelMm.rootPa;
      this.m.phys.bytes.copyWithin(root + 2048, k + 2048, k + 4096);
    }
    return this.m.registerMm(kind, name, root);
  }

  switchMm(cpu: Cpu, mm: Mm): void {
    loadMm(cpu, mm);
  }

  flushLocalPage(cpu: Cpu, va: number): void {
    cpu.tlb.flushPage(va - (va % PAGE_SIZE), cpu.asid);
    this.m.counters.charge(cpu.id, EV.localFlushPage);
  }

  *flushKernelRange(cpu: Cpu, start: number, end: number): Steps {
    cpu.tlb.flushRange(start, end);
    this.m.counters.charge(cpu.id, EV.localFlushPage);
    yield* this.m.ipi(cpu, this.m.otherCpus(cpu), 'flush_tlb_kernel_range', (t) => {
      t.tlb.flushRange(start, end);
    });
  }

  checkAccess(_cpu: Cpu, flags: number, access: number): number {
    if (access === ACC_WRITE && !(flags & TLBF.W)) return FAULT.WRITE_PROTECT;
    if (access === ACC_EXEC && !(flags & TLBF.X)) return FAULT.EXEC_PROTECT;
    return 0;
  }

  *setProtection(cpu: Cpu, start: number, end: number, level: 'rw' | 'wr' | 'ro'): Steps {
    const prot = { write: level === 'rw', exec: false, global: true };
    const aliases: number[] = [];
    const w = new WalkResult();
    for (let va = start; va < end; va += PAGE_SIZE) {
      if (this.pt.lookup(this.m.kernelMm, va, w)) aliases.push(this.m.directMapVa(w.pa));
      this.pt.protect(this.m.kernelMm, va, prot);
    }
    if (this.opts.keepAliasWritable) aliases.length = 0;
    for (const a of aliases) this.pt.protect(this.m.kernelMm, a, prot);
    this.m.counters.charge(cpu.id, EV.pteWrite, (end - start) / PAGE_SIZE + aliases.length);
    yield 'ptes';
    if (this.opts.skipShootdown) {
      cpu.tlb.flushRange(start, end);
      for (const a of aliases) cpu.tlb.flushRange(a, a + PAGE_SIZE);
      return;
    }
    yield* this.flushKernelRange(cpu, start, end);
    for (const a of aliases) yield* this.flushKernelRange(cpu, a, a + PAGE_SIZE);
  }

  // Optional hooks (the others are documented on ArchImpl): how the audit tells a
  // writable leaf, and a look at every fault before it is raised.
  leafWritable(_mm: Mm, flags: number): boolean {
    return (flags & TLBF.W) !== 0;
  }

  /** Faults seen by `onFault`, newest last (a debugging aid of the toy). */
  readonly faults: { cpu: number; va: number; access: number; code: number }[] = [];

  onFault(cpu: Cpu, va: number, access: number, code: number): void {
    if (this.faults.length >= 64) this.faults.shift();
    this.faults.push({ cpu: cpu.id, va, access, code });
  }

  mechanism(name: string): WriteRareMechanism {
    if (name !== 'toy-remap') throw new UnknownMechanismError('toy', name, ['toy-remap']);
    return {
      name: 'toy-remap',
      summary: 'remap writable in place, write, remap read-only (window open to all CPUs)',
      batchable: true,
      program: (cpu, ops) => new ToyRemap(this, this.m, cpu, ops),
    };
  }

  /** Page → write-rare windows open on it (see ToyRemap). */
  open(cpu: Cpu, pages: readonly number[]): void {
    // Windows of several CPUs may overlap on a page: only the first opens it and only
    // the last closes it (a real remap-in-place mechanism needs this, or a lock).
    for (const va of pages) {
      const n = this.openers.get(va) ?? 0;
      if (n === 0) this.pt.protect(this.m.kernelMm, va, { write: true, exec: false, global: true });
      this.openers.set(va, n + 1);
    }
    this.m.counters.charge(cpu.id, EV.pteWrite, pages.length);
  }

  close(cpu: Cpu, pages: readonly number[]): void {
    for (const va of pages) {
      const n = (this.openers.get(va) ?? 1) - 1;
      if (n === 0) {
        this.openers.delete(va);
        this.pt.protect(this.m.kernelMm, va, { write: false, exec: false, global: true });
      } else this.openers.set(va, n);
    }
    this.m.counters.charge(cpu.id, EV.pteWrite, pages.length);
    for (const va of pages) drain(this.flushKernelRange(cpu, va, va + PAGE_SIZE));
  }
}

/**
 * The toy's write-rare session as a step program: validate and open (PTEs writable,
 * window open) in the first step, so a bad target is refused before anything changes;
 * flush; the writes (one step per store or page, core's OpWriter); close. `abort`
 * closes whatever is open, which is what a generator's `finally` would do.
 */
class ToyRemap implements StepProgram {
  private phase = 0;
  private pages: number[] = [];
  private writer: OpWriter | null = null;
  private opened = false;
  constructor(
    private readonly arch: ToyArch,
    private readonly m: Machine,
    private readonly cpu: Cpu,
    private readonly ops: readonly WrOp[],
  ) {}

  /**
   * A mechanism checks its own targets: write-rare frames only, every page of every op.
   * At the first step, not when the program is built: a session may be built long before
   * it runs (and its pool destroyed in between), and the check must hold when the window
   * opens.
   */
  private validate(): void {
    const { cpu, m, ops } = this;
    resolveWrFrames(cpu, 'toy-remap', ops, m.layout.userEnd);
    const pages = new Set<number>();
    for (const op of ops) {
      const end = op.va + opLength(op);
      for (let va = op.va - (op.va % PAGE_SIZE); va < end; va += PAGE_SIZE) {
        const pa = m.translate(va);
        if (pa < 0 || !isWrFrame(cpu, pa / PAGE_SIZE))
          refuseWrTarget(
            cpu,
            'toy-remap',
            va,
            PAGE_SIZE,
            'not-write-rare',
            'a page of the op is not write-rare',
          );
        pages.add(va);
      }
    }
    this.pages = [...pages];
    this.writer = new OpWriter(cpu, ops, 0);
  }

  step(): string | null {
    switch (this.phase) {
      case 0:
        this.validate();
        if (this.pages.length === 0) {
          this.phase = 4;
          return null;
        }
        this.arch.open(this.cpu, this.pages);
        this.opened = true;
        // The window is open from the moment the PTE is writable.
        this.m.openWindow(this.cpu);
        this.phase = 1;
        return 'ptes';
      case 1:
        for (const va of this.pages)
          drain(this.arch.flushKernelRange(this.cpu, va, va + PAGE_SIZE));
        this.phase = 2;
        return 'flush';
      case 2: {
        const label = this.writer?.step() ?? null;
        if (label !== null) return label;
        this.phase = 3;
        return this.step();
      }
      case 3:
        this.finish();
        this.phase = 4;
        return 'closed';
      default:
        return null;
    }
  }

  abort(): void {
    this.finish();
    this.phase = 4;
  }

  private finish(): void {
    if (!this.opened) return;
    this.opened = false;
    this.arch.close(this.cpu, this.pages);
    this.m.closeWindow(this.cpu);
  }
}
