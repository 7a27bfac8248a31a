import {
  applyOpsViaCpu,
  BadAddressError,
  type Cpu,
  type Mm,
  PAGE_SIZE,
  type Steps,
  WalkResult,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { X86Arch } from '../arch.js';
import { MIRROR_ORIGIN } from '../constants.js';
import { resolveTargets } from './targets.js';

/**
 * `alias-mm-mirror` (prmem v5): the write-rare range has a persistent writable mirror at
 * `wr_base + offset` in wr_mm, kept by setProtection. A window is IRQs off and two CR3
 * switches; the mirror's TLB entries stay behind under wr_mm's PCID, usable only when
 * wr_mm is loaded again.
 */
export function aliasMmMirror(arch: X86Arch): WriteRareMechanism {
  const w = new WalkResult();
  return {
    name: 'alias-mm-mirror',
    summary:
      'persistent writable mirror of the write-rare range in wr_mm; the window is two CR3 switches',
    batchable: true,
    *session(cpu: Cpu, ops: readonly WrOp[]): Steps {
      if (ops.length === 0) return;
      const m = arch.m;
      const wr = arch.wrMm();
      for (const r of resolveTargets(arch, ops)) {
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
      const delta = arch.mirrorBase - MIRROR_ORIGIN;
      let prev: Mm | undefined;
      let irqOff = false;
      let done = false;
      try {
        cpu.localIrqDisable();
        irqOff = true;
        m.openWindow(cpu);
        yield 'local_irq_disable';
        prev = cpu.mm;
        arch.switchMm(cpu, wr);
        yield 'switch_mm wr_mm';
        yield* applyOpsViaCpu(cpu, ops, delta);
        arch.switchMm(cpu, prev);
        prev = undefined;
        yield 'switch_mm back';
        m.closeWindow(cpu);
        cpu.localIrqEnable();
        irqOff = false;
        done = true;
        yield 'local_irq_enable';
      } finally {
        if (!done) {
          if (prev) arch.switchMm(cpu, prev);
          if (irqOff) {
            m.closeWindow(cpu);
            cpu.localIrqEnable();
          }
        }
      }
    },
  };
}
