/**
 * Why this MMU refuses aliases: the VIPT aliasing D-cache. With the debug switch on, a
 * write through an alias of another colour is invisible through the primary mapping until
 * flush_dcache_page; with it off (the default) the second mapping is refused.
 */
import {
  createMachine,
  drain,
  EV,
  type Machine,
  PageFault,
  WalkResult,
  sessionOf,
} from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AliasRefusedError,
  backend,
  createNommuBackend,
  nommuArch,
  PAGE_KERNEL,
} from '../src/index.js';
import { u32Op, wrWorld } from './support.js';

/** Unused kernel VA space (between the end of lowmem and vmalloc) for test aliases. */
const ALIAS_BASE = 0xe000_0000;

function paOf(m: Machine, va: number): number {
  const w = new WalkResult();
  if (!m.arch.pt.lookup(m.kernelMm, va, w)) throw new Error(`unmapped ${va}`);
  return w.pa;
}

describe('aliases refused (default)', () => {
  it('a second mapping of a direct-mapped frame is refused with a typed error; nothing changes', async () => {
    const m = await createMachine({ arch: backend, cpus: 2, memoryMiB: 16 });
    const arch = nommuArch(m);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: m.phys.frameCount - 1 }),
        fc.integer({ min: 0, max: 0x7ff }),
        (pfn, page) => {
          const existing = m.layout.directMap + pfn * 4096;
          fc.pre(m.translate(existing) >= 0); // frames of static sections left already
          const va = ALIAS_BASE + page * 4096;
          const free = m.phys.freeFrames;
          let err: unknown;
          try {
            m.arch.pt.map(m.kernelMm, va, pfn * 4096, PAGE_KERNEL);
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(AliasRefusedError);
          const a = err as AliasRefusedError;
          expect(a.code).toBe('EALIAS');
          expect([a.pfn, a.existingVa, a.va]).toEqual([pfn, existing, va]);
          expect(m.translate(va)).toBe(-1);
          expect(m.phys.freeFrames).toBe(free);
          expect(arch.mapCount(pfn)).toBe(1);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('vmalloc takes frames out of the direct map (with a shootdown) and vfree puts them back', async () => {
    const m = await createMachine({ arch: backend, cpus: 2, memoryMiB: 16 });
    const arch = nommuArch(m);
    // CPU 1 caches direct-map translations of the frames vmalloc is about to take.
    const next = m.phys.allocFrames(4);
    for (const pfn of next) m.phys.freeFrame(pfn);
    for (const pfn of next) m.cpu(1).read32(m.layout.directMap + pfn * 4096);
    m.resetStats();
    const area = m.vmalloc(4 * 4096, { range: 'wr' });
    expect([...area.pfns].sort()).toEqual([...next].sort());
    expect(m.stats().events.ipiSent).toBe(1);
    for (const pfn of area.pfns) {
      const dm = m.layout.directMap + pfn * 4096;
      expect(m.translate(dm)).toBe(-1);
      expect(arch.mapCount(pfn)).toBe(1);
      // No stale translation survived on the other CPU.
      expect(() => m.cpu(1).read32(dm)).toThrow(PageFault);
    }
    m.protect(area.start, area.size, 'wr');
    // The only mapping of a protected pool page is its vmalloc VA, read-only.
    for (let i = 0; i < 4; i++)
      expect(() => m.cpu(1).write32(area.start + i * 4096, 1)).toThrow(PageFault);
    m.vfree(area);
    for (const pfn of area.pfns) {
      expect(m.translate(m.layout.directMap + pfn * 4096)).toBe(pfn * 4096);
      expect(arch.mapCount(pfn)).toBe(1);
    }
    expect(m.auditProtections()).toEqual([]);
  });

  it('after any sequence of vmalloc / protect / write-rare / vfree, no frame has two mappings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('alloc' as const), pages: fc.integer({ min: 1, max: 4 }) }),
            fc.record({ op: fc.constant('protect' as const), i: fc.nat() }),
            fc.record({ op: fc.constant('write' as const), i: fc.nat(), v: fc.nat() }),
            fc.record({ op: fc.constant('free' as const), i: fc.nat() }),
          ),
          { maxLength: 12 },
        ),
        async (cmds) => {
          const m = await createMachine({ arch: backend, cpus: 2, memoryMiB: 4 });
          const live = () => m.liveAreas;
          for (const c of cmds) {
            const areas = live();
            if (c.op === 'alloc') m.vmalloc(c.pages * 4096, { range: 'wr' });
            else if (areas.length === 0) continue;
            else {
              const a = areas[('i' in c ? c.i : 0) % areas.length];
              if (c.op === 'protect' && a.level === 'rw') m.protect(a.start, a.size, 'wr');
              if (c.op === 'write' && a.level === 'wr')
                drain(sessionOf(m.mechanism, m.cpu(1), [u32Op(a.start, c.v)]));
              if (c.op === 'free') m.vfree(a);
            }
          }
          const seen = new Map<number, number>();
          m.arch.pt.forEachLeaf(m.kernelMm, (va, pa) => {
            expect(seen.get(pa), `pa ${pa} at ${va} and ${seen.get(pa)}`).toBeUndefined();
            seen.set(pa, va);
          });
          expect(m.auditProtections()).toEqual([]);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('static sections live outside the direct map', async () => {
    const m = await createMachine({ arch: backend, cpus: 1, memoryMiB: 16 });
    const v = m.defineStatic('.data..wr_after_init', 8, 'x');
    expect(m.translate(m.layout.directMap + paOf(m, v))).toBe(-1);
  });
});

describe('the aliasing D-cache (debug switch on)', () => {
  async function aliased(sizeKiB = 32) {
    const m = await createMachine({
      arch: createNommuBackend({ allowAliases: true, dcache: { sizeKiB, ways: 4, lineBytes: 32 } }),
      cpus: 2,
      memoryMiB: 16,
    });
    const arch = nommuArch(m);
    const area = m.vmalloc(4096);
    const pa = paOf(m, area.start);
    return { m, arch, primary: area.start, pa, colours: arch.dcache?.colours ?? 0 };
  }

  it('a write through an alias of another colour is not seen through the primary until flush_dcache_page', async () => {
    const { m, arch, primary, pa, colours } = await aliased();
    expect(colours).toBe(2);
    const c0 = arch.colourOf(primary);
    const alias = ALIAS_BASE + ((c0 + 1) % colours) * 4096;
    expect(arch.colourOf(alias)).not.toBe(c0);
    m.arch.pt.map(m.kernelMm, alias, pa, PAGE_KERNEL);
    expect(arch.mapCount(pa / 4096)).toBe(2);
    const cpu = m.cpu(0);
    cpu.write32(primary + 8, 0x1111_1111);
    arch.flushDcachePage(cpu, pa / 4096); // memory and cache agree: 0x11111111
    expect(cpu.read32(primary + 8)).toBe(0x1111_1111); // primary line now cached (clean)
    cpu.write32(alias + 8, 0x2222_2222); // lands in the alias colour's set
    expect(cpu.read32(alias + 8)).toBe(0x2222_2222);
    expect(cpu.read32(primary + 8)).toBe(0x1111_1111); // stale: incoherent
    expect(m.cpu(1).read32(primary + 8)).toBe(0x1111_1111);
    m.resetStats();
    const lines = arch.flushDcachePage(cpu, pa / 4096);
    expect(lines).toBeGreaterThanOrEqual(2);
    expect(m.stats().events.cacheFlush).toBe(lines);
    expect(cpu.read32(primary + 8)).toBe(0x2222_2222);
  });

  it('property: an alias is coherent iff it has the same colour (2 and 4 colours)', async () => {
    for (const sizeKiB of [32, 64]) {
      const { m, arch, primary, pa, colours } = await aliased(sizeKiB);
      expect(colours).toBe(sizeKiB / 16);
      const cpu = m.cpu(0);
      let slot = 0;
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: colours - 1 }),
          fc.integer({ min: 0, max: 1023 }),
          fc.integer({ min: 1, max: 0xffff_fffe }),
          (colour, word, v) => {
            const alias = ALIAS_BASE + (slot++ * colours + colour) * 4096;
            m.arch.pt.map(m.kernelMm, alias, pa, PAGE_KERNEL);
            const off = word * 4;
            arch.flushDcachePage(cpu, pa / 4096);
            const before = cpu.read32(primary + off);
            cpu.write32(alias + off, v === before ? v + 1 : v);
            const seen = cpu.read32(primary + off);
            const coherent = seen !== before;
            expect(coherent).toBe(arch.colourOf(alias) === arch.colourOf(primary));
            arch.flushDcachePage(cpu, pa / 4096);
            expect(cpu.read32(primary + off)).toBe(v === before ? v + 1 : v);
            m.arch.pt.unmap(m.kernelMm, alias);
          },
        ),
        { numRuns: 60 },
      );
    }
  });

  it('the default backend refuses the very mapping the demonstration needs', async () => {
    const m = await createMachine({ arch: backend, cpus: 1, memoryMiB: 16 });
    const area = m.vmalloc(4096);
    expect(() =>
      m.arch.pt.map(m.kernelMm, ALIAS_BASE + 4096, paOf(m, area.start), PAGE_KERNEL),
    ).toThrow(AliasRefusedError);
    expect(nommuArch(m).dcache).toBeUndefined();
  });

  it('write-rare still works through the cache model', async () => {
    const w = await wrWorld({ cpus: 2, backendOpts: { allowAliases: true } });
    drain(sessionOf(w.m.mechanism, w.m.cpu(0), [u32Op(w.target, 77)]));
    expect(w.m.cpu(1).read32(w.target)).toBe(77);
    expect(() => w.m.cpu(1).write32(w.target, 1)).toThrow(PageFault);
    expect(w.m.counters.count(0, EV.wrWindow)).toBe(1);
  });
});
