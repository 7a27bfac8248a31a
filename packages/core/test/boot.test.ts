import { describe, expect, it } from 'vitest';
import { type Backend, Machine } from '../src/index.js';
import { toyBackend } from '../src/testing/index.js';

/** The toy backend with its bulk direct map taken away: the machine maps page by page. */
function pageByPage(): Backend {
  const toy = toyBackend();
  return {
    ...toy,
    attach: (m) => {
      const arch = toy.attach(m);
      Object.defineProperty(arch, 'mapDirectMap', { value: undefined });
      return arch;
    },
  };
}

describe('boot', () => {
  it('the toy’s bulk direct map is the page-by-page one: same tables, entries and frames', () => {
    for (const memoryMiB of [1, 4, 5, 9]) {
      const bulk = new Machine({ backend: toyBackend(), memoryMiB, cpus: 2 });
      const slow = new Machine({ backend: pageByPage(), memoryMiB, cpus: 2 });
      expect(bulk.arch.mapDirectMap).toBeTypeOf('function');
      expect(slow.arch.mapDirectMap).toBeUndefined();
      expect(Buffer.compare(bulk.phys.bytes, slow.phys.bytes)).toBe(0);
      expect(bulk.phys.frameFlags).toEqual(slow.phys.frameFlags);
      expect(bulk.phys.frameOwner).toEqual(slow.phys.frameOwner);
      expect(bulk.phys.freeFrames).toBe(slow.phys.freeFrames);
      expect(bulk.ptdump()).toBe(slow.ptdump());
      // And it maps what it must: the last frame, through its direct-map address.
      const last = (bulk.phys.frameCount - 1) * 4096;
      expect(bulk.translate(bulk.directMapVa(last))).toBe(last);
      bulk.dispose();
      slow.dispose();
    }
  });
});
