import {
  BadAddressError,
  BracketWindow,
  type Cpu,
  EV,
  OpWriter,
  PAGE_SIZE,
  type StepProgram,
  TLBF_PKEY_MASK,
  TLBF_PKEY_SHIFT,
  WalkResult,
  type WindowBracket,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { X86MechanismContext, X86MechanismPlugin } from './plugin.js';
import { pkrsWd } from '../bits.js';
import { DEFAULT_PKRS, WR_PKEY } from '../constants.js';
import { holdOf, resolveTargets } from './targets.js';

/**
 * `pks` (supervisor protection keys, Edgecombe/Weiny RFCs): write-rare pages are RW in
 * their PTEs and carry WR_PKEY; IA32_PKRS write-disables that key. A window is one WRMSR
 * to open the key on this CPU and one to close it: no TLB flush, no IPI, and only pages
 * of that key become writable.
 */
export function pks(arch: X86MechanismContext): WriteRareMechanism {
  const m = arch.m;
  const w = new WalkResult();
  const wrmsr = (cpu: Cpu, open: boolean) => {
    const pkrs = cpu.regs.pkrs ?? DEFAULT_PKRS;
    cpu.regs.pkrs = (open ? pkrs & ~pkrsWd(WR_PKEY) : pkrs | pkrsWd(WR_PKEY)) >>> 0;
    m.counters.charge(cpu.id, EV.pkrsWrite);
  };
  const brackets: readonly WindowBracket[] = [
    {
      open: 'wrmsr IA32_PKRS (write-rare key open)',
      close: 'wrmsr IA32_PKRS (write-rare key closed)',
      enter: (cpu) => {
        cpu.preemptCount++;
        wrmsr(cpu, true);
        m.openWindow(cpu);
      },
      exit: (cpu) => {
        wrmsr(cpu, false);
        m.closeWindow(cpu);
        cpu.preemptCount--;
      },
    },
  ];
  /** Every write-rare page of the targets must carry the key, or opening it opens nothing. */
  const checkKeys = (cpu: Cpu, ops: readonly WrOp[]) => {
    const runs = resolveTargets(arch, cpu, ops);
    for (const r of runs) {
      for (let i = 0; i < r.pas.length; i++) {
        const va = r.first + i * PAGE_SIZE;
        arch.pt.lookup(m.kernelMm, va, w);
        const key = (w.flags & TLBF_PKEY_MASK) >>> TLBF_PKEY_SHIFT;
        if (m.frameLevel(r.pas[i] / PAGE_SIZE) === 'wr' && key !== WR_PKEY)
          throw new BadAddressError(va, `write-rare page does not carry key ${WR_PKEY}`);
      }
    }
    return holdOf(arch, runs);
  };
  const program = (cpu: Cpu, ops: readonly WrOp[]): StepProgram => {
    const hold = checkKeys(cpu, ops);
    return new BracketWindow(cpu, brackets, new OpWriter(cpu, ops, 0), ops.length === 0, hold);
  };
  return {
    name: 'pks',
    summary:
      'supervisor protection keys: a per-CPU WRMSR of IA32_PKRS opens the write-rare key; no flush',
    batchable: true,
    program,
  };
}

export const PKS: X86MechanismPlugin<'pks'> = {
  name: 'pks',
  needs: { aliasMm: false, wrPkey: true, mirror: false },
  create: pks,
};
