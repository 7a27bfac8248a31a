import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  WalkResult,
  BadAddressError,
  drain,
  InvalidArgumentError,
  PAGE_SIZE,
  PageFault,
  TLBF,
} from '../src/index.js';
import { snapshot, toyMachine } from './helpers.js';

const A = 0x20;
const D = 0x40;

describe('CPU accesses', () => {
  it('reads back what was written, at any offset and size, across page boundaries', async () => {
    const m = await toyMachine({ tlbEntries: 8 }); // a tiny TLB: misses and evictions all the time
    const area = m.vmalloc(4 * PAGE_SIZE);
    const ref = new Uint8Array(area.size);
    const cpu = m.cpu(0);
    const size = fc.constantFrom(1, 2, 4, 8, 3, 13, 4096, 5000);
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            off: fc.integer({ min: 0, max: area.size - 1 }),
            size,
            seed: fc.integer({ min: 0, max: 255 }),
            read: fc.boolean(),
          }),
          { maxLength: 40 },
        ),
        async (ops) => {
          for (const o of ops) {
            const n = Math.min(o.size, area.size - o.off);
            const va = area.start + o.off;
            if (o.read) {
              const got = n === 1 ? [cpu.read8(va)] : Array.from(cpu.readBytes(va, n));
              expect(got).toEqual(Array.from(ref.subarray(o.off, o.off + n)));
              if (n >= 4) {
                const dv = new DataView(ref.buffer, o.off);
                expect(cpu.read32(va)).toBe(dv.getUint32(0, true));
                expect(cpu.read16(va)).toBe(dv.getUint16(0, true));
              }
              if (n >= 8)
                expect(cpu.read64(va)).toBe(new DataView(ref.buffer, o.off).getBigUint64(0, true));
            } else {
              const data = new Uint8Array(n).map((_, i) => (o.seed + i * 7) & 0xff);
              if (n === 4) cpu.write32(va, new DataView(data.buffer).getUint32(0, true));
              else if (n === 8) cpu.write64(va, new DataView(data.buffer).getBigUint64(0, true));
              else if (n === 2) cpu.write16(va, new DataView(data.buffer).getUint16(0, true));
              else if (n === 1) cpu.write8(va, data[0]);
              else cpu.writeBytes(va, data);
              ref.set(data, o.off);
            }
          }
        },
      ),
      { numRuns: 60 },
    );
    // What the CPU wrote is what physical memory holds, frame by frame.
    for (let i = 0; i < area.pfns.length; i++) {
      expect(
        Array.from(m.phys.bytes.subarray(area.pfns[i] * PAGE_SIZE, (area.pfns[i] + 1) * PAGE_SIZE)),
      ).toEqual(Array.from(ref.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE)));
    }
  });

  it('stores and loads canonical pointers', async () => {
    const m = await toyMachine();
    const cpu = m.cpu(0);
    const a = m.vmalloc(PAGE_SIZE);
    cpu.writePtr(a.start, a.start + 8);
    expect(cpu.readPtr(a.start)).toBe(a.start + 8);
    expect(cpu.read32(a.start + 4) >>> 16).toBe(0xffff); // sign-extended upper half
    cpu.writePtr(a.start + 16, 0x1234_5678);
    expect(cpu.read32(a.start + 20)).toBe(0);
    cpu.write64(a.start + 24, 0x0000_8000_0000_0000n); // not canonical
    expect(() => cpu.readPtr(a.start + 24)).toThrow(BadAddressError);
  });

  it('raises a typed PageFault for unmapped and read-only targets', async () => {
    const m = await toyMachine();
    const cpu = m.cpu(1);
    const e = (() => {
      try {
        cpu.read32(m.layout.vmallocEnd - PAGE_SIZE);
      } catch (err) {
        return err as PageFault;
      }
    })();
    expect(e).toBeInstanceOf(PageFault);
    expect(e).toMatchObject({
      code: 'EFAULT',
      access: 'read',
      cpu: 1,
      reason: 'not-present',
      address: m.layout.vmallocEnd - PAGE_SIZE,
    });
    const v = m.defineStatic('.rodata', 4, 'answer');
    cpu.write32(v, 42); // boot: plain writes
    m.finishBoot();
    expect(() => cpu.write32(v, 43)).toThrow(
      expect.objectContaining({ reason: 'write-protect', access: 'write', address: v }),
    );
    expect(cpu.read32(v)).toBe(42);
    expect(m.stats().events.fault).toBeGreaterThan(0);
  });

  it('a store crossing into a read-only page writes nothing', async () => {
    const m = await toyMachine();
    const cpu = m.cpu(0);
    const a = m.vmalloc(2 * PAGE_SIZE);
    m.arch.pt.protect(m.kernelMm, a.start + PAGE_SIZE, { write: false, exec: false, global: true });
    drain(m.arch.flushKernelRange(cpu, a.start, a.end));
    expect(() => cpu.write64(a.start + PAGE_SIZE - 4, 0x1122334455667788n)).toThrow(PageFault);
    expect(cpu.read32(a.start + PAGE_SIZE - 4)).toBe(0);
    expect(() => cpu.writeBytes(a.start + 10, new Uint8Array(PAGE_SIZE).fill(9))).toThrow(
      PageFault,
    );
    expect(cpu.readBytes(a.start, PAGE_SIZE).every((b) => b === 0)).toBe(true);
  });

  it('bad addresses and values give typed errors and change nothing', async () => {
    const m = await toyMachine();
    const cpu = m.cpu(0);
    const a = m.vmalloc(PAGE_SIZE);
    const before = snapshot(m);
    for (const va of [-1, 0.5, 2 ** 48, 2 ** 60, Number.NaN]) {
      expect(() => cpu.read32(va)).toThrow(BadAddressError);
      expect(() => cpu.write8(va, 1)).toThrow(BadAddressError);
    }
    expect(() => cpu.readBytes(a.start, -1)).toThrow(expect.objectContaining({ code: 'EBADSIZE' }));
    expect(() => cpu.readBytes(2 ** 48 - 2, 4)).toThrow(BadAddressError);
    expect(() => cpu.write8(a.start, 256)).toThrow(InvalidArgumentError);
    expect(() => cpu.write16(a.start, -1)).toThrow(InvalidArgumentError);
    expect(() => cpu.write32(a.start, 2 ** 32)).toThrow(InvalidArgumentError);
    expect(() => cpu.write32(a.start, 1.5)).toThrow(InvalidArgumentError);
    expect(() => cpu.write64(a.start, 1n << 64n)).toThrow(InvalidArgumentError);
    expect(() => cpu.writePtr(a.start, -5)).toThrow(BadAddressError);
    expect(snapshot(m)).toEqual(before);
    expect(cpu.readBytes(a.start, 16).every((b) => b === 0)).toBe(true);
  });

  it('the hit path finds what the walk filled, for any TLB size; near-miss VAs of a cached page never hit', async () => {
    const sizes = fc.constantFrom(8, 64, 1024, 65536);
    await fc.assert(
      fc.asyncProperty(sizes, fc.nat({ max: 2047 }), fc.nat({ max: 1023 }), async (n, pfn, w) => {
        const m = await toyMachine({ cpus: 1, tlbEntries: n });
        const cpu = m.cpu(0);
        // A direct-map page and a vmalloc page: kernel VAs far above 2^32. Reads only: a
        // direct-map page may hold page tables.
        const a = m.vmalloc(PAGE_SIZE);
        const pages = [m.layout.directMap + pfn * PAGE_SIZE, a.start];
        for (const page of pages) {
          const va = page + 4 * w;
          // A miss: the walk fills the slot (and sets A in the PTEs it used, which may
          // live in this very page: read what memory holds after the access).
          const first = cpu.read32(va);
          const want = new DataView(m.peek(va, 4)!.buffer).getUint32(0, true);
          expect(first).toBe(want);
          const s0 = m.stats().events;
          expect(cpu.read32(va)).toBe(want);
          const s1 = m.stats().events;
          expect(s1.tlbMiss - s0.tlbMiss).toBe(0);
          expect(s1.memAccess - s0.memAccess).toBe(1); // a TLB hit
          // Same slot, same page bits, but not a valid address: the slow path refuses.
          for (const bad of [va + 0.5, va - 2 ** 48, va + 2 ** 48, va + 2 ** 52])
            expect(() => cpu.read32(bad)).toThrow(BadAddressError);
          expect(m.stats().events.memAccess - s1.memAccess).toBe(0);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('a misaligned access never hits an entry whose tag is off by its misalignment', async () => {
    // The hit path folds 4/8-byte alignment into the global compare (`va - (va & 0xffc)`
    // is pageBase + (va & 3)); the ASID compare needs its own alignment test. A decoy entry
    // for the same page tagged `asid + r` must never answer an access misaligned by r.
    const m = await toyMachine({ cpus: 1, tlbEntries: 64 });
    const cpu = m.cpu(0);
    const a = m.vmalloc(PAGE_SIZE);
    const decoy = m.vmalloc(PAGE_SIZE);
    const ref = new Uint8Array(PAGE_SIZE).map((_, i) => (i * 13 + 5) & 0xff);
    cpu.writeBytes(a.start, ref);
    cpu.writeBytes(decoy.start, new Uint8Array(PAGE_SIZE).fill(0xaa));
    const decoyPa = m.translate(decoy.start);
    const rw = TLBF.R | TLBF.W | TLBF.D;
    await fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.nat({ max: PAGE_SIZE / 8 - 2 }),
        fc.constantFrom(2, 4, 8),
        (r, k, size) => {
          const va = a.start + 8 * k + r;
          const dv = new DataView(ref.buffer, 8 * k + r);
          cpu.tlb.flushAll();
          cpu.tlb.fill(a.start, cpu.asid + r, decoyPa, rw);
          const got = size === 2 ? cpu.read16(va) : size === 4 ? cpu.read32(va) : cpu.read64(va);
          const want =
            size === 2
              ? dv.getUint16(0, true)
              : size === 4
                ? dv.getUint32(0, true)
                : dv.getBigUint64(0, true);
          expect(got).toBe(want);
          cpu.tlb.flushAll();
          cpu.tlb.fill(a.start, cpu.asid + r, decoyPa, rw);
          if (size === 2) cpu.write16(va, dv.getUint16(0, true));
          else if (size === 4) cpu.write32(va, dv.getUint32(0, true));
          else cpu.write64(va, dv.getBigUint64(0, true));
          expect(m.peek(decoy.start, PAGE_SIZE)?.every((b) => b === 0xaa)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('the walk sets Accessed on a read and Dirty on a write, as the hardware does', async () => {
    const m = await toyMachine();
    const cpu = m.cpu(0);
    const a = m.vmalloc(PAGE_SIZE);
    const w = new WalkResult();
    m.arch.pt.lookup(m.kernelMm, a.start, w);
    const pte = () => m.phys.u32[w.leafPa >>> 2];
    m.phys.u32[w.leafPa >>> 2] = pte() & ~(A | D); // as freshly mapped by software
    cpu.read32(a.start);
    expect(pte() & A).toBe(A);
    expect(pte() & D).toBe(0);
    cpu.write32(a.start, 1); // clean cached entry: the MMU walks again to set D
    expect(pte() & D).toBe(D);
    expect(m.stats().events.pageWalk).toBe(2);
  });

  it('a missing flush leaves a stale writable translation that still works', async () => {
    const m = await toyMachine({ cpus: 2 });
    const [c0, c1] = [m.cpu(0), m.cpu(1)];
    const a = m.vmalloc(PAGE_SIZE);
    c1.write32(a.start, 1); // CPU1 caches a writable, dirty translation
    m.arch.pt.protect(m.kernelMm, a.start, { write: false, exec: false, global: true });
    drain(m.arch.flushKernelRange(c0, a.start, a.start + PAGE_SIZE)); // ...on CPU0? no: on all
    expect(() => c1.write32(a.start, 2)).toThrow(PageFault);
    // Now relax, cache on CPU1, tighten again without any flush: the stale entry wins.
    m.arch.pt.protect(m.kernelMm, a.start, { write: true, exec: false, global: true });
    c1.write32(a.start, 3);
    m.arch.pt.protect(m.kernelMm, a.start, { write: false, exec: false, global: true });
    c1.write32(a.start, 4); // the hazard is real
    expect(c1.read32(a.start)).toBe(4);
    expect(() => c0.write32(a.start, 5)).toThrow(PageFault); // CPU0 walks the new tables
    m.arch.flushLocalPage(c1, a.start);
    expect(() => c1.write32(a.start, 6)).toThrow(PageFault);
  });

  it('handles a spurious fault from a stale, more restrictive entry: re-check, flush, retry', async () => {
    const m = await toyMachine({ cpus: 2 });
    const c1 = m.cpu(1);
    const a = m.vmalloc(PAGE_SIZE);
    m.arch.pt.protect(m.kernelMm, a.start, { write: false, exec: false, global: true });
    drain(m.arch.flushKernelRange(m.cpu(0), a.start, a.end));
    expect(c1.read32(a.start)).toBe(0); // CPU1 caches a read-only entry
    m.arch.pt.protect(m.kernelMm, a.start, { write: true, exec: false, global: true }); // relaxed, no flush
    m.resetStats();
    c1.write32(a.start, 7);
    expect(c1.read32(a.start)).toBe(7);
    const s = m.stats().events;
    expect(s.spuriousFault).toBe(1);
    expect(s.fault).toBe(1);
    expect(s.localFlushPage).toBe(1);
  });
});
