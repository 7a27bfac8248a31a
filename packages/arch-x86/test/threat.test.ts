import {
  type Cpu,
  drain,
  type Machine,
  PAGE_SIZE,
  type Steps,
  type WrOp,
  sessionOf,
} from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { backend, type MechanismName } from '../src/index.js';
import { wrMachine } from './support/machine.js';

const store8 = (va: number, v: number): WrOp => ({ kind: 'store', va, size: 8, lo: v, hi: 0 });
const ALIAS_MECHS: MechanismName[] = ['alias-mm', 'alias-mm-per-pool'];

function stepUntil(s: Steps, until: () => boolean): void {
  for (let i = 0; i < 64 && !until(); i++) if (s.next().done) return;
}

/** CPU registers and TLB that a window must leave as it found them. */
const cpuState = (m: Machine, c: Cpu) => [
  c.mm.id,
  c.asid,
  c.irqsDisabled,
  c.preemptCount,
  m.windowOpen(c),
  c.regs.cr0,
  c.regs.pkrs,
];

describe('x86 windows and the threat model', () => {
  it.each(ALIAS_MECHS)(
    '%s: a second CPU waits on text_mutex while a window is open, and never loads wr_mm meanwhile',
    async (mechanism) => {
      const { m, area } = await wrMachine({ cpus: 2, mechanism });
      const w0 = sessionOf(m.mechanism, m.cpu(0), [store8(area.start, 1)]);
      stepUntil(w0, () => m.cpu(0).mm.kind === 'wr');
      expect(m.cpu(0).mm.kind).toBe('wr');
      const w1 = sessionOf(m.mechanism, m.cpu(1), [store8(area.start + PAGE_SIZE, 2)]);
      for (let i = 0; i < 5; i++) {
        expect(w1.next().value).toBe('wait: text_mutex');
        expect(m.cpu(1).mm).toBe(m.kernelMm);
      }
      // A synchronous call meets the held mutex: it would wait forever, so it is refused
      // before anything changes.
      const before = Buffer.from(m.phys.bytes);
      expect(() => drain(sessionOf(m.mechanism, m.cpu(1), [store8(area.start + 8, 3)]))).toThrow(
        expect.objectContaining({ code: 'EDEADLK' }),
      );
      expect(Buffer.compare(before, m.phys.bytes)).toBe(0);
      for (let r = w0.next(); !r.done; r = w0.next());
      for (let r = w1.next(); !r.done; r = w1.next());
      expect(m.cpu(0).read32(area.start)).toBe(1);
      expect(m.cpu(0).read32(area.start + PAGE_SIZE)).toBe(2);
      expect(m.auditProtections()).toEqual([]);
    },
  );

  it.each(backend.mechanisms)(
    '%s: a window started with IRQs off ends with them off; stopped at any step, it leaves the CPU as found',
    async (mechanism) => {
      for (const off of [false, true]) {
        const { m, area } = await wrMachine({ cpus: 2, mechanism: mechanism as MechanismName });
        const cpu = m.cpu(0);
        cpu.irqsDisabled = off;
        const found = cpuState(m, cpu);
        drain(sessionOf(m.mechanism, cpu, [store8(area.start, 7)]));
        expect(cpuState(m, cpu)).toEqual(found);
        for (let k = 1; k < 10; k++) {
          const s = sessionOf(m.mechanism, cpu, [store8(area.start, k)]);
          for (let i = 0; i < k; i++) if (s.next().done) break;
          s.return(undefined);
          expect(cpuState(m, cpu)).toEqual(found);
          // Nothing pinned or locked is left behind: the area can be protected read-only.
          for (const pfn of area.pfns) expect(m.framePins(pfn)).toBe(0);
        }
        expect(m.auditProtections()).toEqual([]);
      }
    },
  );

  it('the audit reports a stale alias TLB entry that the alias mm no longer maps (a skipped INVLPG)', async () => {
    const { m, arch, area } = await wrMachine({ cpus: 1, mechanism: 'alias-mm' });
    const cpu = m.cpu(0);
    // Inject the bug: the window's INVLPG of its alias does nothing.
    const real = arch.flushLocalPage.bind(arch);
    arch.flushLocalPage = () => {};
    drain(sessionOf(m.mechanism, cpu, [store8(area.start, 5)]));
    arch.flushLocalPage = real;
    const stale = [...cpu.tlb.entries()].filter((e) => !e.global && e.asid === arch.wrMm().asid);
    expect(stale.length).toBeGreaterThan(0);
    const findings = m.auditProtections();
    expect(findings.map((f) => f.detail)).toContain(
      'stale writable alias entry: wr_mm no longer maps it there',
    );
    expect(findings.every((f) => f.where === 'tlb' && f.cpu === 0)).toBe(true);
  });

  it('a window built for a frame that changed before it opened refuses to open (ESTALE), recorded', async () => {
    const { m, area, owner } = await wrMachine({ cpus: 1, mechanism: 'alias-mm' });
    const built = sessionOf(m.mechanism, m.cpu(0), [store8(area.start, 9)]);
    m.vfree(area, { owner });
    m.vmalloc(PAGE_SIZE, { range: 'wr' }); // takes the freed frame first
    const o2 = m.registerOwner('new');
    const ro = m.vmalloc(3 * PAGE_SIZE, { range: 'wr', owner: o2 });
    m.protect(ro.start, ro.size, 'ro', 0, o2);
    const before = Buffer.from(m.phys.bytes);
    expect(() => built.next()).toThrow(expect.objectContaining({ code: 'ESTALE' }));
    expect(Buffer.compare(before, m.phys.bytes)).toBe(0);
    expect(m.securityEvents().map((e) => e.kind)).toContain('stale-window');
    expect(m.cpu(0).irqsDisabled).toBe(false);
  });
});
