import {
  applyOpsViaCpu,
  BadSizeError,
  type Cpu,
  EV,
  generatorMechanism,
  opLength,
  PAGE_SIZE,
  pinWrFrames,
  resolveWrFrames,
  type Step,
  type StepProgram,
  type Steps,
  storeBytes,
  toBig,
  unpinWrFrames,
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

/** Write hypercalls by store size. */
const WRITE_FN = { 1: 'write_8', 2: 'write_16', 4: 'write_32', 8: 'write_64' } as const;

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
  return { fn, dst: op.va, value: toBig(data) };
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

/**
 * alias-mm: the x86 text_poke design on arm64. wr_mm's TTBR0 half gets EL1-only, non-global
 * writable aliases (AP = 00, nG, PXN, UXN) of the target pages at a randomized base; IRQs
 * off, TTBR0 switched with wr_mm's ASID, write, switch back, clear the PTEs, local
 * TLBI VALE1 + DSB. No other CPU ever has wr_mm loaded, so nothing is broadcast.
 * Stage 1 only: a kernel that rewrites its own page tables defeats it.
 */
export function aliasMm(arch: Arm64Arch): WriteRareMechanism {
  return generatorMechanism({
    name: 'alias-mm',
    summary:
      'temporary wr_mm (TTBR0 + ASID) with non-global EL1 aliases, local TLBI only (stage 1 only: no defence against page-table attacks)',
    batchable: true,
    *session(cpu: Cpu, ops: readonly WrOp[]): Steps {
      // Every target checked before the ops are split into windows (whose page lists a
      // huge length would blow up): a bad op anywhere writes nothing.
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
      for (const group of windows(ops)) yield* aliasWindow(arch, cpu, group, frames);
    },
  });
}

function* aliasWindow(
  arch: Arm64Arch,
  cpu: Cpu,
  ops: readonly WrOp[],
  frames: ReadonlyMap<number, { readonly pfn: number; readonly area: number }>,
): Steps {
  const m = arch.m;
  const wrMm = arch.wrMm;
  const slots = new Map<number, number>();
  for (const op of ops) for (const p of pagesOf(op)) slots.set(p, 0);
  const pages = [...slots.keys()].sort((a, b) => a - b);
  if (pages.length > ALIAS_WINDOW_PAGES) {
    throw new BadSizeError(
      pages.length,
      `pages in one window; a CPU's alias window holds ${ALIAS_WINDOW_PAGES}`,
    );
  }
  const pfns = pages.map((p) => (frames.get(p) as { pfn: number }).pfn);
  const areas = pages.map((p) => (frames.get(p) as { area: number }).area);
  const pas = pfns.map((pfn) => pfn * PAGE_SIZE);
  for (let i = 0; i < pages.length; i++) slots.set(pages[i], i);
  // This CPU's own alias window: two CPUs' windows never map, or tear down, each other's.
  const base = arch.aliasBase + cpu.id * ALIAS_WINDOW_PAGES * PAGE_SIZE;
  const alias = (i: number) => base + i * PAGE_SIZE;
  // wr_mm is shared: windows are serialised (text_mutex), so no CPU's window runs while
  // another CPU's aliases are live in it.
  const lock = arch.textMutex;
  while (!lock.tryLock(cpu)) yield lock.waitLabel;
  let pinned = false;
  let irqsWereOff = false;
  let irqsSaved = false;
  let mapped = 0;
  let switched = false;
  let opened = false;
  const prevMm = cpu.mm;
  try {
    pinWrFrames(cpu, pfns, areas);
    pinned = true;
    irqsWereOff = cpu.localIrqSave();
    irqsSaved = true;
    for (; mapped < pages.length; mapped++)
      arch.pt.map(wrMm, alias(mapped), pas[mapped], { write: true, exec: false, global: false });
    m.counters.charge(cpu.id, EV.pteWrite, pages.length);
    yield 'alias-mm: wr_mm PTEs set';
    arch.switchMm(cpu, wrMm);
    switched = true;
    m.openWindow(cpu);
    opened = true;
    yield 'alias-mm: TTBR0 <- wr_mm';
    for (const op of ops) {
      const page = op.va - (op.va % PAGE_SIZE);
      yield* applyOpsViaCpu(cpu, [op], alias(slots.get(page) ?? 0) - page);
    }
  } finally {
    // A fault, a throw or an abandoned schedule: nothing of the window may stay behind —
    // no alias in wr_mm, no alias TLB entry, no wr_mm loaded, IRQs as they were.
    if (switched) arch.switchMm(cpu, prevMm);
    for (let i = 0; i < mapped; i++) {
      arch.pt.unmap(wrMm, alias(i));
      // TLBI VALE1 (this CPU only) with wr_mm's ASID.
      cpu.tlb.flushPage(alias(i), wrMm.asid);
    }
    if (mapped > 0) {
      m.counters.charge(cpu.id, EV.pteWrite, mapped);
      m.counters.charge(cpu.id, EV.localFlushPage, mapped);
      m.counters.charge(cpu.id, EV.dsb);
    }
    if (opened) m.closeWindow(cpu);
    if (irqsSaved) cpu.localIrqRestore(irqsWereOff);
    if (pinned) unpinWrFrames(cpu, pfns);
    lock.unlock(cpu);
  }
  yield 'alias-mm: closed';
}
