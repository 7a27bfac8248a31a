import {
  BadAddressError,
  BracketWindow,
  type Cpu,
  type Mm,
  OpWriter,
  PAGE_SIZE,
  type StepProgram,
  WalkResult,
  type WindowBracket,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { X86MechanismContext, X86MechanismPlugin } from './plugin.js';
import { MIRROR_ORIGIN } from '../constants.js';
import { holdOf, resolveTargets } from './targets.js';

/**
 * `alias-mm-mirror` (prmem v5): the write-rare range has a persistent writable mirror at
 * `wr_base + offset` in wr_mm, kept by setProtection. A window is IRQs off and two CR3
 * switches; the mirror's TLB entries stay behind under wr_mm's PCID, usable only when
 * wr_mm is loaded again.
 */
export function aliasMmMirror(arch: X86MechanismContext): WriteRareMechanism {
  const m = arch.m;
  const w = new WalkResult();
  const brackets: readonly WindowBracket[] = [
    {
      open: 'local_irq_save',
      close: 'local_irq_restore',
      enter: (cpu) => {
        const irqsWereOff = cpu.localIrqSave();
        m.openWindow(cpu);
        return irqsWereOff;
      },
      exit: (cpu, irqsWereOff) => {
        m.closeWindow(cpu);
        cpu.localIrqRestore(irqsWereOff as boolean);
      },
    },
    {
      open: 'switch_mm wr_mm',
      close: 'switch_mm back',
      enter: (cpu) => {
        const prev = cpu.mm;
        arch.switchMm(cpu, arch.wrMm());
        return prev;
      },
      exit: (cpu, prev) => arch.switchMm(cpu, prev as Mm),
    },
  ];
  /** Every target page must have its mirror, mapping the same frame. */
  const checkMirrors = (cpu: Cpu, ops: readonly WrOp[]) => {
    const wr = arch.wrMm();
    const runs = resolveTargets(arch, cpu, ops);
    for (const r of runs) {
      for (let i = 0; i < r.pas.length; i++) {
        const va = r.first + i * PAGE_SIZE;
        const mva = arch.mirrorAddress(va);
        if (va < MIRROR_ORIGIN || !arch.pt.lookup(wr, mva, w) || w.pa !== r.pas[i])
          throw new BadAddressError(
            va,
            'write-rare target has no mirror (not protected write-rare)',
          );
      }
    }
    return holdOf(arch, runs);
  };
  const program = (cpu: Cpu, ops: readonly WrOp[]): StepProgram => {
    const hold = checkMirrors(cpu, ops);
    const writer = new OpWriter(cpu, ops, arch.mirrorBase - MIRROR_ORIGIN);
    return new BracketWindow(cpu, brackets, writer, ops.length === 0, hold);
  };
  return {
    name: 'alias-mm-mirror',
    summary:
      'persistent writable mirror of the write-rare range in wr_mm; the window is two CR3 switches',
    batchable: true,
    program,
  };
}

export const ALIAS_MM_MIRROR: X86MechanismPlugin<'alias-mm-mirror'> = {
  name: 'alias-mm-mirror',
  needs: { aliasMm: true, wrPkey: false, mirror: true },
  create: aliasMmMirror,
};
