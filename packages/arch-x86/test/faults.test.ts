import { FAULT, PAGE_SIZE, PF_ERR } from '@prmem/core';
import fc from 'fast-check';
import { faultOf } from '@prmem/core/testing';
import { describe, expect, it } from 'vitest';
import { bits, VMALLOC_START } from '../src/index.js';
import { decode, rawEntry, writeRawEntry } from './support/decode.js';
import { machine, wrMachine } from './support/machine.js';

const KERNEL = { write: true, exec: false, global: true } as const;

/** A mapped, warmed kernel page and the PAs of its four entries (PML4E first). */
async function mappedPage() {
  const m = await machine({ memoryMiB: 8, cpus: 1 });
  const cpu = m.cpu(0);
  const va = VMALLOC_START + 7 * 2 ** 21 + 5 * PAGE_SIZE;
  m.arch.pt.map(m.kernelMm, va, 9 * PAGE_SIZE, KERNEL);
  cpu.write32(va, 0x5a5a);
  const d = decode(m.phys.bytes, m.kernelMm.rootPa, va);
  if (!d) throw new Error('unmapped');
  return { m, cpu, va, entries: d.entries };
}

describe('x86 reserved bits raise #PF with RSVD (MAXPHYADDR = 46)', () => {
  it('states its MAXPHYADDR: bits 46-51 are the reserved mask of the high half', () => {
    expect(bits.MAXPHYADDR).toBe(46);
    expect(bits.RSVD_HI).toBe(0x000f_c000);
  });

  it('any address bit at or above MAXPHYADDR, at any level, faults with P|RSVD; bits 52-58 are ignored', async () => {
    const { m, cpu, va, entries } = await mappedPage();
    await fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 46, max: 58 }),
        fc.boolean(),
        (lvl, bit, write) => {
          const e = entries[lvl];
          const [lo, hi] = rawEntry(m.phys.bytes, e);
          writeRawEntry(m.phys.bytes, e, lo, (hi | (1 << (bit - 32))) >>> 0);
          cpu.tlb.flushAll();
          try {
            if (bit <= 51) {
              const f = faultOf(() => (write ? cpu.write32(va, 1) : cpu.read32(va)));
              expect(f.reason).toBe('reserved-bit');
              expect(f.record).toEqual({
                arch: 'x86',
                errorCode: PF_ERR.P | PF_ERR.RSVD | (write ? PF_ERR.W : 0),
                cr2: va,
              });
            } else {
              // Ignored bits: the access goes through.
              if (write) cpu.write32(va + 4, 7);
              expect(cpu.read32(va)).toBe(0x5a5a);
            }
          } finally {
            writeRawEntry(m.phys.bytes, e, lo, hi);
            cpu.tlb.flushAll();
          }
        },
      ),
      { numRuns: 120 },
    );
  });

  it('a 2 MiB PDE with a bit in 13..20 set, a 1 GiB PDPTE with one in 13..29, PS in a PML4E: RSVD', async () => {
    const { m, cpu, va, entries } = await mappedPage();
    const cases: [number, number][] = [];
    for (let b = 13; b <= 20; b++) cases.push([2, b]);
    for (let b = 13; b <= 29; b++) cases.push([1, b]);
    for (const [lvl, bit] of cases) {
      const e = entries[lvl];
      const [lo, hi] = rawEntry(m.phys.bytes, e);
      // A large leaf at PA 0 (inside memory for the 2 MiB case) with the bit set.
      writeRawEntry(m.phys.bytes, e, (bits.P | bits.RW | bits.PS | bits.A | (1 << bit)) >>> 0, 0);
      cpu.tlb.flushAll();
      const f = faultOf(() => cpu.read32(va));
      expect([lvl, bit, f.reason]).toEqual([lvl, bit, 'reserved-bit']);
      // The same leaf without the reserved bit translates (2 MiB) or at least is no RSVD.
      writeRawEntry(m.phys.bytes, e, (bits.P | bits.RW | bits.PS | bits.A) >>> 0, 0);
      cpu.tlb.flushAll();
      if (lvl === 2) expect(m.translate(va)).toBe(va % 2 ** 21);
      writeRawEntry(m.phys.bytes, e, lo, hi);
    }
    // PAT (bit 12) of a large leaf is not reserved.
    const e = entries[2];
    const [lo, hi] = rawEntry(m.phys.bytes, e);
    writeRawEntry(m.phys.bytes, e, (bits.P | bits.PS | bits.A | bits.PAT_LARGE) >>> 0, 0);
    cpu.tlb.flushAll();
    expect(m.translate(va)).toBe(va % 2 ** 21);
    writeRawEntry(m.phys.bytes, e, lo, hi);
    // PS in the PML4E.
    const [plo, phi] = rawEntry(m.phys.bytes, entries[0]);
    writeRawEntry(m.phys.bytes, entries[0], (plo | bits.PS) >>> 0, phi);
    cpu.tlb.flushAll();
    const f = faultOf(() => cpu.write32(va, 2));
    expect(f.reason).toBe('reserved-bit');
    expect(f.record).toEqual({
      arch: 'x86',
      errorCode: PF_ERR.P | PF_ERR.W | PF_ERR.RSVD,
      cr2: va,
    });
    expect(f.message).toContain('#PF: error_code(0x000b)');
    writeRawEntry(m.phys.bytes, entries[0], plo, phi);
    cpu.tlb.flushAll();
    expect(cpu.read32(va)).toBe(0x5a5a);
  });
});

describe('x86 #PF error codes and CR2', () => {
  it('not-present, write-protect, NX fetch and protection-key faults carry the SDM bits', async () => {
    const { m, arch, konst, area } = await wrMachine({ mechanism: 'pks', cpus: 1 });
    const cpu = m.cpu(0);
    const code = (fn: () => unknown) => {
      const f = faultOf(fn);
      expect(f.record?.arch).toBe('x86');
      return f.record?.arch === 'x86' ? [f.record.errorCode, f.record.cr2] : [];
    };
    const hole = VMALLOC_START + 2 ** 40;
    expect(code(() => cpu.read32(hole))).toEqual([0, hole]);
    expect(code(() => cpu.write32(hole + 4, 1))).toEqual([PF_ERR.W, hole + 4]);
    expect(code(() => cpu.translate(hole, 2))).toEqual([PF_ERR.I, hole]);
    expect(code(() => cpu.write32(konst, 1))).toEqual([PF_ERR.P | PF_ERR.W, konst]);
    expect(code(() => cpu.translate(konst, 2))).toEqual([PF_ERR.P | PF_ERR.I, konst]);
    // pks: the write-rare page is RW in the PTE and write-disabled by its key.
    expect(code(() => cpu.write32(area.start, 1))).toEqual([
      PF_ERR.P | PF_ERR.W | PF_ERR.PK,
      area.start,
    ]);
    expect(arch.faultRecord(cpu, area.start, 0, FAULT.USER)).toEqual({
      arch: 'x86',
      errorCode: PF_ERR.P,
      cr2: area.start,
    });
  });

  it('a fault trace event carries the record', async () => {
    const m = await machine({ cpus: 1 });
    m.trace.enabled = true;
    const hole = VMALLOC_START + 2 ** 40;
    faultOf(() => m.cpu(0).write32(hole, 1));
    const ev = m.trace.events.find((e) => e.name === 'page fault');
    expect(ev?.args?.hw).toBe('#PF: error_code(0x0002) CR2 0xffffca0000000000');
  });
});
