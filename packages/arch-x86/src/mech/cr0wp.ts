import {
  applyOpsViaCpu,
  type Cpu,
  EV,
  type Steps,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { X86Arch } from '../arch.js';
import { CR0_WP } from '../bits.js';
import { resolveTargets } from './targets.js';

/**
 * `cr0-wp` (PaX pax_open_kernel): preemption and IRQs off, clear CR0.WP on this CPU,
 * write in place, set it again. While WP is clear the CPU ignores RW=0 for every
 * supervisor write: all read-only memory is writable on this CPU, not just the target.
 */
export function cr0Wp(arch: X86Arch): WriteRareMechanism {
  const writeCr0 = (cpu: Cpu, wp: boolean) => {
    const cr0 = cpu.regs.cr0 ?? 0;
    cpu.regs.cr0 = (wp ? cr0 | CR0_WP : cr0 & ~CR0_WP) >>> 0;
    arch.m.counters.charge(cpu.id, EV.cr0Write);
  };
  return {
    name: 'cr0-wp',
    summary:
      'PaX pax_open_kernel: clear CR0.WP locally; every read-only page is writable on this CPU meanwhile',
    batchable: true,
    *session(cpu: Cpu, ops: readonly WrOp[]): Steps {
      if (ops.length === 0) return;
      resolveTargets(arch, ops);
      const m = arch.m;
      let state = 0; // 1: IRQs off, 2: WP clear
      try {
        cpu.preemptCount++;
        cpu.localIrqDisable();
        state = 1;
        yield 'preempt_disable; local_irq_disable';
        writeCr0(cpu, false);
        m.openWindow(cpu);
        state = 2;
        yield 'write_cr0 (WP clear)';
        yield* applyOpsViaCpu(cpu, ops, 0);
        writeCr0(cpu, true);
        m.closeWindow(cpu);
        state = 1;
        yield 'write_cr0 (WP set)';
        cpu.localIrqEnable();
        cpu.preemptCount--;
        state = 0;
        yield 'local_irq_enable; preempt_enable';
      } finally {
        if (state === 2) {
          writeCr0(cpu, true);
          m.closeWindow(cpu);
        }
        if (state >= 1) {
          cpu.localIrqEnable();
          cpu.preemptCount--;
        }
      }
    },
  };
}
