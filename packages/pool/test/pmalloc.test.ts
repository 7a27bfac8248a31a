/**
 * The semantic cases of the prmem series' lib/test_pmalloc.c, ported to this API and run
 * on every backend and mechanism.
 */
import { PageFault, PAGE_SIZE, PG, VM } from '@prmem/core';
import { wrAssign, wrMemcpy, wrMemset, WriteRareViolation } from '@prmem/wr-ops';
import { describe, expect, it } from 'vitest';
import { createPool, findPool, MODES, type PoolMode } from '../src/index.js';
import { COMBOS, machineFor, throws } from './support/combos.js';

describe.each(COMBOS)('test_pmalloc on $label', (combo) => {
  it('create and destroy every mode', async () => {
    const m = await machineFor(combo);
    for (const mode of MODES) {
      const p = createPool(m, { mode, name: `p-${mode}` });
      const va = p.alloc(100);
      expect(findPool(m, va)).toBe(p);
      p.protect();
      p.destroy();
      expect(p.destroyed).toBe(true);
      expect(findPool(m, va)).toBeUndefined();
      expect(() => m.cpu(1).read8(va)).toThrow(PageFault);
      expect(throws(() => p.alloc(8))).toMatchObject({ code: 'EPOOLDESTROYED' });
    }
    expect(m.auditProtections()).toEqual([]);
  });

  it('allocates downward in the current area, aligned, and gives big requests their own area', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'wr', name: 'alloc', align: 16 });
    const a = p.alloc(10);
    const b = p.alloc(24);
    expect(b).toBeLessThan(a);
    expect(a % 16).toBe(0);
    expect(b % 16).toBe(0);
    expect(a - b).toBeGreaterThanOrEqual(24);
    expect(m.findArea(a)).toBe(m.findArea(b));
    const area = m.findArea(a)!;
    expect(a + 10).toBeLessThanOrEqual(area.end);
    const big = p.alloc(3 * PAGE_SIZE + 5);
    const bigArea = m.findArea(big)!;
    expect(bigArea).not.toBe(area);
    expect(bigArea.size).toBe(4 * PAGE_SIZE);
    expect(p.areas).toHaveLength(2);
    for (const ar of p.areas)
      expect(ar.flags & (VM.PMALLOC | VM.PMALLOC_WR)).toBe(VM.PMALLOC | VM.PMALLOC_WR);
  });

  it('auto-ro protects the previous area read-only when a new one is added', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'auto-ro', name: 'auto-ro' });
    const first = p.alloc(PAGE_SIZE - 64);
    m.cpu(0).write32(first, 7); // still writable
    const second = p.alloc(128); // does not fit: new area, the old one is protected
    expect(m.findArea(second)).not.toBe(m.findArea(first));
    expect(() => m.cpu(1).write32(first, 8)).toThrow(PageFault);
    expect(m.cpu(1).read32(first)).toBe(7);
    m.cpu(0).write32(second, 9); // the new area is writable until protected
    expect(throws(() => wrAssign(m.cpu(0), first, 1, 4))).toBeInstanceOf(WriteRareViolation);
  });

  it('auto-wr makes the previous area write-rare when a new one is added', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'auto-wr', name: 'auto-wr' });
    const first = p.alloc(PAGE_SIZE - 8);
    p.alloc(PAGE_SIZE);
    expect(() => m.cpu(1).write32(first, 8)).toThrow(PageFault);
    wrAssign(m.cpu(1), first, 0x1234, 4);
    expect(m.cpu(0).read32(first)).toBe(0x1234);
  });

  it('start-wr is write-rare from the first allocation and keeps filling a mostly empty area', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'start-wr', name: 'start-wr' });
    const a = p.zalloc(64);
    expect(() => m.cpu(0).write32(a, 1)).toThrow(PageFault);
    wrAssign(m.cpu(0), a, 0xfeed, 4);
    expect(m.cpu(1).read32(a)).toBe(0xfeed);
    p.protect();
    const b = p.alloc(64); // the same, mostly empty area is reused
    expect(m.findArea(b)).toBe(m.findArea(a));
    expect(p.areas).toHaveLength(1);
    const s = p.strdup('policy');
    expect(new TextDecoder().decode(m.cpu(1).readBytes(s, 6))).toBe('policy');
    expect(m.cpu(1).read8(s + 6)).toBe(0);
  });

  it('wrMemset and wrMemcpy across pages at unaligned offsets', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'wr', name: 'memops', refill: 3 * PAGE_SIZE });
    const buf = p.alloc(2 * PAGE_SIZE + 100);
    p.protect();
    const cpu = m.cpu(0);
    const start = buf + 4093; // unaligned, crosses two page boundaries
    wrMemset(cpu, start, 0xa5, PAGE_SIZE + 10);
    const got = m.cpu(1).readBytes(start, PAGE_SIZE + 10);
    expect(got.every((b) => b === 0xa5)).toBe(true);
    const data = new Uint8Array(PAGE_SIZE + 3).map((_, i) => (i * 13 + 1) & 0xff);
    wrMemcpy(cpu, buf + 1, data);
    expect(Buffer.compare(m.cpu(1).readBytes(buf + 1, data.length), data)).toBe(0);
    expect(m.cpu(1).read8(buf)).toBe(0);
  });

  it('typed write-rare assignment for every size', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'wr', name: 'typed' });
    const v = p.zalloc(64);
    p.protect();
    const cpu = m.cpu(0);
    wrAssign(cpu, v, 0xab, 1);
    wrAssign(cpu, v + 2, 0xbeef, 2);
    wrAssign(cpu, v + 4, 0xdeadbeef, 4);
    wrAssign(cpu, v + 8, 0x0123456789abcdefn, 8);
    const r = m.cpu(1);
    expect([r.read8(v), r.read16(v + 2), r.read32(v + 4), r.read64(v + 8)]).toEqual([
      0xab,
      0xbeef,
      0xdeadbeef,
      0x0123456789abcdefn,
    ]);
    expect(m.auditProtections()).toEqual([]);
  });

  it('keeps the direct-map alias of every protected frame protected too', async () => {
    const m = await machineFor(combo);
    for (const mode of ['ro', 'wr'] as PoolMode[]) {
      const p = createPool(m, { mode, name: mode });
      const va = p.alloc(32);
      p.protect();
      const pa = m.translate(va);
      expect(m.phys.frameFlags[Math.floor(pa / PAGE_SIZE)] & (PG.PROT_RO | PG.PROT_WR)).not.toBe(0);
      const alias = m.directMapVa(pa);
      // Where the MMU forbids aliases, the frame left the direct map: not mapped at all.
      const e = throws(() => m.cpu(1).write32(alias, 0xbad));
      expect(e).toBeInstanceOf(PageFault);
    }
    expect(m.auditProtections()).toEqual([]);
  });
});
