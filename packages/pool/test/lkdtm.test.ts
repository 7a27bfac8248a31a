/**
 * The prmem series' lkdtm cases as attacks, on every backend and mechanism:
 * WRITE_{RO,AUTO_RO,WR,AUTO_WR,START_WR}_PMALLOC (a plain write after protection faults)
 * and WRITE_WR_PMALLOC_ON_{RO_PMALLOC,CONST,RO_AFT_INIT} (write-rare refuses them).
 */
import { PageFault } from '@prmem/core';
import { wrAssign, WriteRareViolation } from '@prmem/wr-ops';
import { describe, expect, it } from 'vitest';
import { createPool, MODES } from '../src/index.js';
import { COMBOS, machineFor, throws } from './support/combos.js';

function physWord(m: Awaited<ReturnType<typeof machineFor>>, va: number): number {
  return m.phys.view.getUint32(m.translate(va), true);
}

describe.each(COMBOS)('lkdtm on $label', (combo) => {
  it.each(MODES)('WRITE_%s_PMALLOC: a plain write after protection faults', async (mode) => {
    const m = await machineFor(combo, { cpus: 3 });
    const p = createPool(m, { mode, name: mode });
    const va = mode === 'start-wr' ? p.zalloc(16) : p.alloc(16);
    if (mode !== 'start-wr') m.cpu(2).write32(va, 0x600d); // every other CPU has it cached writable
    p.protect();
    const before = physWord(m, va);
    for (let c = 0; c < 3; c++) {
      const e = throws(() => m.cpu(c).write32(va, 0xbad));
      expect(e).toBeInstanceOf(PageFault);
      expect(e).toMatchObject({ address: va, access: 'write', cpu: c });
    }
    expect(physWord(m, va)).toBe(before);
  });

  it.each(['ro', 'auto-ro'] as const)(
    'WRITE_WR_PMALLOC_ON_RO_PMALLOC (%s): refused, logged, nothing written',
    async (mode) => {
      const m = await machineFor(combo);
      const p = createPool(m, { mode, name: mode });
      const va = p.alloc(8);
      m.cpu(0).write32(va, 0x11);
      p.protect();
      const events = m.securityEvents().length;
      const e = throws(() => wrAssign(m.cpu(1), va, 0x22, 4));
      expect(e).toBeInstanceOf(WriteRareViolation);
      expect(e).toMatchObject({ reason: 'read-only' });
      expect(m.securityEvents()).toHaveLength(events + 1);
      expect(m.securityEvents().at(-1)).toMatchObject({ kind: 'wr-refused', address: va, cpu: 1 });
      expect(physWord(m, va)).toBe(0x11);
    },
  );

  it('WRITE_WR_PMALLOC_ON_CONST and _ON_RO_AFT_INIT: refused, logged, nothing written', async () => {
    const m = await machineFor(combo);
    const konst = m.defineStatic('.rodata', 8, 'lkdtm_rodata');
    const roai = m.defineStatic('.data..ro_after_init', 8, 'lkdtm_ro_after_init');
    m.cpu(0).write32(konst, 0xc0);
    m.cpu(0).write32(roai, 0xc1);
    m.finishBoot();
    for (const [va, want] of [
      [konst, 0xc0],
      [roai, 0xc1],
    ]) {
      const n = m.securityEvents().length;
      expect(throws(() => wrAssign(m.cpu(0), va, 0xbad, 4))).toMatchObject({
        code: 'EWRVIOLATION',
        reason: 'read-only',
      });
      expect(m.securityEvents()).toHaveLength(n + 1);
      expect(physWord(m, va)).toBe(want);
    }
  });
});
