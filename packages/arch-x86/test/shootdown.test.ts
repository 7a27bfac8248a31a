import { drain, PAGE_SIZE, PageFault, PG } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { DIRECT_MAP, FLUSH_CEILING, x86Arch } from '../src/index.js';
import { decode } from './support/decode.js';
import { machine } from './support/machine.js';

async function twoCpusWithArea(pages = 1) {
  const m = await machine({ cpus: 2, memoryMiB: 8 });
  m.finishBoot();
  const area = m.vmalloc(pages * PAGE_SIZE, { range: 'wr' });
  const remote = m.cpu(1);
  remote.write32(area.start, 1); // a writable, global TLB entry on CPU 1
  return { m, arch: x86Arch(m), area, remote };
}

describe('TLB shootdown (flush_tlb_kernel_range)', () => {
  it('a stale global entry on a remote CPU allows the write when the shootdown is skipped', async () => {
    const { m, arch, area, remote } = await twoCpusWithArea();
    const pfn = m.translate(area.start) / PAGE_SIZE;
    // The PTE change without the shootdown: only CPU 0 flushes its own TLB.
    m.phys.frameFlags[pfn] |= PG.PROT_WR;
    arch.pt.protect(m.kernelMm, area.start, { write: false, exec: false, global: true });
    arch.flushLocalPage(m.cpu(0), area.start);
    expect(decode(m.phys.bytes, m.kernelMm.rootPa, area.start)?.rw).toBe(false);
    expect(() => m.cpu(0).write32(area.start, 2)).toThrow(PageFault);
    remote.write32(area.start, 0xbad); // the stale entry still says RW
    expect(m.phys.read32(m.translate(area.start))).toBe(0xbad);
    expect(m.auditProtections()).toContainEqual(
      expect.objectContaining({ where: 'tlb', cpu: 1, va: area.start }),
    );
  });

  it('with the shootdown the same remote write faults, and both CPUs paid for it', async () => {
    const { m, arch, area, remote } = await twoCpusWithArea();
    const alias = m.directMapVa(m.translate(area.start));
    const large = arch.pt.leafLevel(m.kernelMm, alias) > 1 ? 1 : 0;
    m.resetStats();
    m.protect(area.start, area.size, 'wr');
    expect(() => remote.write32(area.start, 0xbad)).toThrow(PageFault);
    expect(m.phys.read32(m.translate(area.start))).toBe(1);
    expect(m.auditProtections()).toEqual([]);
    const s = m.stats();
    // A split of the alias's 2 MiB page comes with its own flush_tlb_all; cpa_flush then
    // flushes everything too, since cpa_process_alias sets force_flush_all.
    expect(s.events.cpaSplit).toBe(large);
    expect(arch.pt.leafLevel(m.kernelMm, alias)).toBe(1);
    expect(s.perCpu[0].events.ipiSent).toBe(1 + large);
    expect(s.perCpu[1].events.ipiHandled).toBe(1 + large);
    expect(s.perCpu[0].events.localFlushAll).toBe(1 + large);
    expect(s.perCpu[1].events.localFlushAll).toBe(1 + large);
    expect(s.perCpu[1].events.localFlushPage).toBe(0);
    expect(s.perCpu[1].cycles).toBeGreaterThan(0);
  });

  it('protecting a page whose alias lies in a 2 MiB page splits it once, with a flush_tlb_all', async () => {
    const m = await machine({ cpus: 2, memoryMiB: 8 });
    const arch = x86Arch(m);
    const area = m.vmalloc(2 * PAGE_SIZE, { range: 'wr' });
    const alias = m.directMapVa(m.translate(area.start));
    expect(arch.pt.leafLevel(m.kernelMm, alias)).toBe(2);
    m.cpu(1).read32(alias); // a 2 MiB TLB entry on CPU 1
    expect(m.cpu(1).tlb.lookupLarge(alias, 0)).toBeGreaterThanOrEqual(0);
    m.resetStats();
    const labels: string[] = [];
    const steps = m.protectSteps(area.start, area.size, 'ro', 0);
    for (let r = steps.next(); !r.done; r = steps.next()) labels.push(String(r.value));
    expect(labels.filter((l) => l.startsWith('split_large_page ')).length).toBe(1);
    const s = m.stats();
    expect(s.events.cpaSplit).toBe(1);
    expect(arch.cpaSplits).toBe(1);
    // 513 writes for the split, then two PTEs (page + alias) per page.
    expect(s.events.pteWrite).toBe(513 + 2 * 2);
    expect(s.perCpu[1].events.localFlushAll).toBe(2);
    expect(m.cpu(1).tlb.lookupLarge(alias, 0)).toBe(-1);
    // Neighbours in the former 2 MiB page keep their frames and stay writable.
    const neighbour = alias - (alias % 2 ** 21) + 2 ** 21 - PAGE_SIZE;
    if (neighbour !== alias && neighbour !== alias + PAGE_SIZE) {
      m.cpu(1).write32(neighbour, 9);
      expect(m.phys.read32(neighbour - m.layout.directMap)).toBe(9);
    }
    expect(() => m.cpu(1).write32(alias, 1)).toThrow(PageFault);
    expect(m.auditProtections()).toEqual([]);
  });

  it('the direct-map alias of a protected frame is read-only on every CPU', async () => {
    const { m, area, remote } = await twoCpusWithArea();
    const alias = DIRECT_MAP + m.translate(area.start);
    remote.write32(alias, 3); // cache the alias as writable on CPU 1
    m.protect(area.start, area.size, 'wr');
    expect(() => remote.write32(alias, 4)).toThrow(PageFault);
    expect(() => m.cpu(0).write32(alias, 4)).toThrow(PageFault);
    expect(decode(m.phys.bytes, m.kernelMm.rootPa, alias)?.rw).toBe(false);
  });

  it(`INVLPG per page up to ${FLUSH_CEILING} pages, a full flush (globals too) above`, async () => {
    for (const pages of [FLUSH_CEILING, FLUSH_CEILING + 1]) {
      const m = await machine({ cpus: 3, memoryMiB: 8 });
      const arch = x86Arch(m);
      const start = m.layout.vmallocStart;
      const other = m.directMapVa(0x10000);
      m.cpu(2).read32(other);
      m.resetStats();
      drain(arch.flushKernelRange(m.cpu(0), start, start + pages * PAGE_SIZE));
      const s = m.stats();
      expect(s.events.ipiSent).toBe(2);
      expect(s.events.ipiHandled).toBe(2);
      const full = pages > FLUSH_CEILING;
      expect(s.perCpu[2].events.localFlushPage).toBe(full ? 0 : pages);
      expect(s.perCpu[2].events.localFlushAll).toBe(full ? 1 : 0);
      // Collateral damage of the full flush: an unrelated global entry is gone.
      expect(m.cpu(2).tlb.covers(other, 0)).toBe(!full);
    }
  });

  it('the shootdown steps: the remote CPU keeps its stale entry until its own IPI step', async () => {
    const { m, area, remote } = await twoCpusWithArea();
    const steps = m.protectSteps(area.start, area.size, 'wr', 0);
    const labels: string[] = [];
    let sawStaleWindow = false;
    for (let r = steps.next(); !r.done; r = steps.next()) {
      labels.push(String(r.value));
      if (remote.tlb.lookup(area.start, remote.asid) >= 0 && labels.length > 1)
        sawStaleWindow = true;
    }
    expect(sawStaleWindow).toBe(true);
    expect(labels.some((l) => l.includes('IPI CPU0 -> CPU1'))).toBe(true);
    expect(remote.tlb.lookup(area.start, remote.asid)).toBe(-1);
  });
});
