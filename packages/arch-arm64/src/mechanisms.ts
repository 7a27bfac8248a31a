import {
  applyOpsViaCpu,
  BadSizeError,
  type Cpu,
  EV,
  opLength,
  PAGE_SIZE,
  pinWrFrames,
  resolveWrFrames,
  type Steps,
  storeBytes,
  unpinWrFrames,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { Arm64Arch } from './arch.js';
import type { HvcCall } from './el2.js';
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

function leValue(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}

/** The HKIP-style hypercall for one write-rare op. */
export function hvcFor(op: WrOp): HvcCall {
  if (op.kind === 'rmw') return { fn: 'rmw', op };
  if (op.kind === 'set')
    return op.value === 0
      ? { fn: 'clear', dst: op.va, len: op.len }
      : { fn: 'set', dst: op.va, value: op.value, len: op.len };
  const data = op.kind === 'store' ? storeBytes(op) : op.data;
  const n = data.length;
  if ((n === 1 || n === 2 || n === 4 || n === 8) && op.va % n === 0) {
    const fn = n === 1 ? 'write_8' : n === 2 ? 'write_16' : n === 4 ? 'write_32' : 'write_64';
    return { fn, dst: op.va, value: leValue(data) };
  }
  return { fn: 'write', dst: op.va, data };
}

/**
 * hyp-assist: the kernel asks EL2 to write, one HVC per op as HKIP's per-op calls do.
 * The kernel validates nothing here: EL2 checks the target against its ranges.
 */
export function hypAssist(arch: Arm64Arch): WriteRareMechanism {
  return {
    name: 'hyp-assist',
    summary:
      'HVC per write: EL2 writes ROWM ranges that are read-only at stage 2 (survives a kernel page-table attack)',
    batchable: false,
    *session(cpu: Cpu, ops: readonly WrOp[]): Steps {
      const el2 = arch.el2;
      // The kernel checks every target before the first HVC (EL2 checks each call again,
      // on its own): a batch with a bad op in it writes nothing.
      resolveWrFrames(cpu, 'hyp-assist', ops, arch.m.layout.userEnd);
      arch.m.openWindow(cpu);
      try {
        for (const op of ops) yield* el2.call(cpu, hvcFor(op));
      } finally {
        arch.m.closeWindow(cpu);
      }
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
  return {
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
  };
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
