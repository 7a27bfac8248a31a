import {
  BracketWindow,
  type Cpu,
  EV,
  OpWriter,
  type StepProgram,
  type WindowBracket,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { X86MechanismContext, X86MechanismPlugin } from './plugin.js';
import { CR0_WP } from '../bits.js';
import { holdOf, resolveTargets } from './targets.js';

/**
 * `cr0-wp` (PaX pax_open_kernel): preemption and IRQs off, clear CR0.WP on this CPU,
 * write in place, set it again. While WP is clear the CPU ignores RW=0 for every
 * supervisor write: all read-only memory is writable on this CPU, not just the target.
 */
export function cr0Wp(arch: X86MechanismContext): WriteRareMechanism {
  const m = arch.m;
  const writeCr0 = (cpu: Cpu, wp: boolean) => {
    const cr0 = cpu.regs.cr0 ?? 0;
    cpu.regs.cr0 = (wp ? cr0 | CR0_WP : cr0 & ~CR0_WP) >>> 0;
    m.counters.charge(cpu.id, EV.cr0Write);
  };
  const brackets: readonly WindowBracket[] = [
    {
      open: 'preempt_disable; local_irq_save',
      close: 'local_irq_restore; preempt_enable',
      enter: (cpu) => {
        cpu.preemptCount++;
        return cpu.localIrqSave();
      },
      exit: (cpu, irqsWereOff) => {
        cpu.localIrqRestore(irqsWereOff as boolean);
        cpu.preemptCount--;
      },
    },
    {
      open: 'write_cr0 (WP clear)',
      close: 'write_cr0 (WP set)',
      enter: (cpu) => {
        writeCr0(cpu, false);
        m.openWindow(cpu);
      },
      exit: (cpu) => {
        writeCr0(cpu, true);
        m.closeWindow(cpu);
      },
    },
  ];
  // Validates at once (resolveTargets throws before any step) and hands back the window.
  const program = (cpu: Cpu, ops: readonly WrOp[]): StepProgram => {
    const hold = holdOf(arch, resolveTargets(arch, cpu, ops));
    return new BracketWindow(cpu, brackets, new OpWriter(cpu, ops, 0), ops.length === 0, hold);
  };
  return {
    name: 'cr0-wp',
    summary:
      'PaX pax_open_kernel: clear CR0.WP locally; every read-only page is writable on this CPU meanwhile',
    batchable: true,
    program,
  };
}

export const CR0_WP_PLUGIN: X86MechanismPlugin<'cr0-wp'> = {
  name: 'cr0-wp',
  needs: { aliasMm: false, wrPkey: false, mirror: false },
  create: cr0Wp,
};
