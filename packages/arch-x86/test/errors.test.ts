import {
  BadAddressError,
  WrTargetError,
  createMachine,
  drain,
  InvalidArgumentError,
  PAGE_SIZE,
  UnknownMechanismError,
  sessionOf,
} from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { backend, x86Arch } from '../src/index.js';
import { set, wrMachine } from './support/machine.js';

describe('bad input gives typed errors and changes nothing', () => {
  it('an unknown mechanism name is refused at createMachine and by arch.mechanism', async () => {
    await expect(
      createMachine({ arch: backend, memoryMiB: 4, mechanism: 'poke-harder' }),
    ).rejects.toBeInstanceOf(UnknownMechanismError);
    const { m, arch } = await wrMachine({ cpus: 1 });
    expect(() => arch.mechanism('nope')).toThrow(UnknownMechanismError);
    // pks and the mirror depend on setProtection's work: not available on this machine.
    expect(() => arch.mechanism('pks')).toThrow(UnknownMechanismError);
    expect(() => m.arch.mechanism('alias-mm-mirror')).toThrow(UnknownMechanismError);
    expect(arch.mechanism('cr0-wp').name).toBe('cr0-wp');
  });

  it('setProtection: unaligned, reversed, user-half, unmapped ranges and bad levels', async () => {
    const { m, arch, area } = await wrMachine({ cpus: 2 });
    const cpu = m.cpu(0);
    const before = m.phys.bytes.slice();
    const stats = JSON.stringify(m.stats());
    const cases: [number, number, string, new (...a: never[]) => Error][] = [
      [area.start + 1, area.end, 'ro', BadAddressError],
      [area.start, area.end - 8, 'ro', BadAddressError],
      [area.end, area.start, 'ro', BadAddressError],
      [area.start, area.start, 'ro', BadAddressError],
      [0x1000, 0x3000, 'ro', BadAddressError],
      [area.end + PAGE_SIZE, area.end + 2 * PAGE_SIZE, 'ro', BadAddressError], // guard page
      [2 ** 48 - PAGE_SIZE, 2 ** 48 + PAGE_SIZE, 'ro', BadAddressError],
      [area.start, area.end, 'rx', InvalidArgumentError],
      [Number.NaN, area.end, 'ro', BadAddressError],
    ];
    for (const [s, e, level, type] of cases) {
      expect(() => drain(arch.setProtection(cpu, s, e, level as 'ro'))).toThrow(type);
    }
    expect(Buffer.compare(m.phys.bytes, before)).toBe(0);
    expect(JSON.stringify(m.stats())).toBe(stats);
  });

  it('a write-rare op on an unmapped, read-only or user target is refused before any step', async () => {
    for (const mechanism of backend.mechanisms) {
      const { m, konst, area } = await wrMachine({ cpus: 1, mechanism: mechanism as 'alias-mm' });
      const cpu = m.cpu(0);
      const before = m.phys.bytes.slice();
      m.resetStats();
      for (const va of [area.end + 16, konst, 0x4000, 2 ** 48 - 2]) {
        // Refused when the session is asked for or at its first step: before any step runs.
        expect(() => sessionOf(m.mechanism, cpu, [set(va, 1, 4)]).next()).toThrow(WrTargetError);
      }
      expect(() => sessionOf(m.mechanism, cpu, [set(area.start, 1, 0)]).next()).toThrow(
        expect.objectContaining({ code: 'EWRTARGET', reason: 'bad-size' }),
      );
      // Every refusal is recorded: the mechanism validates its own targets.
      expect(m.securityEvents().map((e) => e.kind)).toEqual(new Array(5).fill('wr-target-refused'));
      expect(Buffer.compare(m.phys.bytes, before)).toBe(0);
      expect(m.stats().events.wrWindow).toBe(0);
      expect(cpu.mm).toBe(m.kernelMm);
      expect(cpu.irqsDisabled).toBe(false);
    }
  });

  it('the mirror refuses a write-rare range below the vmalloc area, and unprotected targets', async () => {
    const { m, arch, area } = await wrMachine({ cpus: 1, mechanism: 'alias-mm-mirror' });
    const dm = m.directMapVa(m.translate(area.start));
    expect(() => drain(arch.setProtection(m.cpu(0), dm, dm + PAGE_SIZE, 'wr'))).toThrow(
      BadAddressError,
    );
    const plain = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    // Unprotected memory is not write-rare: refused by the target check before the mirror's.
    expect(() => sessionOf(m.mechanism, m.cpu(0), [set(plain.start, 1, 4)]).next()).toThrow(
      expect.objectContaining({ code: 'EWRTARGET', reason: 'not-write-rare' }),
    );
  });

  it('page-table ops: bad pkey, unaligned VA, frame out of memory', async () => {
    const { m } = await wrMachine({ cpus: 1 });
    const pt = x86Arch(m).pt;
    const va = m.layout.vmallocStart + 900 * PAGE_SIZE;
    const prot = { write: true, exec: false, global: true };
    expect(() => pt.map(m.kernelMm, va, PAGE_SIZE, { ...prot, pkey: 16 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => pt.map(m.kernelMm, va + 1, PAGE_SIZE, prot)).toThrow(BadAddressError);
    expect(() => pt.map(m.kernelMm, va, m.phys.size, prot)).toThrow(BadAddressError);
    expect(m.translate(va)).toBe(-1);
  });
});
