import {
  type Cpu,
  type Mm,
  ProgramSequence,
  type StepProgram,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import { aliasWindow, windowArch } from './alias-mm.js';
import type { X86MechanismContext, X86MechanismPlugin } from './plugin.js';
import { resolveOnePage, resolveTargets, type TargetRun } from './targets.js';

/**
 * `alias-mm-per-pool`: one alias mm_struct per pool (the owner of the target's area),
 * static targets through the shared wr_mm. Ops of different pools get one window each.
 */
export function aliasMmPerPool(arch: X86MechanismContext): WriteRareMechanism {
  const mmOf = (va: number): Mm => {
    const area = arch.m.findArea(va);
    return arch.poolMm(area ? area.owner : -1);
  };
  const w = windowArch(arch);
  const program = (cpu: Cpu, ops: readonly WrOp[]): StepProgram => {
    const pa = ops.length === 1 ? resolveOnePage(arch, cpu, ops[0]) : -1;
    if (pa >= 0) return aliasWindow(arch, w, cpu, mmOf(ops[0].va), ops, pa, null);
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
    const windows = [...groups].map(([mm, g]) => aliasWindow(arch, w, cpu, mm, g.ops, -1, g.runs));
    return windows.length === 1 ? windows[0] : new ProgramSequence(windows);
  };
  return {
    name: 'alias-mm-per-pool',
    summary: 'temporary mm per pool: like alias-mm, with a separate mm_struct and PCID per pool',
    batchable: true,
    program,
  };
}

export const ALIAS_MM_PER_POOL: X86MechanismPlugin<'alias-mm-per-pool'> = {
  name: 'alias-mm-per-pool',
  needs: { aliasMm: true, wrPkey: false, mirror: false },
  create: aliasMmPerPool,
};
