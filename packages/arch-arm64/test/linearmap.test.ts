import { createMachine, PAGE_SIZE, PageFault } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { arm64Of, createArm64Backend, type LinearMap } from '../src/index.js';

async function machineWith(linearMap: LinearMap, mechanism: 'hyp-assist' | 'alias-mm') {
  return createMachine({
    arch: createArm64Backend({ linearMap }),
    cpus: 2,
    memoryMiB: 16,
    mechanism,
  });
}

function throwsFault(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof PageFault) return e.reason;
    throw e;
  }
  return undefined;
}

describe('the linear map: pages (rodata=full), blocks, blocks split with BBML2', () => {
  it('pages by default; blocks where asked, cached as one TLB entry per 2 MiB', async () => {
    const pages = await machineWith('pages', 'hyp-assist');
    const va = pages.directMapVa(3 * 2 ** 21 + 5 * PAGE_SIZE);
    expect(arm64Of(pages).pt.blockLevel(pages.kernelMm, va)).toBe(0);
    const blocks = await machineWith('blocks', 'hyp-assist');
    expect(arm64Of(blocks).pt.blockLevel(blocks.kernelMm, va)).toBe(2);
    expect(blocks.translate(va + 12)).toBe(3 * 2 ** 21 + 5 * PAGE_SIZE + 12);
    const cpu = blocks.cpu(0);
    // Stage 2 is page-granular: the combined translation (and the TLB entry) is a page.
    cpu.read32(va);
    expect(cpu.tlb.lookup(va, 0)).toBeGreaterThanOrEqual(0);
    expect(() => createArm64Backend({ linearMap: 'huge' as LinearMap })).toThrow(/linearMap/);
  });

  it('blocks (rodata=on): protection leaves the linear alias writable; only stage 2 stops the write', async () => {
    for (const mech of ['alias-mm', 'hyp-assist'] as const) {
      const m = await machineWith('blocks', mech);
      const area = m.vmalloc(PAGE_SIZE, { range: 'wr' });
      m.cpu(0).write32(area.start, 1);
      m.protect(area.start, area.size, 'wr');
      const alias = m.directMapVa(area.pfns[0] * PAGE_SIZE);
      expect(arm64Of(m).pt.blockLevel(m.kernelMm, alias)).toBe(2);
      expect(throwsFault(() => m.cpu(1).write32(area.start, 2))).toBe('write-protect');
      const viaAlias = throwsFault(() => m.cpu(1).write32(alias, 3));
      if (mech === 'hyp-assist') {
        // EL2 made the frame read-only at stage 2: the write traps there.
        expect(viaAlias).toBe('stage2');
      } else {
        // Nothing stops it: the write-rare data changed through the linear map.
        expect(viaAlias).toBeUndefined();
        expect(m.cpu(0).read32(area.start)).toBe(3);
        expect(m.auditProtections()).toContainEqual(
          expect.objectContaining({ where: 'pte', va: alias, level: 'wr' }),
        );
      }
    }
  });

  it('blocks-bbml2: the alias block is split on demand (cpaSplit), then changed like a page', async () => {
    const m = await machineWith('blocks-bbml2', 'alias-mm');
    const arch = arm64Of(m);
    const area = m.vmalloc(2 * PAGE_SIZE, { range: 'wr' });
    const alias = m.directMapVa(area.pfns[0] * PAGE_SIZE);
    const neighbour = alias - (alias % 2 ** 21) + 2 ** 21 - PAGE_SIZE;
    m.cpu(1).read32(alias);
    m.resetStats();
    m.protect(area.start, area.size, 'ro');
    expect(m.stats().events.cpaSplit).toBe(1);
    expect(arch.cpaSplits).toBe(1);
    expect(arch.pt.blockLevel(m.kernelMm, alias)).toBe(0);
    expect(throwsFault(() => m.cpu(1).write32(alias, 1))).toBe('write-protect');
    expect(m.translate(neighbour)).toBe(neighbour - m.layout.directMap);
    if (neighbour !== alias && neighbour !== alias + PAGE_SIZE) m.cpu(1).write32(neighbour, 5);
    expect(m.auditProtections()).toEqual([]);
  });
});
