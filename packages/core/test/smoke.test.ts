import { describe, expect, it } from 'vitest';
import { createMachine, PageFault } from '../src/index.js';
import { toyBackend } from '../src/testing/toy.js';

describe('smoke', () => {
  it('boots, writes, protects, faults', async () => {
    const m = await createMachine({ arch: toyBackend(), cpus: 2, memoryMiB: 8 });
    const cpu = m.cpu(0);
    const v = m.defineStatic('.data..wr_after_init', 8, 'counter');
    cpu.write32(v, 42);
    expect(cpu.read32(v)).toBe(42);
    m.finishBoot();
    expect(() => cpu.write32(v, 43)).toThrow(PageFault);
    expect(m.auditProtections()).toEqual([]);
    const a = m.vmalloc(10000, { range: 'wr' });
    expect(m.findArea(a.start + 5000)).toBe(a);
    console.log(m.ptdump().split('\n').slice(0, 12).join('\n'));
    console.log(m.stats().events);
  });
});
