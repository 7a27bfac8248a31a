// Run: npx tsx --conditions=@prmem/source packages/arch-x86/examples/compare.ts
import { createMachine, drain, sessionOf } from '@prmem/core';
import { backend } from '@prmem/arch-x86';

for (const mechanism of backend.mechanisms) {
  const m = await createMachine({ arch: backend, mechanism, cpus: 4, memoryMiB: 16, seed: 1 });
  const counter = m.defineStatic('.data..wr_after_init', 8, 'counter');
  m.finishBoot();
  m.resetStats();
  const cpu = m.cpu(0);
  drain(sessionOf(m.mechanism, cpu, [{ kind: 'set', va: counter, value: 1, len: 8 }]));
  const e = m.stats().events;
  console.log(
    `${mechanism.padEnd(18)} cycles=${m.stats().cycles} pte=${e.pteWrite} invlpg=${e.localFlushPage} ` +
      `cr3=${e.mmSwitch} ipi=${e.ipiSent} cr0=${e.cr0Write} pkrs=${e.pkrsWrite} audit=${m.auditProtections().length}`,
  );
}
