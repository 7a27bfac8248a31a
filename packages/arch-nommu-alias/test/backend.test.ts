import { createMachine, EVENT_NAMES } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import defaultBackend, { backend, NOMMU_COSTS, NommuArch } from '../src/index.js';

describe('the backend object', () => {
  it('is found by its config name and as the default export', async () => {
    expect(defaultBackend).toBe(backend);
    const m = await createMachine({ arch: 'nommu-alias', cpus: 2, memoryMiB: 4 });
    expect(m.backend.name).toBe('nommu-alias');
    expect(m.arch).toBeInstanceOf(NommuArch);
    expect(m.mechanismName).toBe('direct-remap');
    expect(backend.tlbMaintenance).toBe('ipi');
  });

  it('every cost figure names its source, and unpublished figures say they are estimates', () => {
    for (const [name, fig] of Object.entries(NOMMU_COSTS)) {
      expect(EVENT_NAMES).toContain(name);
      expect(fig?.source.length).toBeGreaterThan(5);
      expect(fig?.cycles).toBeGreaterThan(0);
      expect(fig?.estimate).toBe(true);
    }
    for (const ev of ['ipiSent', 'ipiHandled', 'localFlushPage', 'pteWrite', 'cacheFlush'])
      expect(NOMMU_COSTS).toHaveProperty(ev);
  });

  it('the layout stays inside 32 bits and the write-rare range inside vmalloc space', () => {
    const l = backend.layout;
    expect(l.userEnd).toBeLessThanOrEqual(l.imageStart);
    expect(l.imageStart).toBeLessThan(l.directMap);
    expect(l.directMap).toBeLessThan(l.vmallocStart);
    expect(l.vmallocEnd).toBeLessThanOrEqual(l.wrStart);
    expect(l.wrEnd).toBeLessThan(2 ** 32);
  });
});
