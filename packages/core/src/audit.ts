import { PAGE_SIZE } from './addr.js';
import type { Cpu } from './cpu.js';
import type { Machine } from './machine.js';
import { PG } from './phys.js';
import { TLBF } from './tlb.js';
import { WalkResult } from './backend.js';
import type { Mm } from './mm.js';

const PROT_MASK = PG.PROT_RO | PG.PROT_WR;

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

/**
 * Every writable translation — in any mm's tables or any CPU's TLB — to a frame that is
 * protected, except a mechanism's own aliases of write-rare frames while they are in use
 * by an open window on their CPU.
 */
export function auditProtections(m: Machine, cpus: readonly Cpu[]): AuditFinding[] {
  const out: AuditFinding[] = [];
  const flags = m.phys.frameFlags;
  const arch = m.arch;
  const aliasMms = new Set(arch.aliasMms?.() ?? []);
  const aliasAsids = new Set([...aliasMms].map((mm) => mm.asid));
  const writable = (mm: Parameters<NonNullable<typeof arch.leafWritable>>[0], f: number) =>
    arch.leafWritable ? arch.leafWritable(mm, f) : (f & TLBF.W) !== 0;
  const byAsid = new Map<number, Mm>();
  for (const mm of m.mms) if (!byAsid.has(mm.asid)) byAsid.set(mm.asid, mm);
  const w = new WalkResult();
  /** Whether `mm`'s tables still map `va` writable to `pa` (what the entry caches). */
  const tablesAgree = (mm: Mm, va: number, pa: number): boolean =>
    arch.pt.lookup(mm, va, w) &&
    w.fault === 0 &&
    m.translate(va, mm) - (va % PAGE_SIZE) === pa &&
    writable(mm, w.flags);
  for (const mm of m.mms) {
    const isAlias = aliasMms.has(mm);
    // The mask lets the walk skip, before its costly part, leaves of unprotected memory:
    // the callback returns at once for those anyway.
    arch.pt.forEachLeaf(
      mm,
      (va, pa, f, level) => {
        // A large leaf maps many frames: the most protected one decides. The frame flags are
        // read first: most leaves map unprotected memory, and `writable` may cost more.
        const span = PAGE_SIZE * 512 ** (level - 1);
        let pf = 0;
        for (let off = 0; off < span && pa + off < m.phys.size; off += PAGE_SIZE)
          pf |= flags[(pa + off) / PAGE_SIZE];
        if ((pf & (PG.PROT_RO | PG.PROT_WR)) === 0 || !writable(mm, f)) return;
        if ((pf & PG.PROT_RO) !== 0) {
          out.push({
            where: 'pte',
            mm: mm.name,
            va,
            pa,
            level: 'ro',
            detail: 'writable mapping of a read-only frame',
          });
        } else if ((pf & PG.PROT_WR) !== 0 && !isAlias) {
          out.push({
            where: 'pte',
            mm: mm.name,
            va,
            pa,
            level: 'wr',
            detail: 'writable mapping of a write-rare frame',
          });
        }
      },
      PROT_MASK,
    );
  }
  for (const cpu of cpus) {
    const inWindow = m.windowOpen(cpu);
    if (aliasMms.has(cpu.mm) && !inWindow) {
      out.push({
        where: 'cpu',
        cpu: cpu.id,
        va: 0,
        pa: cpu.mm.rootPa,
        level: 'wr',
        detail: `alias mm ${cpu.mm.name} loaded outside a write-rare window`,
      });
    }
    for (const e of cpu.tlb.entries()) {
      // An entry of another context that the CPU must flush before it could use it is dead.
      if (!e.global && e.asid !== cpu.asid && arch.asidLive?.(cpu, e.asid) === false) continue;
      if (!writable(cpu.mm, e.flags)) continue;
      // A large entry maps many frames: the most protected one decides.
      let pf = 0;
      for (let off = 0; off < e.size && e.pa + off < m.phys.size; off += PAGE_SIZE)
        pf |= flags[(e.pa + off) / PAGE_SIZE];
      // A writable alias entry must still be what its alias mm maps: a stale one (the
      // alias moved to another frame, or is gone) writes wherever it points, in the next
      // window on this CPU — whatever frame that is now. (Inside the CPU's own window
      // the entry may lag its PTE for a step: pte_clear comes before the INVLPG.)
      const owner = e.global || inWindow ? undefined : byAsid.get(e.asid);
      if (owner && aliasMms.has(owner) && !tablesAgree(owner, e.va, e.pa)) {
        out.push({
          where: 'tlb',
          cpu: cpu.id,
          mm: owner.name,
          va: e.va,
          pa: e.pa,
          level: (pf & PG.PROT_RO) !== 0 ? 'ro' : 'wr',
          detail: `stale writable alias entry: ${owner.name} no longer maps it there`,
        });
        continue;
      }
      // A non-global entry tagged with an alias mm's ASID, on a CPU running another mm, is
      // dormant: usable only in the next window on this CPU. That is fine for a write-rare
      // frame, but not for one made read-only since: the next window could write it.
      if (!e.global && e.asid !== cpu.asid && aliasAsids.has(e.asid) && (pf & PG.PROT_RO) === 0)
        continue;
      if ((pf & PG.PROT_RO) !== 0) {
        out.push({
          where: 'tlb',
          cpu: cpu.id,
          va: e.va,
          pa: e.pa,
          level: 'ro',
          detail: 'writable TLB entry for a read-only frame',
        });
      } else if ((pf & PG.PROT_WR) !== 0 && !inWindow) {
        out.push({
          where: 'tlb',
          cpu: cpu.id,
          va: e.va,
          pa: e.pa,
          level: 'wr',
          detail: 'writable TLB entry for a write-rare frame outside a window',
        });
      }
    }
    for (const d of arch.auditCpu?.(cpu, inWindow) ?? []) {
      out.push({ where: 'cpu', cpu: cpu.id, va: 0, pa: 0, level: 'ro', detail: d });
    }
  }
  return out;
}
