import { PAGE_SIZE, type PageFault, TLBF, WalkResult } from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { s1Decode, s2Decode, effective } from './support/decode.js';
import { arm64Machine, vttbr } from './support/machine.js';

const KERNEL_HALF = 2 ** 47;

const areaArb = fc.record({
  pages: fc.integer({ min: 1, max: 4 }),
  range: fc.constantFrom('vmalloc' as const, 'wr' as const),
  level: fc.constantFrom('rw' as const, 'wr' as const, 'ro' as const),
});
const userMapArb = fc.record({
  vpn: fc.integer({ min: 1, max: 2 ** 35 - 1 }),
  frame: fc.nat(),
  write: fc.boolean(),
  exec: fc.boolean(),
  user: fc.boolean(),
  global: fc.boolean(),
});

describe('independent decode of raw descriptors vs the backend', () => {
  it('stage 1 + stage 2 from phys.bytes agree with lookup and with real accesses', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(areaArb, { minLength: 1, maxLength: 5 }),
        fc.array(userMapArb, { maxLength: 12 }),
        fc.integer({ min: 1, max: 1000 }),
        async (areas, userMaps, seed) => {
          const m = await arm64Machine({ seed });
          const mem = m.phys.bytes;
          const s2root = vttbr(m);
          const cpu = m.cpu(0);
          for (const a of areas) {
            const area = m.vmalloc(a.pages * PAGE_SIZE, { range: a.range });
            if (a.level !== 'rw') m.protect(area.start, area.size, a.level);
          }
          const user = m.createMm('user', 'task');
          for (const u of userMaps) {
            const pfn = 1 + (u.frame % (m.phys.frameCount - 1));
            m.arch.pt.map(user, u.vpn * PAGE_SIZE, pfn * PAGE_SIZE, u);
          }
          const w = new WalkResult();
          const check = (mm: typeof user, ttbr: number, va: number) => {
            const want = effective(mem, ttbr, s2root, va);
            const ok = m.arch.pt.lookup(mm, va, w) && w.fault === 0;
            expect(ok).toBe(want !== undefined);
            if (!want) return;
            expect(w.pa).toBe(want.pa);
            expect((w.flags & TLBF.W) !== 0).toBe(want.write);
            expect((w.flags & TLBF.X) !== 0).toBe(want.exec);
            expect((w.flags & TLBF.G) !== 0).toBe(want.global);
            expect((w.flags & TLBF.U) !== 0).toBe(want.user);
            expect(m.arch.leafWritable?.(mm, w.flags)).toBe(want.write);
          };
          // Kernel leaves (TTBR1): all outside the linear map, the linear-map aliases of
          // vmalloc'd frames, and a sample of the rest; every user leaf (the task's TTBR0).
          const aliasVas = new Set(
            m.liveAreas.flatMap((a) => a.pfns.map((p) => m.directMapVa(p * PAGE_SIZE))),
          );
          let n = 0;
          m.arch.pt.forEachLeaf(m.kernelMm, (va) => {
            const linear = va < m.layout.vmallocStart;
            if (!linear || aliasVas.has(va) || n++ % 97 === 0)
              check(m.kernelMm, m.kernelMm.rootPa, va);
          });
          m.arch.pt.forEachLeaf(user, (va) => check(user, user.rootPa, va));
          // The page after each user leaf; after the last user page that is the first
          // kernel-half page, which the hardware translates through TTBR1.
          for (const u of userMaps) {
            const next = u.vpn * PAGE_SIZE + PAGE_SIZE;
            check(user, next >= KERNEL_HALF ? m.kernelMm.rootPa : user.rootPa, next);
          }

          // Real kernel stores through the MMU agree with the decoded permission.
          m.switchMm(cpu, user);
          for (const area of m.liveAreas) {
            const want = effective(mem, m.kernelMm.rootPa, s2root, area.start);
            expect(want).toBeDefined();
            const before = cpu.read32(area.start);
            let fault: PageFault | undefined;
            try {
              cpu.write32(area.start, before);
            } catch (e) {
              fault = e as PageFault;
            }
            expect(fault === undefined).toBe(want?.write);
            if (fault) expect(fault.reason).toBe(want?.stage2Denies ? 'stage2' : 'write-protect');
          }
          for (const u of userMaps) {
            const va = u.vpn * PAGE_SIZE;
            const want = effective(mem, user.rootPa, s2root, va);
            let readable = true;
            try {
              cpu.read8(va);
            } catch {
              readable = false;
            }
            expect(readable).toBe(want !== undefined);
          }
        },
      ),
      { numRuns: 12 },
    );
  });

  it('kernel leaves carry the bits Linux writes: global, AF, inner shareable, Normal, UXN; RO = AP[2] without DBM', async () => {
    const m = await arm64Machine();
    const a = m.vmalloc(2 * PAGE_SIZE, { range: 'wr' });
    m.protect(a.start, a.size, 'ro');
    const mem = m.phys.bytes;
    let leaves = 0;
    m.arch.pt.forEachLeaf(m.kernelMm, (va, pa) => {
      const d = s1Decode(mem, m.kernelMm.rootPa, va);
      if (!d) throw new Error(`no decode at ${va}`);
      leaves++;
      expect(va).toBeGreaterThanOrEqual(KERNEL_HALF);
      expect(d.level).toBe(3);
      expect(d.oa).toBe(pa);
      expect([d.nG, d.af, d.sh, d.attrIndx, d.uxn, d.pxn, d.ap1]).toEqual([
        false,
        true,
        3,
        0,
        true,
        true,
        false,
      ]);
      const level = m.frameLevel(pa / PAGE_SIZE);
      // Protected frames: AP[2]=1 and no DBM at the vmalloc VA and at the linear-map alias.
      expect(d.ap2).toBe(level !== 'rw');
      expect(d.dbm).toBe(level === 'rw');
    });
    expect(leaves).toBeGreaterThan(m.phys.frameCount);
  });

  it('stage 2 is an identity map, RO (S2AP=01) for registered frames, and leaves EL2 memory unmapped', async () => {
    const m = await arm64Machine();
    const a = m.vmalloc(3 * PAGE_SIZE, { range: 'wr' });
    m.protect(a.start, a.size, 'wr');
    const mem = m.phys.bytes;
    const root = vttbr(m);
    const protectedPfns = new Set(a.pfns);
    let unmapped = 0;
    for (let pfn = 0; pfn < m.phys.frameCount; pfn++) {
      const d = s2Decode(mem, root, pfn * PAGE_SIZE);
      if (!d) {
        unmapped++;
        // Only EL2's own frames (its stage-2 tables) are missing.
        expect(m.phys.frameOwner[pfn]).toBe(-2);
        continue;
      }
      expect(d.oa).toBe(pfn * PAGE_SIZE);
      expect([d.memAttr, d.sh, d.af, d.xn]).toEqual([0xf, 3, true, 0]);
      expect(d.s2ap).toBe(protectedPfns.has(pfn) ? 0b01 : 0b11);
    }
    expect(unmapped).toBeGreaterThan(0);
    // The kernel's linear map of EL2 memory hits a stage-2 fault.
    const el2Pfn = root / PAGE_SIZE;
    expect(() => m.cpu(0).read32(m.directMapVa(el2Pfn * PAGE_SIZE))).toThrow(
      expect.objectContaining({ reason: 'stage2' }),
    );
  });
});
