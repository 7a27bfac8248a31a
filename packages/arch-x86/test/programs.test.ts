/**
 * Every x86 mechanism offers its window as a step program. Stopped after any step (a
 * schedule that abandons it, or a fault), the window leaves the CPU as it found it, and
 * run to the end it writes what the ops say.
 */
import { type Machine, type WrOp, runProgram, sessionOf } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CR0, DEFAULT_PKRS, MECHANISMS, type MechanismName } from '../src/index.js';
import { wrMachine } from './support/machine.js';

/** The CPU state a window must restore. */
function cpuState(m: Machine, cpu: number) {
  const c = m.cpu(cpu);
  return {
    mm: c.mm.name,
    irqsDisabled: c.irqsDisabled,
    preempt: c.preemptCount,
    window: m.windowOpen(c),
    cr0: c.regs.cr0 ?? DEFAULT_CR0,
    pkrs: c.regs.pkrs ?? DEFAULT_PKRS,
  };
}

describe.each(MECHANISMS.map((n) => [n]))('%s as a step program', (name: MechanismName) => {
  const opLists = (w: Awaited<ReturnType<typeof wrMachine>>): WrOp[][] => [
    [{ kind: 'store', va: w.counter, size: 8, lo: 0x1234_5678, hi: 0x9abc }],
    [
      { kind: 'set', va: w.area.start + 4090, value: 7, len: 12 },
      { kind: 'store', va: w.counter, size: 4, lo: 99, hi: 0 },
    ],
  ];

  it('stopped after any step, leaves the CPU as it found it; run through, writes the ops', async () => {
    for (let l = 0; l < 2; l++) {
      const probe = await wrMachine({ cpus: 2, mechanism: name });
      const total = [...sessionOf(probe.m.mechanism, probe.m.cpu(1), opLists(probe)[l])].length;
      expect(total).toBeGreaterThan(2);
      for (let k = 0; k < total; k++) {
        const w = await wrMachine({ cpus: 2, mechanism: name });
        const before = cpuState(w.m, 1);
        const p = w.m.mechanism.program?.(w.m.cpu(1), opLists(w)[l]);
        if (!p) throw new Error(`${name} offers a step program`);
        for (let i = 0; i < k; i++) expect(p.step()).not.toBeNull();
        p.abort();
        p.abort(); // nothing left the second time
        expect(cpuState(w.m, 1)).toEqual(before);
        expect(w.m.auditProtections()).toEqual([]);
      }
      const w = await wrMachine({ cpus: 2, mechanism: name });
      const p = w.m.mechanism.program?.(w.m.cpu(1), opLists(w)[l]);
      if (!p) throw new Error(`${name} offers a step program`);
      runProgram(p);
      if (l === 0) expect(w.m.cpu(0).read64(w.counter)).toBe(0x9abc_1234_5678n);
      else {
        expect([...w.m.cpu(0).readBytes(w.area.start + 4090, 12)]).toEqual(Array(12).fill(7));
        expect(w.m.cpu(0).read32(w.counter)).toBe(99);
      }
      expect(w.m.auditProtections()).toEqual([]);
    }
  });

  it('a bad target is refused before any step: nothing opened, nothing written', async () => {
    const w = await wrMachine({ cpus: 1, mechanism: name });
    const before = cpuState(w.m, 0);
    const bytes = w.m.phys.bytes.slice();
    expect(() =>
      w.m.mechanism.program?.(w.m.cpu(0), [
        { kind: 'store', va: w.counter, size: 8, lo: 1, hi: 0 },
        { kind: 'store', va: w.konst, size: 8, lo: 1, hi: 0 },
      ]),
    ).toThrow(/read-only/);
    expect(cpuState(w.m, 0)).toEqual(before);
    expect(Buffer.compare(w.m.phys.bytes, bytes)).toBe(0);
  });
});
