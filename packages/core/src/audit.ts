import { PAGE_SIZE } from './addr.js';
import type { Cpu } from './cpu.js';
import type { Backend } from './backend.js';
import type { Machine } from './machine.js';
import { PG } from './phys.js';
import { TLBF } from './tlb.js';
import { WalkResult } from './backend.js';
import type { Mm } from './mm.js';
import { LeafMemo } from './leafmemo.js';

const PROT_MASK = PG.PROT_RO | PG.PROT_WR;
/**
 * `PAGE_SIZE * 512 ** (level - 1)`, the bytes a leaf of walk level 0–4 spans, as a table:
 * a power with a variable exponent is a slow Math.pow call, once per leaf.
 */
const LEAF_SPAN: readonly number[] = [0, 1, 2, 3, 4].map((l) => PAGE_SIZE * 512 ** (l - 1));

export interface AuditFinding {
  /** Where the writable translation was found. */
  readonly where: 'pte' | 'tlb' | 'cpu';
  readonly mm?: string;
  readonly cpu?: number;
  readonly va: number;
  readonly pa: number;
  readonly level: 'wr' | 'ro';
  readonly detail: string;
}

/** The frame flags of [pa, pa + size) OR-ed: the most protected frame decides. */
function flagsOver(m: Machine, pa: number, size: number): number {
  const flags = m.phys.frameFlags;
  const end = m.phys.size;
  let pf = 0;
  for (let off = 0; off < size && pa + off < end; off += PAGE_SIZE)
    pf |= flags[(pa + off) / PAGE_SIZE];
  return pf;
}

/**
 * The last audit's memo per backend and memory size: the next audit, of this machine or of
 * the next one built the same way (the fuzzer and the explorer build hundreds, each from
 * the same boot), finds its unchanged tables' scans there. Only the audit holds these, so
 * only the audit feeds them.
 */
const lastMemos = new WeakMap<Backend, Map<number, LeafMemo>>();

/**
 * Every writable translation — in any mm's tables or any CPU's TLB — to a frame that is
 * protected, except a mechanism's own aliases of write-rare frames while they are in use
 * by an open window on their CPU.
 *
 * It runs after every fuzzer command, so it skips early what cannot be a finding: the
 * table walk is asked only for leaves of protected frames (`forEachLeaf`'s mask), once
 * per subtree the mms share (its memo: nothing writes memory while the audit runs), and a
 * TLB entry of unprotected frames is dropped before the architecture's hooks unless it
 * could be a stale alias entry. The hooks it calls are pure, so the order changes nothing.
 */
export function auditProtections(m: Machine, cpus: readonly Cpu[]): AuditFinding[] {
  const out: AuditFinding[] = [];
  const arch = m.arch;
  const aliasMms = arch.aliasMms?.() ?? [];
  const writable = (mm: Mm, f: number) =>
    arch.leafWritable ? arch.leafWritable(mm, f) : (f & TLBF.W) !== 0;
  // The mms share their kernel half: each shared subtree is walked once per audit; and a
  // table unchanged since the last audit is visited only where that audit's scan looked.
  let memos = lastMemos.get(m.backend);
  if (memos === undefined) {
    memos = new Map();
    lastMemos.set(m.backend, memos);
  }
  const memo = new LeafMemo(PROT_MASK, m.phys, memos.get(m.phys.frameCount));
  memos.set(m.phys.frameCount, memo);
  // One callback for every mm (a closure per mm would be an allocation per mm and audit).
  let mm = m.kernelMm;
  let isAlias = false;
  const onLeaf = (va: number, pa: number, f: number, level: number) => {
    // The walk may pass leaves the mask does not cover: the flags are read again here.
    const span = LEAF_SPAN[level] ?? PAGE_SIZE * 512 ** (level - 1);
    const pf = flagsOver(m, pa, span);
    if ((pf & PROT_MASK) === 0 || !writable(mm, f)) return;
    if ((pf & PG.PROT_RO) !== 0) {
      out.push({
        where: 'pte',
        mm: mm.name,
        va,
        pa,
        level: 'ro',
        detail: 'writable mapping of a read-only frame',
      });
    } else if (!isAlias) {
      out.push({
        where: 'pte',
        mm: mm.name,
        va,
        pa,
        level: 'wr',
        detail: 'writable mapping of a write-rare frame',
      });
    }
  };
  for (const each of m.mms) {
    mm = each;
    isAlias = aliasMms.includes(each);
    arch.pt.forEachLeaf(each, onLeaf, PROT_MASK, memo);
  }
  let w: WalkResult | undefined;
  /** Whether `mm`'s tables still map `va` writable to `pa` (what the entry caches). */
  const tablesAgree = (mm: Mm, va: number, pa: number): boolean => {
    w ??= new WalkResult();
    return (
      arch.pt.lookup(mm, va, w) &&
      w.fault === 0 &&
      m.translate(va, mm) - (va % PAGE_SIZE) === pa &&
      writable(mm, w.flags)
    );
  };
  /** The first mm with this ASID, if it is an alias mm (what a non-global entry caches). */
  const aliasOwner = (asid: number): Mm | undefined => {
    for (const mm of m.mms) if (mm.asid === asid) return aliasMms.includes(mm) ? mm : undefined;
    return undefined;
  };
  const aliasAsid = (asid: number): boolean => aliasMms.some((mm) => mm.asid === asid);
  // One callback for every CPU's TLB, as for the leaves.
  let cpu = cpus[0];
  let inWindow = false;
  const onEntry = (va: number, asid: number, pa: number, flags: number, size: number) => {
    const global = asid < 0;
    const pf = flagsOver(m, pa, size);
    // Unprotected frames: a finding only if the entry may be a stale alias entry.
    if ((pf & PROT_MASK) === 0 && (global || inWindow || !aliasAsid(asid))) return;
    // An entry of another context that the CPU must flush before it could use it is dead.
    if (!global && asid !== cpu.asid && arch.asidLive?.(cpu, asid) === false) return;
    if (!writable(cpu.mm, flags)) return;
    // A writable alias entry must still be what its alias mm maps: a stale one (the
    // alias moved to another frame, or is gone) writes wherever it points, in the next
    // window on this CPU — whatever frame that is now. (Inside the CPU's own window
    // the entry may lag its PTE for a step: pte_clear comes before the INVLPG.)
    const owner = global || inWindow ? undefined : aliasOwner(asid);
    if (owner && !tablesAgree(owner, va, pa)) {
      out.push({
        where: 'tlb',
        cpu: cpu.id,
        mm: owner.name,
        va,
        pa,
        level: (pf & PG.PROT_RO) !== 0 ? 'ro' : 'wr',
        detail: `stale writable alias entry: ${owner.name} no longer maps it there`,
      });
      return;
    }
    // A non-global entry tagged with an alias mm's ASID, on a CPU running another mm, is
    // dormant: usable only in the next window on this CPU. That is fine for a write-rare
    // frame, but not for one made read-only since: the next window could write it.
    if (!global && asid !== cpu.asid && aliasAsid(asid) && (pf & PG.PROT_RO) === 0) return;
    if ((pf & PG.PROT_RO) !== 0) {
      out.push({
        where: 'tlb',
        cpu: cpu.id,
        va,
        pa,
        level: 'ro',
        detail: 'writable TLB entry for a read-only frame',
      });
    } else if ((pf & PG.PROT_WR) !== 0 && !inWindow) {
      out.push({
        where: 'tlb',
        cpu: cpu.id,
        va,
        pa,
        level: 'wr',
        detail: 'writable TLB entry for a write-rare frame outside a window',
      });
    }
  };
  for (const each of cpus) {
    cpu = each;
    inWindow = m.windowOpen(each);
    if (aliasMms.includes(cpu.mm) && !inWindow) {
      out.push({
        where: 'cpu',
        cpu: cpu.id,
        va: 0,
        pa: cpu.mm.rootPa,
        level: 'wr',
        detail: `alias mm ${cpu.mm.name} loaded outside a write-rare window`,
      });
    }
    cpu.tlb.forEachEntry(onEntry);
    for (const d of arch.auditCpu?.(cpu, inWindow) ?? []) {
      out.push({ where: 'cpu', cpu: cpu.id, va: 0, pa: 0, level: 'ro', detail: d });
    }
  }
  return out;
}
