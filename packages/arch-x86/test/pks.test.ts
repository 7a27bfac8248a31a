import { PageFault, sessionOf } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { bits, DIRECT_MAP, WR_PKEY } from '../src/index.js';
import { decode } from './support/decode.js';
import { runOps, set, wrMachine } from './support/machine.js';

describe('pks (supervisor protection keys)', () => {
  it('write-rare pages and their direct-map aliases carry the key and stay RW in the PTE', async () => {
    const { m, area, counter } = await wrMachine({ cpus: 2, mechanism: 'pks' });
    for (const va of [area.start, counter, DIRECT_MAP + m.translate(area.start)]) {
      const d = decode(m.phys.bytes, m.kernelMm.rootPa, va);
      expect(d?.pkey).toBe(WR_PKEY);
      expect(d?.rw).toBe(true);
    }
    expect(m.auditProtections()).toEqual([]);
    try {
      m.cpu(1).write32(area.start, 1);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PageFault);
      expect((e as PageFault).reason).toBe('pkey');
    }
  });

  it('the window is two WRMSRs on the local CPU: no flush, no CR3 write, no IPI', async () => {
    const { m, area } = await wrMachine({ cpus: 3, mechanism: 'pks' });
    m.cpu(0).read32(area.start); // cached keyed entry, reused across the window
    m.resetStats();
    runOps(m, 0, [set(area.start, 3, 4)]);
    const e = m.stats().events;
    expect(e.pkrsWrite).toBe(2);
    expect(e.localFlushPage + e.localFlushAll + e.localFlushAsid + e.mmSwitch + e.ipiSent).toBe(0);
    expect(m.cpu(2).read32(area.start)).toBe(0x03030303);
    expect(m.cpu(0).regs.pkrs & bits.pkrsWd(WR_PKEY)).not.toBe(0);
  });

  it('inside the window: every key-1 page is writable on that CPU, .rodata is not, other CPUs are not', async () => {
    const { m, area, counter, konst } = await wrMachine({ cpus: 2, mechanism: 'pks' });
    const steps = sessionOf(m.mechanism, m.cpu(0), [set(counter, 1, 4)]);
    steps.next(); // PKRS open
    m.cpu(0).write32(area.start, 0x77); // another write-rare page: the key is per CPU, not per target
    expect(m.phys.read32(m.translate(area.start))).toBe(0x77);
    expect(() => m.cpu(0).write32(konst, 1)).toThrow(PageFault);
    expect(() => m.cpu(1).write32(area.start, 1)).toThrow(PageFault);
    expect(m.auditProtections()).toEqual([]);
    for (let r = steps.next(); !r.done; r = steps.next());
    expect(() => m.cpu(0).write32(area.start, 1)).toThrow(PageFault);
  });

  it('PKRS left open outside a window is reported by the audit', async () => {
    const { m } = await wrMachine({ cpus: 2, mechanism: 'pks' });
    m.cpu(1).regs.pkrs = 0;
    expect(m.auditProtections()).toContainEqual(
      expect.objectContaining({ where: 'cpu', cpu: 1, detail: expect.stringMatching(/PKRS/) }),
    );
  });

  it('PKRS.WD only binds supervisor writes while CR0.WP is set (SDM 4.6.2)', async () => {
    const { m, area } = await wrMachine({ cpus: 1, mechanism: 'pks' });
    const cpu = m.cpu(0);
    cpu.regs.cr0 &= ~bits.CR0_WP;
    cpu.write32(area.start, 5);
    cpu.regs.cr0 |= bits.CR0_WP;
    expect(() => cpu.write32(area.start, 6)).toThrow(PageFault);
    expect(cpu.read32(area.start)).toBe(5);
  });
});
