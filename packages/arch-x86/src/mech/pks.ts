import {
  applyOpsViaCpu,
  BadAddressError,
  type Cpu,
  EV,
  PAGE_SIZE,
  type Steps,
  TLBF_PKEY_MASK,
  TLBF_PKEY_SHIFT,
  WalkResult,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { X86Arch } from '../arch.js';
import { DEFAULT_PKRS, WR_PKEY } from '../constants.js';
import { pkrsWd } from '../bits.js';
import { resolveTargets } from './targets.js';

/**
 * `pks` (supervisor protection keys, Edgecombe/Weiny RFCs): write-rare pages are RW in
 * their PTEs and carry WR_PKEY; IA32_PKRS write-disables that key. A window is one WRMSR
 * to open the key on this CPU and one to close it: no TLB flush, no IPI, and only pages
 * of that key become writable.
 */
export function pks(arch: X86Arch): WriteRareMechanism {
  const w = new WalkResult();
  const wrmsr = (cpu: Cpu, open: boolean) => {
    const pkrs = cpu.regs.pkrs ?? DEFAULT_PKRS;
    cpu.regs.pkrs = (open ? pkrs & ~pkrsWd(WR_PKEY) : pkrs | pkrsWd(WR_PKEY)) >>> 0;
    arch.m.counters.charge(cpu.id, EV.pkrsWrite);
  };
  return {
    name: 'pks',
    summary:
      'supervisor protection keys: a per-CPU WRMSR of IA32_PKRS opens the write-rare key; no flush',
    batchable: true,
    *session(cpu: Cpu, ops: readonly WrOp[]): Steps {
      if (ops.length === 0) return;
      const m = arch.m;
      for (const r of resolveTargets(arch, ops)) {
        for (let i = 0; i < r.pas.length; i++) {
          const va = r.first + i * PAGE_SIZE;
          arch.pt.lookup(m.kernelMm, va, w);
          const key = (w.flags & TLBF_PKEY_MASK) >>> TLBF_PKEY_SHIFT;
          if (m.frameLevel(r.pas[i] / PAGE_SIZE) === 'wr' && key !== WR_PKEY)
            throw new BadAddressError(va, `write-rare page does not carry key ${WR_PKEY}`);
        }
      }
      let open = false;
      try {
        cpu.preemptCount++;
        wrmsr(cpu, true);
        m.openWindow(cpu);
        open = true;
        yield 'wrmsr IA32_PKRS (write-rare key open)';
        yield* applyOpsViaCpu(cpu, ops, 0);
        wrmsr(cpu, false);
        m.closeWindow(cpu);
        cpu.preemptCount--;
        open = false;
        yield 'wrmsr IA32_PKRS (write-rare key closed)';
      } finally {
        if (open) {
          wrmsr(cpu, false);
          m.closeWindow(cpu);
          cpu.preemptCount--;
        }
      }
    },
  };
}
