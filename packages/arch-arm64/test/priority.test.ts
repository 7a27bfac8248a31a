import { ACC_EXEC, ACC_READ, ACC_WRITE, PAGE_SIZE, type PteProt } from '@prmem/core';
import { faultOf } from '@prmem/core/testing';
import { describe, expect, it } from 'vitest';
import { outputAddress, S2, S2P } from '../src/index.js';
import { desc } from './support/decode.js';
import { arm64Machine, el2, vttbr } from './support/machine.js';

const RO = { write: false, exec: false, global: true } as const;
const RW = { write: true, exec: false, global: true } as const;

function access(m: Awaited<ReturnType<typeof arm64Machine>>, va: number, acc: number) {
  const cpu = m.cpu(0);
  return faultOf(() => cpu.translate(va, acc));
}

/** A free kernel VA in the vmalloc range, mapped to `pa` with `prot`. */
function mapAt(m: Awaited<ReturnType<typeof arm64Machine>>, pa: number, prot: PteProt) {
  const va = m.layout.vmallocStart + 0x40_0000_0000 + pa;
  m.arch.pt.map(m.kernelMm, va, pa, prot);
  return va;
}

describe('arm64 fault priority (AArch64.FullTranslate)', () => {
  it('stage 1 forbids and stage 2 has no mapping: a stage-1 permission fault at EL1, no EL2 event', async () => {
    const m = await arm64Machine({ cpus: 1 });
    // An EL2 frame: stage 2 leaves it unmapped.
    const el2Pa = vttbr(m);
    const va = mapAt(m, el2Pa, RO);
    const before = m.securityEvents().length;
    for (const [acc, reason, ec, wnr] of [
      [ACC_WRITE, 'write-protect', 0x25, true],
      [ACC_EXEC, 'exec-protect', 0x21, false],
    ] as const) {
      const f = access(m, va, acc);
      expect(f.reason).toBe(reason);
      expect(f.record).toMatchObject({ arch: 'arm64', el: 1, stage: 1, ec, wnr, s1ptw: false });
      // Permission fault, level 3 (the stage-1 page descriptor).
      expect(f.record?.arch === 'arm64' && f.record.fsc).toBe(0x0f);
      expect(f.record?.arch === 'arm64' && f.record.far).toBe(va);
    }
    expect(m.securityEvents().length).toBe(before);
    expect(m.stats().events.stage2Fault).toBe(0);
    // A write permission fault at level 3 is Linux's familiar ESR 0x9600004f.
    const w = access(m, va, ACC_WRITE);
    expect(w.record?.arch === 'arm64' && w.record.esr).toBe(0x9600_004f);
    // A read stage 1 allows: stage 2's translation fault, taken to EL2, with the IPA.
    const r = access(m, va, ACC_READ);
    expect(r.reason).toBe('stage2');
    expect(r.record).toMatchObject({
      arch: 'arm64',
      el: 2,
      stage: 2,
      ec: 0x24,
      fsc: 0x07, // translation fault, level 3 of stage 2
      s1ptw: false,
      ipa: el2Pa,
      hpfar: (el2Pa / PAGE_SIZE) * 16,
    });
    expect(m.stats().events.stage2Fault).toBe(1);
    expect(m.securityEvents().at(-1)?.kind).toBe('stage2-fault');
  });

  it('a writable stage-1 alias of a stage-2 read-only frame: a stage-2 permission fault with WnR', async () => {
    const m = await arm64Machine({ cpus: 1 });
    const area = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    m.protect(area.start, area.size, 'ro');
    const pa = area.pfns[0] * PAGE_SIZE;
    const va = mapAt(m, pa, RW);
    const f = access(m, va, ACC_WRITE);
    expect(f.reason).toBe('stage2');
    expect(f.record).toMatchObject({
      arch: 'arm64',
      el: 2,
      ec: 0x24,
      wnr: true,
      fsc: 0x0f,
      ipa: pa,
    });
    expect(f.record?.arch === 'arm64' && f.record.esr).toBe(0x9200_004f);
    // The kernel's own (read-only) mapping: stage 1 refuses first.
    const k = access(m, area.start, ACC_WRITE);
    expect(k.reason).toBe('write-protect');
    expect(k.record).toMatchObject({ el: 1, ec: 0x25, fsc: 0x0f });
  });

  it('a stage-1 table in memory stage 2 does not map: a stage-2 fault on the walk (S1PTW), HPFAR = the table', async () => {
    const m = await arm64Machine({ cpus: 1 });
    const pa = 5 * PAGE_SIZE;
    const va = mapAt(m, pa, RW);
    m.cpu(0).write32(va, 1);
    // Find the level-2 table descriptor for va and point it at an EL2 frame.
    const s2root = vttbr(m);
    let table = m.kernelMm.rootPa;
    let e = 0;
    for (let level = 0; level < 3; level++) {
      e = table + (Math.floor(va / 2 ** (39 - 9 * level)) & 511) * 8;
      const d = desc(m.phys.bytes, e);
      table = outputAddress(Number(d & 0xffffffffn), Number(d >> 32n));
    }
    // `e` is the level-2 descriptor; its table now "lives" at the stage-2 root's IPA.
    const u = m.phys.u32;
    const saved = [u[e >>> 2], u[(e >>> 2) + 1]];
    u[e >>> 2] = (s2root | 3) >>> 0;
    u[(e >>> 2) + 1] = 0;
    m.cpu(0).tlb.flushAll();
    const f = access(m, va, ACC_WRITE);
    expect(f.reason).toBe('stage2');
    expect(f.record).toMatchObject({
      arch: 'arm64',
      el: 2,
      stage: 2,
      ec: 0x24,
      s1ptw: true,
      wnr: false,
      fsc: 0x07,
      ipa: s2root,
    });
    u[e >>> 2] = saved[0];
    u[(e >>> 2) + 1] = saved[1];
    m.cpu(0).tlb.flushAll();
    expect(m.cpu(0).read32(va)).toBe(1);
  });

  it('a stage-1 translation fault reports the level of the invalid descriptor', async () => {
    const m = await arm64Machine({ cpus: 1 });
    const hole = 0xe000_0000_0000; // no level-0 entry there
    const f = access(m, hole, ACC_READ);
    expect(f.reason).toBe('not-present');
    expect(f.record).toMatchObject({ el: 1, stage: 1, ec: 0x25, wnr: false });
    const fsc = f.record?.arch === 'arm64' ? f.record.fsc : -1;
    expect(fsc).toBe(0x04); // translation fault, level 0
  });
});

describe('stage-2 block descriptors', () => {
  /** The stage-2 level-2 descriptor covering `ipa`. */
  function s2l2(m: Awaited<ReturnType<typeof arm64Machine>>, ipa: number) {
    const root = vttbr(m);
    const l1 = root + (Math.floor(ipa / 2 ** 30) & 511) * 8;
    const d = desc(m.phys.bytes, l1);
    const l2 = outputAddress(Number(d & 0xffffffffn), Number(d >> 32n));
    return l2 + (Math.floor(ipa / 2 ** 21) & 511) * 8;
  }
  const blockLo = (pa: number) =>
    (pa | S2.VALID | (0xf << 2) | S2.S2AP_R | S2.S2AP_W | (3 << 8) | S2.AF) >>> 0;

  it('a level-2 (2 MiB) block translates every IPA in it to base + offset; a level-1 (1 GiB) block too', async () => {
    const m = await arm64Machine({ cpus: 1 });
    const s2 = el2(m).stage2;
    const u = m.phys.u32;
    // IPAs [2 MiB, 4 MiB) onto PAs [6 MiB, 8 MiB).
    const e = s2l2(m, 2 * 2 ** 20);
    u[e >>> 2] = blockLo(6 * 2 ** 20);
    u[(e >>> 2) + 1] = 0;
    for (const off of [0, PAGE_SIZE, 0x1f_f000 + 12]) {
      expect(s2.permOf(2 * 2 ** 20 + off)).toBe(S2P.R | S2P.W | S2P.X);
      expect(s2.lastPa).toBe(6 * 2 ** 20 + off);
      expect(s2.lastLevel).toBe(2);
    }
    // A kernel access through the block reads the remapped frame.
    const va = m.directMapVa(2 * 2 ** 20 + 3 * PAGE_SIZE);
    m.phys.bytes[6 * 2 ** 20 + 3 * PAGE_SIZE + 8] = 0x77;
    m.cpu(0).tlb.flushAll();
    expect(m.cpu(0).read8(va + 8)).toBe(0x77);
    // A block without AF is an access-flag fault, a read-only one refuses writes.
    u[e >>> 2] = blockLo(6 * 2 ** 20) & ~S2.AF;
    expect(s2.permOf(2 * 2 ** 20)).toBe(0);
    u[e >>> 2] = blockLo(6 * 2 ** 20) & ~S2.S2AP_W;
    expect(s2.permOf(2 * 2 ** 20)).toBe(S2P.R | S2P.X);
    // Level 1: the whole first GiB of IPA as one block onto PA 0.
    const l1 = vttbr(m);
    u[l1 >>> 2] = blockLo(0);
    u[(l1 >>> 2) + 1] = 0;
    expect(s2.permOf(9 * PAGE_SIZE + 5)).toBe(S2P.R | S2P.W | S2P.X);
    expect([s2.lastPa, s2.lastLevel]).toEqual([9 * PAGE_SIZE + 5, 1]);
  });
});
