import {
  BadAddressError,
  InvalidArgumentError,
  PAGE_SIZE,
  UnknownMechanismError,
  createMachine,
} from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { backend, createArm64Backend, type HvcCall, HypercallRefused } from '../src/index.js';
import { arm64Machine, diffBytes, el2, protectedAreas } from './support/machine.js';

type Setup = Awaited<ReturnType<typeof setup>>;
async function setup() {
  const m = await arm64Machine();
  return { m, ...protectedAreas(m) };
}

/** Each refused call: typed error with its code, one security event, not a byte written. */
function expectRefused(s: Setup, call: HvcCall, code: string) {
  const before = s.m.phys.bytes.slice();
  const events = s.m.securityEvents().length;
  let err: unknown;
  try {
    el2(s.m).hvc(s.m.cpu(1), call);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(HypercallRefused);
  expect(err).toMatchObject({ code, call: call.fn });
  expect(diffBytes(s.m.phys.bytes, before)).toEqual([]);
  const ev = s.m.securityEvents().slice(events);
  expect(ev).toHaveLength(1);
  expect(ev[0]).toMatchObject({ kind: 'hvc-refused', cpu: 1, operation: `HVC ${call.fn}` });
  expect(ev[0].detail).toContain(code);
}

describe('EL2 mediated writes', () => {
  it('writes inside one ROWM range, with every HKIP-shaped call', async () => {
    const { m, wrArea } = await setup();
    const cpu = m.cpu(0);
    const h = el2(m);
    const a = wrArea.start;
    h.hvc(cpu, { fn: 'write_64', dst: a, value: 0x0102030405060708n });
    expect(cpu.read64(a)).toBe(0x0102030405060708n);
    h.hvc(cpu, { fn: 'write_8', dst: a + 9, value: 0xabn });
    expect(cpu.read8(a + 9)).toBe(0xab);
    h.hvc(cpu, { fn: 'write', dst: a + PAGE_SIZE - 2, data: new Uint8Array([1, 2, 3, 4]) });
    expect([...cpu.readBytes(a + PAGE_SIZE - 2, 4)]).toEqual([1, 2, 3, 4]);
    h.hvc(cpu, { fn: 'set', dst: a + 100, value: 0x5a, len: 10 });
    h.hvc(cpu, { fn: 'clear', dst: a + 104, len: 2 });
    expect([...cpu.readBytes(a + 100, 10)]).toEqual([90, 90, 90, 90, 0, 0, 90, 90, 90, 90]);
    h.hvc(cpu, { fn: 'write_32', dst: a + 200, value: 10n });
    expect(h.hvc(cpu, { fn: 'add', dst: a + 200, size: 4, value: 5n })).toBe(10n);
    expect(h.hvc(cpu, { fn: 'xchg', dst: a + 200, size: 4, value: 7n })).toBe(15n);
    expect(h.hvc(cpu, { fn: 'cmpxchg', dst: a + 200, size: 4, expected: 6n, value: 9n })).toBe(7n);
    expect(cpu.read32(a + 200)).toBe(7);
    expect(h.hvc(cpu, { fn: 'cmpxchg', dst: a + 200, size: 4, expected: 7n, value: 9n })).toBe(7n);
    expect(cpu.read32(a + 200)).toBe(9);
    expect(m.stats().events.hypercall).toBe(12);
    expect(m.securityEvents()).toEqual([]);
    expect(m.auditProtections()).toEqual([]);
  });

  it('refuses a target outside every registered range (unregistered, the linear-map alias, a plain area)', async () => {
    const s = await setup();
    const plain = s.m.vmalloc(PAGE_SIZE);
    expectRefused(s, { fn: 'write_32', dst: plain.start, value: 1n }, 'EHVC_UNREGISTERED');
    const alias = s.m.directMapVa(s.m.translate(s.wrArea.start));
    expectRefused(s, { fn: 'write_32', dst: alias, value: 1n }, 'EHVC_UNREGISTERED');
    // Runs off the end of its range into the guard page.
    expectRefused(s, { fn: 'set', dst: s.wrArea.end - 4, value: 1, len: 8 }, 'EHVC_UNREGISTERED');
  });

  it('refuses a target inside a read-only range (pool RO, .rodata)', async () => {
    const s = await setup();
    expectRefused(s, { fn: 'write_64', dst: s.roArea.start, value: 1n }, 'EHVC_READONLY');
    const ro = s.m.defineStatic('.rodata', 8, 'const');
    s.m.finishBoot();
    expectRefused(s, { fn: 'xchg', dst: ro, size: 8, value: 1n }, 'EHVC_READONLY');
  });

  it('refuses a target spanning two ranges', async () => {
    const s = await setup();
    const len = s.roArea.start - s.wrArea.start + 8;
    expectRefused(s, { fn: 'set', dst: s.wrArea.start, value: 0, len }, 'EHVC_SPANS_RANGES');
    expectRefused(
      s,
      { fn: 'write', dst: s.wrArea.end - 8, data: new Uint8Array(len) },
      'EHVC_SPANS_RANGES',
    );
  });

  it('refuses overflowing sizes and malformed calls', async () => {
    const s = await setup();
    const a = s.wrArea.start;
    expectRefused(s, { fn: 'set', dst: a, value: 1, len: 2 ** 48 }, 'EHVC_OVERFLOW');
    expectRefused(s, { fn: 'clear', dst: a, len: 2 ** 64 }, 'EHVC_OVERFLOW');
    expectRefused(s, { fn: 'clear', dst: a, len: 0 }, 'EHVC_BADARG');
    expectRefused(s, { fn: 'clear', dst: a, len: -8 }, 'EHVC_BADARG');
    expectRefused(s, { fn: 'write_32', dst: a + 2, value: 1n }, 'EHVC_BADARG');
    expectRefused(s, { fn: 'add', dst: a, size: 3 as 4, value: 1n }, 'EHVC_BADARG');
    expectRefused(s, { fn: 'bogus' } as unknown as HvcCall, 'EHVC_BADARG');
    expectRefused(s, { fn: 'clear', dst: -4096, len: 8 }, 'EHVC_BADARG');
  });
});

describe('EL2 registrations', () => {
  it('refuses overlapping registrations and moves toward less restrictive, keeps its list', async () => {
    const s = await setup();
    const { wrArea, roArea } = s;
    const regs = () =>
      el2(s.m)
        .registrations()
        .map((r) => [r.start, r.end, r.level]);
    const before = regs();
    expect(before).toContainEqual([wrArea.start, wrArea.end, 'rowm']);
    expect(before).toContainEqual([roArea.start, roArea.end, 'ro']);
    // Partial overlap of an existing range.
    expectRefused(s, { fn: 'register_ro', start: wrArea.start, size: PAGE_SIZE }, 'EHVC_OVERLAP');
    // The same frames under another VA (the linear-map alias).
    const alias = s.m.directMapVa(s.m.translate(wrArea.start));
    expectRefused(s, { fn: 'register_ro', start: alias, size: PAGE_SIZE }, 'EHVC_OVERLAP');
    // RO → ROWM, and permanent → reclaimable, are less restrictive.
    expectRefused(
      s,
      { fn: 'register_rowm', start: roArea.start, size: roArea.size, reclaimable: true },
      'EHVC_LESS_RESTRICTIVE',
    );
    const v = s.m.defineStatic('.data..ro_after_init', 8, 'x');
    s.m.finishBoot();
    const sec = s.m.section('.data..ro_after_init');
    expect(v).toBe(sec.start);
    expectRefused(
      s,
      { fn: 'unregister', start: sec.start, size: sec.size },
      'EHVC_LESS_RESTRICTIVE',
    );
    expectRefused(
      s,
      { fn: 'register_ro', start: sec.start, size: sec.size, reclaimable: true },
      'EHVC_LESS_RESTRICTIVE',
    );
    expectRefused(s, { fn: 'unregister', start: wrArea.start, size: PAGE_SIZE }, 'EHVC_OVERLAP');
    expectRefused(s, { fn: 'register_ro', start: 0x1000, size: PAGE_SIZE }, 'EHVC_BADARG');
    expectRefused(
      s,
      { fn: 'register_ro', start: wrArea.start + 1, size: PAGE_SIZE },
      'EHVC_BADARG',
    );
    expectRefused(s, { fn: 'register_ro', start: wrArea.end, size: PAGE_SIZE }, 'EHVC_NOT_MAPPED');
    // ROWM → RO is allowed (make_pool_ro), and then writes are refused.
    s.m.protect(wrArea.start, wrArea.size, 'ro');
    expect(el2(s.m).registrationOf(wrArea.start)?.level).toBe('ro');
    expectRefused(s, { fn: 'write_8', dst: wrArea.start, value: 1n }, 'EHVC_READONLY');
  });

  it('unregisters only on release (vfree), scrubbing the frames, and makes them writable again', async () => {
    const { m, wrArea } = await setup();
    const pfn = wrArea.pfns[0];
    m.vfree(wrArea);
    expect(el2(m).registrationOf(wrArea.start)).toBeUndefined();
    expect(m.phys.bytes[pfn * PAGE_SIZE + 4]).toBe(0);
    // Stage 2 RW again: the linear map writes it.
    m.cpu(0).write32(m.directMapVa(pfn * PAGE_SIZE), 5);
    expect(m.auditProtections()).toEqual([]);
  });

  it('bad input to the kernel side gets typed errors and changes nothing', async () => {
    const { m, wrArea } = await setup();
    const cpu = m.cpu(0);
    const steps = (s: number, e: number, l: 'wr' | 'ro') => [...m.arch.setProtection(cpu, s, e, l)];
    expect(() => steps(wrArea.start + 1, wrArea.end, 'ro')).toThrow(BadAddressError);
    expect(() => steps(0x1000, 0x2000, 'ro')).toThrow(BadAddressError);
    expect(() => steps(wrArea.end, wrArea.start, 'ro')).toThrow(InvalidArgumentError);
    expect(() => steps(wrArea.start, wrArea.end, 'xx' as 'ro')).toThrow(InvalidArgumentError);
    expect(() => steps(wrArea.end, wrArea.end + PAGE_SIZE, 'ro')).toThrow(BadAddressError);
    expect(el2(m).registrationOf(wrArea.start)?.level).toBe('rowm');
    await expect(
      createMachine({ arch: backend, mechanism: 'nope', memoryMiB: 16 }),
    ).rejects.toThrow(UnknownMechanismError);
    expect(() => m.arch.mechanism('nope')).toThrow(UnknownMechanismError);
    expect(() => m.arch.mechanism('alias-mm')).toThrow(
      expect.objectContaining({ code: 'EMECHANISM' }),
    );
    expect(() => createArm64Backend({ hypervisor: 'vmware' as 'kvm' })).toThrow(
      InvalidArgumentError,
    );
  });
});
