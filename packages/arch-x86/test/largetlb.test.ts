import { PAGE_SIZE, PageFault } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { DIRECT_MAP, x86Arch } from '../src/index.js';
import { decode, rawEntry, writeRawEntry } from './support/decode.js';
import { machine } from './support/machine.js';

describe('large pages in the TLB', () => {
  it('a 2 MiB direct-map page costs one miss for all its 512 pages; INVLPG anywhere in it drops it', async () => {
    const m = await machine({ cpus: 1, memoryMiB: 8 });
    const arch = x86Arch(m);
    const cpu = m.cpu(0);
    const base = DIRECT_MAP + 2 * 2 ** 21; // the second 2 MiB page: untouched by boot
    expect(arch.pt.leafLevel(m.kernelMm, base)).toBe(2);
    m.resetStats();
    for (let i = 0; i < 512; i++) cpu.read32(base + i * PAGE_SIZE);
    expect(m.stats().events.tlbMiss).toBe(1);
    expect(m.stats().events.pageWalk).toBe(1);
    // The translation is cached once, as one 2 MiB entry.
    const large = [...cpu.tlb.entries()].filter((e) => e.size === 2 ** 21);
    expect(large.map((e) => e.va)).toEqual([base]);
    // INVLPG of the 300th page drops the whole translation: the next access anywhere misses.
    arch.flushLocalPage(cpu, base + 300 * PAGE_SIZE);
    expect(cpu.tlb.covers(base, 0)).toBe(false);
    cpu.read32(base + 5 * PAGE_SIZE);
    expect(m.stats().events.tlbMiss).toBe(2);
    // A stale large entry still translates after its PDE is cleared without a flush, as on
    // hardware; the INVLPG of any page in it ends that.
    const pde = decode(m.phys.bytes, m.kernelMm.rootPa, base)?.entries[2] ?? -1;
    const [lo, hi] = rawEntry(m.phys.bytes, pde);
    writeRawEntry(m.phys.bytes, pde, 0, 0);
    expect(cpu.read32(base + 511 * PAGE_SIZE)).toBe(m.phys.read32(2 * 2 ** 21 + 511 * PAGE_SIZE));
    arch.flushLocalPage(cpu, base + 7 * PAGE_SIZE);
    expect(() => cpu.read32(base + 511 * PAGE_SIZE)).toThrow(PageFault);
    writeRawEntry(m.phys.bytes, pde, lo, hi);
  });
});
