/**
 * An independent decoder of the raw ARMv6 short descriptors in simulated physical memory,
 * written here from the ARM ARM bit layout (not from the backend), compared with the
 * backend's translations.
 */
import { createMachine, type Machine, PageFault, TLBF, WalkResult } from '@prmem/core';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { backend, PAGE_KERNEL } from '../src/index.js';

interface Decoded {
  pa: number;
  privRead: boolean;
  privWrite: boolean;
  user: boolean;
  exec: boolean;
  global: boolean;
}

/** DACR as Linux sets it without CONFIG_CPU_USE_DOMAINS: domains 0 and 1 "client". */
const clientDomain = (d: number) => d === 0 || d === 1;

function word(m: Machine, pa: number): number {
  return new DataView(m.phys.bytes.buffer).getUint32(pa, true);
}

/** ARMv6 AP/APX → privileged read/write, user any. */
function perms(apx: number, ap: number) {
  const privRead = ap !== 0;
  return { privRead, privWrite: privRead && apx === 0, user: ap >= 2 };
}

export function decode(m: Machine, ttbr: number, va: number): Decoded | null {
  if (va >= 2 ** 32) return null;
  const l1 = word(m, ttbr + Math.floor(va / 2 ** 20) * 4);
  const type = l1 % 4;
  if (type === 0 || type === 3) return null;
  if (!clientDomain(Math.floor(l1 / 32) % 16)) return null;
  if (type === 2) {
    if (Math.floor(l1 / 2 ** 18) % 2 === 1) return null; // supersection: not used
    const base = Math.floor(l1 / 2 ** 20) * 2 ** 20;
    const ap = Math.floor(l1 / 2 ** 10) % 4;
    const apx = Math.floor(l1 / 2 ** 15) % 2;
    const p = perms(apx, ap);
    return {
      pa: base + (va % 2 ** 20) - (va % 4096),
      ...p,
      exec: Math.floor(l1 / 16) % 2 === 0,
      global: Math.floor(l1 / 2 ** 17) % 2 === 0,
    };
  }
  const l2Base = Math.floor(l1 / 1024) * 1024;
  const pte = word(m, l2Base + (Math.floor(va / 4096) % 256) * 4);
  const t = pte % 4;
  if (t === 0) return null;
  const ap = Math.floor(pte / 16) % 4;
  const apx = Math.floor(pte / 512) % 2;
  const p = perms(apx, ap);
  const ng = Math.floor(pte / 2048) % 2;
  if (t === 1) {
    // 64 KiB large page: base [31:16], XN bit 15
    return {
      pa: Math.floor(pte / 65536) * 65536 + (va % 65536) - (va % 4096),
      ...p,
      exec: Math.floor(pte / 2 ** 15) % 2 === 0,
      global: ng === 0,
    };
  }
  return { pa: Math.floor(pte / 4096) * 4096, ...p, exec: pte % 2 === 0, global: ng === 0 };
}

function backendView(m: Machine, va: number) {
  const w = new WalkResult();
  if (!m.arch.pt.lookup(m.kernelMm, va, w)) return null;
  return {
    pa: w.pa,
    privRead: (w.flags & TLBF.R) !== 0,
    privWrite: (w.flags & TLBF.W) !== 0,
    user: (w.flags & TLBF.U) !== 0,
    exec: (w.flags & TLBF.X) !== 0,
    global: (w.flags & TLBF.G) !== 0,
  };
}

describe('independent decode of raw L1/L2 descriptors', () => {
  let m: Machine;
  let areas: { start: number; size: number }[];
  beforeAll(async () => {
    m = await createMachine({ arch: backend, cpus: 2, memoryMiB: 16 });
    m.defineStatic('.data..wr_after_init', 64, 'wr_var');
    const a = m.vmalloc(3 * 4096, { range: 'wr' });
    const b = m.vmalloc(5 * 4096);
    m.finishBoot();
    m.protect(a.start, a.size, 'wr');
    areas = [a, b, { start: m.layout.imageStart, size: 16 * 4096 }];
  });

  it('TTBR points at a 16 KiB-aligned L1 table', () => {
    expect(m.kernelMm.rootPa % 16384).toBe(0);
  });

  it('agrees with the backend and the CPU on every kind of address', () => {
    const mem = m.phys.size;
    const vaArb = fc.oneof(
      fc.integer({ min: 0, max: mem - 1 }).map((o) => m.layout.directMap + o),
      fc
        .tuple(fc.constantFrom(...areas), fc.integer({ min: 0, max: 2 ** 20 }))
        .map(([a, o]) => a.start + (o % (a.size + 8192))),
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.integer({ min: 2 ** 32, max: 2 ** 48 - 1 }),
    );
    fc.assert(
      fc.property(vaArb, (va) => {
        const d = decode(m, m.kernelMm.rootPa, va);
        const b = backendView(m, va);
        expect(b).toEqual(d);
        expect(m.translate(va)).toBe(d ? d.pa + (va % 4096) : -1);
        // The CPU agrees: a read works iff mapped with AP != 00; writing back the same value works iff
        // the descriptor grants privileged write.
        const cpu = m.cpu(1);
        const at = va - (va % 4);
        let readOk = true;
        let v = 0;
        try {
          v = cpu.read32(at);
        } catch (e) {
          expect(e).toBeInstanceOf(PageFault);
          readOk = false;
        }
        expect(readOk).toBe(d?.privRead === true);
        if (d?.privRead) {
          let writeOk = true;
          try {
            cpu.write32(at, v);
          } catch (e) {
            expect(e).toBeInstanceOf(PageFault);
            writeOk = false;
          }
          expect(writeOk).toBe(d.privWrite);
        }
      }),
      { numRuns: 400 },
    );
  });

  it('every present hardware PTE has its Linux shadow 2 KiB below, with matching bits', () => {
    let n = 0;
    m.arch.pt.forEachLeaf(m.kernelMm, (va) => {
      const l1 = word(m, m.kernelMm.rootPa + Math.floor(va / 2 ** 20) * 4);
      const hwPa = Math.floor(l1 / 1024) * 1024 + (Math.floor(va / 4096) % 256) * 4;
      const hw = word(m, hwPa);
      const lin = word(m, hwPa - 2048);
      expect(lin % 2).toBe(1); // L_PTE_PRESENT
      expect(Math.floor(lin / 4096)).toBe(Math.floor(hw / 4096));
      expect(Math.floor(lin / 128) % 2).toBe(Math.floor(hw / 512) % 2); // RDONLY ⇔ APX
      expect(Math.floor(lin / 512) % 2).toBe(hw % 2); // L_PTE_XN ⇔ XN
      // Linux packs two 1 KiB hardware tables at +2048/+3072 of a 4 KiB page.
      expect(Math.floor(l1 / 1024) % 4).toBe(2 + (Math.floor(va / 2 ** 20) % 2));
      n++;
    });
    expect(n).toBeGreaterThan(4000);
  });

  it('decodes raw descriptors written straight into memory (sections, small, large pages)', () => {
    // Scratch tables in the unused lowmem gap: one coarse table, one section slot.
    const scratch = 0xe000_0000;
    const sectionVa = 0xe800_0000;
    // A fresh frame leaves the direct map first: a second mapping would be refused.
    const f = m.phys.allocFrame();
    m.arch.vmapFrames?.(m.cpu(0), [f]);
    m.arch.pt.map(m.kernelMm, scratch, f * 4096, PAGE_KERNEL);
    const w = new WalkResult();
    m.arch.pt.lookup(m.kernelMm, scratch, w);
    const ptePa = w.leafPa;
    const l1Pa = m.kernelMm.rootPa + (sectionVa / 2 ** 20) * 4;
    const dv = new DataView(m.phys.bytes.buffer);
    const memMask = m.phys.size - 1;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.integer({ min: 0, max: 0xfffff }),
        (pteRaw, sectRaw, off) => {
          // Keep frames inside simulated memory; clear the supersection bit.
          const pte = ((pteRaw & 0xfff) | (pteRaw & ~0xfff & memMask)) >>> 0;
          const sect = ((sectRaw & 0xfffff & ~(1 << 18)) | 0) >>> 0;
          dv.setUint32(ptePa, pte, true);
          dv.setUint32(l1Pa, sect, true);
          for (const va of [scratch + (off % 4096), sectionVa + off]) {
            expect(backendView(m, va - (va % 4096))).toEqual(
              decode(m, m.kernelMm.rootPa, va - (va % 4096)),
            );
          }
        },
      ),
      { numRuns: 500 },
    );
    dv.setUint32(l1Pa, 0, true);
    m.arch.pt.unmap(m.kernelMm, scratch);
  });

  it('a user mm shares the kernel half and maps its own pages non-global under its ASID', () => {
    const mm = m.createMm('user', 'task');
    expect(mm.rootPa % 16384).toBe(0);
    expect(mm.asid).toBeGreaterThan(0);
    expect(mm.asid).toBeLessThan(256);
    const pfn = m.phys.allocFrame();
    m.arch.vmapFrames?.(m.cpu(0), [pfn]);
    m.arch.pt.map(mm, 0x8000, pfn * 4096, { write: true, exec: false, global: false, user: true });
    const d = decode(m, mm.rootPa, 0x8000);
    expect(d).toEqual({
      pa: pfn * 4096,
      privRead: true,
      privWrite: true,
      user: true,
      exec: false,
      global: false,
    });
    for (const va of [m.layout.directMap + 0x5000, areas[0].start]) {
      expect(decode(m, mm.rootPa, va)).toEqual(decode(m, m.kernelMm.rootPa, va));
    }
    const cpu = m.cpu(1);
    m.switchMm(cpu, mm);
    expect(cpu.regs.CONTEXTIDR).toBe(mm.asid);
    cpu.write32(0x8000, 7);
    const e = [...cpu.tlb.entries()].find((x) => x.va === 0x8000);
    expect(e?.asid).toBe(mm.asid);
    m.switchMm(cpu, m.kernelMm);
    expect(() => cpu.read32(0x8000)).toThrow(PageFault);
    m.arch.pt.unmap(mm, 0x8000);
  });
});
