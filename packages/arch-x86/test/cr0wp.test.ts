import { explore, PageFault, type Program, type Steps, sessionOf } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { bits } from '../src/index.js';
import { runOps, set, wrMachine, wrMachineSync } from './support/machine.js';

describe('cr0-wp (PaX pax_open_kernel)', () => {
  it('inside the window a plain write to an unrelated .rodata variable succeeds on the writer CPU; outside it faults', async () => {
    const outcomes: { inWindow: boolean; ok: boolean; value: number }[] = [];
    const r = explore(
      () => {
        const { m, counter, konst } = wrMachineSync({ cpus: 1, mechanism: 'cr0-wp' });
        const cpu = m.cpu(0);
        const attacker: Program = {
          name: 'stray write',
          steps: (function* (): Steps {
            const inWindow = m.windowOpen(cpu);
            let ok = true;
            try {
              cpu.write32(konst, 0x41414141);
            } catch (e) {
              expect(e).toBeInstanceOf(PageFault);
              ok = false;
            }
            outcomes.push({ inWindow, ok, value: m.phys.read32(m.translate(konst)) });
            yield 'stray write';
          })(),
        };
        return {
          programs: [
            { name: 'cr0-wp', steps: sessionOf(m.mechanism, cpu, [set(counter, 9, 8)]) },
            attacker,
          ],
        };
      },
      { mode: 'exhaustive', maxSchedules: 200 },
    );
    expect(r.complete).toBe(true);
    expect(r.schedules).toBeGreaterThanOrEqual(5);
    expect(outcomes.length).toBe(r.schedules);
    for (const o of outcomes) {
      expect(o.ok).toBe(o.inWindow);
      expect(o.value).toBe(o.ok ? 0x41414141 : 0);
    }
    expect(outcomes.some((o) => o.ok)).toBe(true);
    expect(outcomes.some((o) => !o.ok)).toBe(true);
  });

  it('only the writer CPU is affected; the window is visible to the audit; WP is set again after', async () => {
    const { m, counter, konst } = await wrMachine({ cpus: 2, mechanism: 'cr0-wp' });
    const steps = sessionOf(m.mechanism, m.cpu(0), [set(counter, 1, 8)]);
    steps.next();
    steps.next(); // WP clear
    expect(() => m.cpu(1).write32(konst, 1)).toThrow(PageFault);
    expect(m.auditProtections()).toContainEqual(
      expect.objectContaining({
        where: 'cpu',
        cpu: 0,
        detail: expect.stringMatching(/CR0\.WP clear/),
      }),
    );
    for (let r = steps.next(); !r.done; r = steps.next());
    expect(m.cpu(0).regs.cr0 & bits.CR0_WP).toBe(bits.CR0_WP);
    expect(() => m.cpu(0).write32(konst, 1)).toThrow(PageFault);
    expect(m.auditProtections()).toEqual([]);
    expect(m.stats().events.cr0Write).toBe(2);
    // A CPU left with WP clear outside a window is reported.
    m.cpu(1).regs.cr0 &= ~bits.CR0_WP;
    expect(m.auditProtections()).toContainEqual(
      expect.objectContaining({ cpu: 1, detail: 'CR0.WP clear outside a write-rare window' }),
    );
  });

  it('no PTE, flush, CR3 or IPI work per write', async () => {
    const { m, counter } = await wrMachine({ cpus: 4, mechanism: 'cr0-wp' });
    m.resetStats();
    runOps(m, 2, [set(counter, 1, 8)]);
    const e = m.stats().events;
    expect(e.pteWrite + e.localFlushPage + e.localFlushAll + e.mmSwitch + e.ipiSent).toBe(0);
    expect(e.cr0Write).toBe(2);
    expect(m.cpu(0).read64(counter)).toBe(0x0101010101010101n);
  });
});
