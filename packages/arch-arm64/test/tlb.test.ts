import { PAGE_SIZE, PageFault, WalkResult, sessionOf } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { arm64Of } from '../src/index.js';
import { desc, s1Decode } from './support/decode.js';
import { arm64Machine, protectedAreas, wr } from './support/machine.js';

const ASID_SHIFT = 16; // TTBR bits 48–63 = bits 16–31 of the high word

describe('TLB maintenance by broadcast', () => {
  for (const mechanism of ['hyp-assist', 'alias-mm'] as const) {
    it(`${mechanism}: zero IPIs in every operation, TLBIs and DSBs counted`, async () => {
      const m = await arm64Machine({ cpus: 4, mechanism });
      const ev = () => m.stats().events;
      const step = (what: string, fn: () => void, expectBroadcast: boolean) => {
        m.resetStats();
        fn();
        const e = ev();
        expect(e.ipiSent + e.ipiHandled).toBe(0);
        expect([what, e.ipiSent, e.ipiHandled]).toEqual([what, 0, 0]);
        if (expectBroadcast) {
          expect(e.tlbiBroadcast).toBeGreaterThan(0);
          expect(e.dsb).toBeGreaterThan(0);
        }
      };
      const s = m.defineStatic('.data..wr_after_init', 8, 's');
      step('finishBoot', () => m.finishBoot(), true);
      let areas!: ReturnType<typeof protectedAreas>;
      step('vmalloc + protect', () => (areas = protectedAreas(m, 3)), true);
      for (let c = 0; c < 4; c++) m.cpu(c).read32(areas.wrArea.start); // warm every TLB
      step(
        'write-rare writes',
        () => {
          wr(m, 1, [{ kind: 'write', va: areas.wrArea.start, data: new Uint8Array([1, 2, 3, 4]) }]);
          wr(m, 2, [{ kind: 'set', va: s, value: 7, len: 8 }]);
        },
        false,
      );
      // hyp-assist: one HVC per op; alias-mm: local TLBI VALE1 only. Neither broadcasts.
      const e = ev();
      if (mechanism === 'hyp-assist') expect([e.hypercall, e.tlbiBroadcast]).toEqual([2, 0]);
      else
        expect([e.hypercall, e.tlbiBroadcast, e.localFlushPage, e.mmSwitch]).toEqual([0, 0, 2, 4]);
      const user = m.createMm('user', 'task');
      step('switchMm', () => m.switchMm(m.cpu(3), user), false);
      step('make read-only', () => m.protect(areas.wrArea.start, areas.wrArea.size, 'ro'), true);
      step('vfree', () => m.vfree(areas.wrArea), true);
      expect(m.auditProtections()).toEqual([]);
    });
  }

  it('flush_tlb_kernel_range: one TLBI VAALE1IS per page and one DSB; VMALLE1IS past MAX_TLBI_OPS', async () => {
    const m = await arm64Machine({ cpus: 3 });
    const a = m.vmalloc(4 * PAGE_SIZE);
    for (let c = 0; c < 3; c++) m.cpu(c).read32(a.start + PAGE_SIZE);
    m.resetStats();
    [...m.arch.flushKernelRange(m.cpu(0), a.start, a.end)];
    expect([m.stats().events.tlbiBroadcast, m.stats().events.dsb]).toEqual([4, 1]);
    // Every CPU's entry is gone (hardware broadcast), although only CPU 0 executed it.
    for (let c = 0; c < 3; c++) expect(m.cpu(c).tlb.lookup(a.start + PAGE_SIZE, 0)).toBe(-1);
    m.resetStats();
    const kernelText = m.section('.rodata').start;
    m.cpu(2).read32(kernelText);
    [
      ...m.arch.flushKernelRange(
        m.cpu(1),
        m.layout.directMap,
        m.layout.directMap + 600 * PAGE_SIZE,
      ),
    ];
    expect([m.stats().events.tlbiBroadcast, m.stats().events.dsb]).toEqual([1, 1]);
    expect(m.cpu(2).tlb.lookup(kernelText, 0)).toBe(-1);
  });

  it('protection drops stale writable entries on every CPU (no missed shootdown)', async () => {
    const m = await arm64Machine({ cpus: 4 });
    const a = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    const alias = m.directMapVa(m.translate(a.start));
    for (let c = 0; c < 4; c++) {
      m.cpu(c).write32(a.start, c);
      m.cpu(c).write32(alias, c);
    }
    m.protect(a.start, a.size, 'wr');
    for (let c = 0; c < 4; c++) {
      expect(() => m.cpu(c).write32(a.start, 9)).toThrow(PageFault);
      expect(() => m.cpu(c).write32(alias, 9)).toThrow(PageFault);
    }
    expect(m.cpu(0).read32(a.start)).toBe(3);
  });
});

describe('TTBR0/TTBR1 and ASIDs', () => {
  it('switchMm writes TTBR0 with the ASID in bits 48–63, flushes nothing, counts mmSwitch', async () => {
    const m = await arm64Machine({ cpus: 2 });
    const cpu = m.cpu(1);
    const t1 = m.createMm('user', 't1');
    const t2 = m.createMm('user', 't2');
    const frame = m.phys.allocFrame() * PAGE_SIZE;
    m.arch.pt.map(t1, 0x400000, frame, { write: true, exec: false, global: false, user: true });
    m.switchMm(cpu, t1);
    expect(cpu.regs.TTBR0_EL1_LO).toBe(t1.rootPa);
    expect(cpu.regs.TTBR0_EL1_HI >>> ASID_SHIFT).toBe(t1.asid);
    expect(cpu.regs.TTBR1_EL1_LO).toBe(m.kernelMm.rootPa);
    cpu.write32(0x400000, 0x1234);
    const filled = [...cpu.tlb.entries()].length;
    m.resetStats();
    m.switchMm(cpu, t2);
    expect(m.stats().events.mmSwitch).toBe(1);
    expect([...cpu.tlb.entries()].length).toBe(filled); // nothing flushed
    expect(cpu.regs.TTBR0_EL1_HI >>> ASID_SHIFT).toBe(t2.asid);
    // t1's non-global entry is still cached but tagged with t1's ASID: t2 does not see it.
    expect(() => cpu.read32(0x400000)).toThrow(expect.objectContaining({ reason: 'not-present' }));
    m.switchMm(cpu, m.kernelMm);
    expect(() => cpu.read32(0x400000)).toThrow(PageFault); // the kernel's TTBR0 is empty
    m.switchMm(cpu, t1);
    expect(cpu.read32(0x400000)).toBe(0x1234);
  });

  it('the walk sets AF as FEAT_HAFDBS does, and clears AP[2] on a write through a DBM (writable-clean) entry', async () => {
    const m = await arm64Machine();
    const cpu = m.cpu(0);
    const a = m.vmalloc(PAGE_SIZE);
    const leaf = s1Decode(m.phys.bytes, m.kernelMm.rootPa, a.start);
    if (!leaf) throw new Error('no leaf');
    const w32 = (pa: number, v: number) => new DataView(m.phys.bytes.buffer).setUint32(pa, v, true);
    const lo = new DataView(m.phys.bytes.buffer).getUint32(leaf.descPa, true);
    // Old: AF clear and AP[2] set with DBM: "young = 0, clean".
    w32(leaf.descPa, (lo & ~(1 << 10)) | (1 << 7));
    m.arch.flushLocalPage(cpu, a.start);
    expect(cpu.read32(a.start)).toBe(0);
    const afterRead = desc(m.phys.bytes, leaf.descPa);
    expect([(afterRead >> 10n) & 1n, (afterRead >> 7n) & 1n]).toEqual([1n, 1n]);
    cpu.write32(a.start, 5);
    const afterWrite = desc(m.phys.bytes, leaf.descPa);
    expect((afterWrite >> 7n) & 1n).toBe(0n);
    // A software walk changes nothing.
    w32(leaf.descPa, lo & ~(1 << 10));
    m.arch.pt.lookup(m.kernelMm, a.start, new WalkResult());
    expect((desc(m.phys.bytes, leaf.descPa) >> 10n) & 1n).toBe(0n);
  });

  it('alias-mm uses a randomized base and a non-global, EL1-only, never-executable alias, then clears it', async () => {
    const bases = new Set<number>();
    for (const seed of [1, 2, 3]) {
      const m = await arm64Machine({ mechanism: 'alias-mm', seed });
      bases.add(arm64Of(m).aliasBase);
    }
    expect(bases.size).toBe(3);
    const m = await arm64Machine({ mechanism: 'alias-mm' });
    const arch = arm64Of(m);
    const { wrArea } = protectedAreas(m);
    const cpu = m.cpu(0);
    const seen: ReturnType<typeof s1Decode>[] = [];
    const gen = sessionOf(m.mechanism, cpu, [
      { kind: 'write', va: wrArea.start + 8, data: new Uint8Array([9]) },
    ]);
    for (let r = gen.next(); !r.done; r = gen.next()) {
      seen.push(s1Decode(m.phys.bytes, arch.wrMm.rootPa, arch.aliasBase));
      if (m.windowOpen(cpu)) {
        expect(cpu.mm).toBe(arch.wrMm);
        expect(cpu.irqsDisabled).toBe(true);
        expect(cpu.regs.TTBR0_EL1_HI >>> ASID_SHIFT).toBe(arch.wrMm.asid);
        expect(m.auditProtections()).toEqual([]);
      }
    }
    const alias = seen.find((d) => d !== undefined);
    expect(alias).toMatchObject({ nG: true, ap1: false, ap2: false, pxn: true, uxn: true });
    expect(alias?.oa).toBe(m.translate(wrArea.start));
    expect(s1Decode(m.phys.bytes, arch.wrMm.rootPa, arch.aliasBase)).toBeUndefined();
    expect(cpu.mm).toBe(m.kernelMm);
    expect(cpu.irqsDisabled).toBe(false);
    expect([...cpu.tlb.entries()].filter((e) => e.asid === arch.wrMm.asid)).toEqual([]);
    expect(m.cpu(0).read8(wrArea.start + 8)).toBe(9);
    expect(arch.aliasMms()).toEqual([arch.wrMm]);
  });
});
