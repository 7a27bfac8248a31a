import { PAGE_SIZE, PageFault } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { s1Decode } from './support/decode.js';
import { arm64Machine, diffBytes, el2, protectedAreas, wr } from './support/machine.js';

/**
 * The attacker is the kernel itself: it finds the stage-1 leaf of a protected page with its
 * own walk of the raw tables, rewrites AP[2] through the linear map with a plain store,
 * invalidates its TLBs, and writes the page.
 */
function makeWritable(m: Awaited<ReturnType<typeof arm64Machine>>, va: number): void {
  const leaf = s1Decode(m.phys.bytes, m.kernelMm.rootPa, va);
  if (!leaf) throw new Error('no leaf');
  const cpu = m.cpu(0);
  const loVa = m.directMapVa(leaf.descPa);
  const lo = cpu.read32(loVa);
  cpu.write32(loVa, (lo & ~(1 << 7)) >>> 0); // AP[2] := 0, EL1 read/write
  for (let i = 0; i < m.cpuCount; i++) m.arch.flushLocalPage(m.cpu(i), va);
  expect(s1Decode(m.phys.bytes, m.kernelMm.rootPa, va)?.ap2).toBe(false);
}

describe('page-table attack', () => {
  for (const level of ['wr', 'ro'] as const) {
    it(`hyp-assist: a kernel that makes its own ${level} PTE writable still cannot write: stage-2 fault, logged`, async () => {
      const m = await arm64Machine();
      const { wrArea, roArea } = protectedAreas(m);
      const target = (level === 'wr' ? wrArea : roArea).start + 64;
      makeWritable(m, target);
      const before = m.phys.bytes.slice();
      const cpu = m.cpu(1);
      let fault: unknown;
      try {
        cpu.write32(target, 0xdeadbeef);
      } catch (e) {
        fault = e;
      }
      expect(fault).toBeInstanceOf(PageFault);
      expect(fault).toMatchObject({ reason: 'stage2', access: 'write', cpu: 1, address: target });
      expect(diffBytes(m.phys.bytes, before)).toEqual([]);
      const ev = m.securityEvents().filter((e) => e.kind === 'stage2-fault');
      expect(ev).toHaveLength(1);
      expect(ev[0]).toMatchObject({ cpu: 1, address: target, operation: 'write' });
      expect(m.stats().events.stage2Fault).toBe(1);
      // The linear-map alias of the same frame is stopped the same way (stage 2 is per frame).
      const alias = m.directMapVa(m.translate(target));
      makeWritable(m, alias);
      const before2 = m.phys.bytes.slice();
      expect(() => cpu.write32(alias, 1)).toThrow(expect.objectContaining({ reason: 'stage2' }));
      expect(diffBytes(m.phys.bytes, before2)).toEqual([]);
      expect(before2[m.translate(target)]).toBe(before[m.translate(target)]);
    });
  }

  it('alias-mm (stage 1 only): the same attack on a write-rare page succeeds — the honest window', async () => {
    const m = await arm64Machine({ mechanism: 'alias-mm' });
    const { wrArea, roArea } = protectedAreas(m);
    makeWritable(m, wrArea.start);
    m.cpu(1).write32(wrArea.start, 0xdeadbeef);
    expect(m.cpu(0).read32(wrArea.start)).toBe(0xdeadbeef);
    // Read-only ranges are registered with EL2 under alias-mm too: still stopped.
    makeWritable(m, roArea.start);
    expect(() => m.cpu(1).write32(roArea.start, 1)).toThrow(
      expect.objectContaining({ reason: 'stage2' }),
    );
  });

  it('a kernel that remaps a write-mediated VA onto a read-only frame cannot get EL2 to write it', async () => {
    const m = await arm64Machine();
    const { wrArea, roArea } = protectedAreas(m);
    const leaf = s1Decode(m.phys.bytes, m.kernelMm.rootPa, wrArea.start);
    if (!leaf) throw new Error('no leaf');
    const roPa = m.translate(roArea.start);
    const cpu = m.cpu(0);
    const loVa = m.directMapVa(leaf.descPa);
    // Point the ROWM page's PTE at the RO frame (output address bits 12–31).
    cpu.write32(loVa, ((cpu.read32(loVa) & 0xfff) | roPa) >>> 0);
    cpu.write32(loVa + 4, cpu.read32(loVa + 4) & ~0xffff);
    expect(m.translate(wrArea.start)).toBe(roPa);
    const before = m.phys.bytes.slice();
    expect(() =>
      el2(m).hvc(cpu, { fn: 'write_32', dst: wrArea.start, value: 0x41414141n }),
    ).toThrow(expect.objectContaining({ code: 'EHVC_REMAPPED' }));
    // Through the mechanism, the kernel's own check sees the read-only frame first (and
    // EL2 would refuse the call anyway, as above).
    expect(() => wr(m, 0, [{ kind: 'write', va: wrArea.start, data: new Uint8Array(4) }])).toThrow(
      expect.objectContaining({ code: 'EWRTARGET', reason: 'read-only' }),
    );
    expect(diffBytes(m.phys.bytes, before)).toEqual([]);
    expect(m.securityEvents().map((e) => e.kind)).toEqual(['hvc-refused', 'wr-target-refused']);
  });

  for (const mechanism of ['alias-mm', 'hyp-assist'] as const)
    it(`${mechanism}: a PTE attack that moves a __wr_after_init page does not move the kernel's write-rare writes (__pa_symbol)`, async () => {
      const m = await arm64Machine({ mechanism });
      const counter = m.defineStatic('.data..wr_after_init', 8, 'counter');
      m.finishBoot();
      const { wrArea } = protectedAreas(m);
      const off = counter % PAGE_SIZE;
      const real = m.translate(counter - off);
      const decoy = m.translate(wrArea.start);
      // The attacker points the image page's stage-1 PTE at a write-rare frame of its
      // choosing (output address bits 12-31) and drops the stale translations.
      const leaf = s1Decode(m.phys.bytes, m.kernelMm.rootPa, counter);
      if (!leaf) throw new Error('no leaf');
      const cpu = m.cpu(0);
      const loVa = m.directMapVa(leaf.descPa);
      cpu.write32(loVa, ((cpu.read32(loVa) & 0xfff) | decoy) >>> 0);
      for (let i = 0; i < m.cpuCount; i++) m.arch.flushLocalPage(m.cpu(i), counter);
      expect(m.translate(counter - off)).toBe(decoy);
      const before = m.phys.bytes.slice();
      const data = new Uint8Array(8).fill(0x5a);
      if (mechanism === 'alias-mm') {
        // The kernel finds an image page's frame by arithmetic, not through the PTE: the
        // alias maps the real frame, which takes the write; the decoy is untouched.
        wr(m, 0, [{ kind: 'write', va: counter, data }]);
        expect([...m.phys.bytes.subarray(real + off, real + off + 8)]).toEqual([...data]);
        expect(
          diffBytes(
            m.phys.bytes.subarray(decoy, decoy + PAGE_SIZE),
            before.subarray(decoy, decoy + PAGE_SIZE),
          ),
        ).toEqual([]);
      } else {
        // EL2 walks stage 1 itself and finds the page remapped: refused, nothing written.
        expect(() => wr(m, 0, [{ kind: 'write', va: counter, data }])).toThrow(
          expect.objectContaining({ code: 'EHVC_REMAPPED' }),
        );
        expect(diffBytes(m.phys.bytes, before)).toEqual([]);
      }
    });

  it("the kernel cannot reach EL2's stage-2 tables to undo stage-2 protection", async () => {
    const m = await arm64Machine();
    const { roArea } = protectedAreas(m);
    const s2 = el2(m).stage2;
    const entry = s2.entryPa(m.translate(roArea.start));
    const before = m.phys.bytes.slice();
    expect(() => m.cpu(0).write32(m.directMapVa(entry), 0xffffffff)).toThrow(
      expect.objectContaining({ reason: 'stage2' }),
    );
    expect(diffBytes(m.phys.bytes, before)).toEqual([]);
    expect(m.securityEvents().map((e) => e.kind)).toEqual(['stage2-fault']);
    expect(entry % PAGE_SIZE).toBeGreaterThanOrEqual(0);
  });
});
