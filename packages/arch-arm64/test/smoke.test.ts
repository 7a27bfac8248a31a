import { createMachine, drain, PageFault } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { arm64Of, backend } from '../src/index.js';

describe('smoke', () => {
  it('boots, protects, writes through EL2', async () => {
    const m = await createMachine({ arch: backend, cpus: 2, memoryMiB: 16 });
    const cpu = m.cpu(0);
    const v = m.defineStatic('.data..wr_after_init', 8, 'counter');
    cpu.write32(v, 42);
    m.finishBoot();
    expect(() => cpu.write32(v, 43)).toThrow(PageFault);
    drain(m.mechanism.session(cpu, [{ kind: 'write', va: v, data: new Uint8Array([7, 0, 0, 0]) }]));
    expect(cpu.read32(v)).toBe(7);
    expect(m.auditProtections()).toEqual([]);
    console.log(m.ptdump());
    console.log(arm64Of(m).el2.registrations().map((r) => [r.start.toString(16), r.level]));
    console.log(m.stats().events);
  });
});
