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
  resolveWrFrames,
  type Step,
  type StepProgram,
  storeBytes,
  toBig,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { Arm64Arch } from './arch.js';
import type { HvcCall, HvcName } from './el2.js';
import { ALIAS_WINDOW_PAGES } from './layout.js';

export const MECHANISMS = ['hyp-assist', 'alias-mm'] as const;
export type Arm64Mechanism = (typeof MECHANISMS)[number];

/** What a mechanism needs from the architecture, declared by the mechanism. */
export interface Arm64MechanismNeeds {
  /** A `wr_mm` (TTBR0 + ASID) with a per-CPU alias window at a randomized base. */
  readonly aliasMm: boolean;
  /** Write-rare ranges registered write-mediated at EL2 (read-only ones always are). */
  readonly el2WriteRare: boolean;
}

export const MECHANISM_NEEDS: Readonly<Record<Arm64Mechanism, Arm64MechanismNeeds>> = {
  'hyp-assist': { aliasMm: false, el2WriteRare: true },
  'alias-mm': { aliasMm: true, el2WriteRare: false },
};

type WriteFn = 'write_8' | 'write_16' | 'write_32' | 'write_64';
/** Write hypercalls by store size. */
const WRITE_FN: Readonly<Record<1 | 2 | 4 | 8, WriteFn>> = {
  1: 'write_8',
  2: 'write_16',
  4: 'write_32',
  8: 'write_64',
};

/** Which HKIP-style hypercall carries one write-rare op. */
export function hvcName(op: WrOp): HvcName {
  if (op.kind === 'rmw') return 'rmw';
  if (op.kind === 'set') return op.value === 0 ? 'clear' : 'set';
  const n = op.kind === 'store' ? op.size : op.data.length;
  // A write of 1/2/4/8 aligned bytes is the scalar call; `&`: exact on an integer VA.
  if ((n === 1 || n === 2 || n === 4 || n === 8) && (op.va & (n - 1)) === 0) return WRITE_FN[n];
  return 'write';
}

/** The HKIP-style hypercall for one write-rare op (the call `hvcName(op)` names). */
export function hvcFor(op: WrOp): HvcCall {
  const fn = hvcName(op);
  if (op.kind === 'rmw') return { fn: 'rmw', op };
  if (op.kind === 'set')
    return op.value === 0
      ? { fn: 'clear', dst: op.va, len: op.len }
      : { fn: 'set', dst: op.va, value: op.value, len: op.len };
  const data = op.kind === 'store' ? storeBytes(op) : op.data;
  if (fn === 'write') return { fn, dst: op.va, data };
  return { fn: fn as WriteFn, dst: op.va, value: toBig(data) };
}

/**
 * One hyp-assist session: the window opens at the first step, each step is one
 * hypercall, the last step closes the window. Targets are checked when it is built.
 */
class HypAssistSession implements StepProgram {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare private readonly arch: Arm64Arch;
  declare private readonly cpu: Cpu;
  declare private readonly ops: readonly WrOp[];
  declare private i: number;
  declare private opened: boolean;
  declare private done: boolean;

  constructor(arch: Arm64Arch, cpu: Cpu, ops: readonly WrOp[]) {
    this.arch = arch;
    this.cpu = cpu;
    this.ops = ops;
    this.i = 0;
    this.opened = false;
    this.done = false;
  }

  step(): Step | null {
    if (this.done) return null;
    const { arch, cpu, ops } = this;
    if (!this.opened) {
      arch.m.openWindow(cpu);
      this.opened = true;
    }
    if (this.i < ops.length) {
      const op = ops[this.i++];
      return arch.el2.writeOp(cpu, hvcName(op), op);
    }
    this.close();
    return null;
  }

  abort(): void {
    this.close();
  }

  private close(): void {
    if (this.opened) this.arch.m.closeWindow(this.cpu);
    this.opened = false;
    this.done = true;
  }
}

/**
 * hyp-assist: the kernel asks EL2 to write, one HVC per op as HKIP's per-op calls do.
 * The kernel checks every target before the first HVC (EL2 checks each call again, on
 * its own): a batch with a bad op in it writes nothing.
 */
export function hypAssist(arch: Arm64Arch): WriteRareMechanism {
  return {
    name: 'hyp-assist',
    summary:
      'HVC per write: EL2 writes ROWM ranges that are read-only at stage 2 (survives a kernel page-table attack)',
    batchable: false,
    program(cpu: Cpu, ops: readonly WrOp[]): StepProgram {
      resolveWrFrames(cpu, 'hyp-assist', ops, arch.m.layout.userEnd);
      return new HypAssistSession(arch, cpu, ops);
    },
  };
}

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
function windowArch(arch: Arm64Arch): AliasWindowArch {
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
    mapAlias(mm: Mm, va: number, pa: number): number {
      arch.pt.map(mm, va, pa, ALIAS_PROT);
      return 0;
    },
    clearAlias(mm: Mm, va: number): void {
      arch.pt.unmap(mm, va);
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
export function aliasMm(arch: Arm64Arch): WriteRareMechanism {
  const w = windowArch(arch);
  return {
    name: 'alias-mm',
    summary:
      'temporary wr_mm (TTBR0 + ASID) with non-global EL1 aliases, local TLBI only (stage 1 only: no defence against page-table attacks)',
    batchable: true,
    program(cpu: Cpu, ops: readonly WrOp[]): StepProgram {
      // Every target checked before the ops are split into windows (whose page lists a
      // huge length would blow up): a bad op anywhere writes nothing.
      const pfns = resolveWrFrames(cpu, 'alias-mm', ops, arch.m.layout.userEnd);
      // This CPU's own alias window: two CPUs' windows never map, or tear down, each other's.
      const base = arch.aliasBase + cpu.id * ALIAS_WINDOW_PAGES * PAGE_SIZE;
      // One op within one page (every wrAssign): one alias, no plan.
      if (ops.length === 1 && pfns.length === 1)
        return AliasWindow.single(w, cpu, arch.wrMm, ops, base, pfns[0] * PAGE_SIZE);
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
