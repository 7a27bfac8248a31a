/** Bad input gets typed errors and leaves the machine unchanged. */
import {
  BadAddressError,
  WrTargetError,
  createMachine,
  drain,
  InvalidArgumentError,
  OutOfMemoryError,
  PageFault,
  type PrmemError,
  StateError,
  UnknownMechanismError,
  sessionOf,
} from '@prmem/core';
import { describe, expect, it } from 'vitest';
import {
  backend,
  createNommuBackend,
  LOWMEM_MAX_BYTES,
  nommuArch,
  PAGE_KERNEL,
  VMALLOC_START,
} from '../src/index.js';
import { u32Op, wrWorld } from './support.js';

/** The first differing index, -1 if equal (a cheap compare of whole physical memories). */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('typed errors', () => {
  it('memory that does not fit in lowmem is refused by attach', async () => {
    const tooBig = LOWMEM_MAX_BYTES / 2 ** 20 + 1;
    const e = await createMachine({ arch: backend, memoryMiB: tooBig }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InvalidArgumentError);
    expect((e as InvalidArgumentError).code).toBe('EINVAL');
    expect((e as InvalidArgumentError).value).toBe(tooBig);
  });

  it('bad D-cache geometry is refused when the backend is created', () => {
    for (const dcache of [
      { sizeKiB: 3, ways: 4, lineBytes: 32 },
      { sizeKiB: 128, ways: 4, lineBytes: 32 },
      { sizeKiB: 32, ways: 3, lineBytes: 32 },
      { sizeKiB: 32, ways: 4, lineBytes: 8 },
    ]) {
      expect(thrown(() => createNommuBackend({ allowAliases: true, dcache }))).toBeInstanceOf(
        InvalidArgumentError,
      );
    }
  });

  it('unknown mechanisms', async () => {
    const e = await createMachine({ arch: backend, mechanism: 'cr0-wp', memoryMiB: 4 }).catch(
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(UnknownMechanismError);
    const m = await createMachine({ arch: backend, memoryMiB: 4 });
    expect(thrown(() => m.arch.mechanism('nope'))).toBeInstanceOf(UnknownMechanismError);
  });

  it('page-table operations reject bad addresses and leave the tables unchanged', async () => {
    const m = await createMachine({ arch: backend, memoryMiB: 4 });
    const pfn = m.phys.allocFrame();
    m.arch.vmapFrames?.(m.cpu(0), [pfn]);
    const cases: [() => unknown, abstract new (...args: never[]) => PrmemError][] = [
      [() => m.arch.pt.map(m.kernelMm, 2 ** 32, pfn * 4096, PAGE_KERNEL), BadAddressError],
      [() => m.arch.pt.map(m.kernelMm, 0xe000_0001, pfn * 4096, PAGE_KERNEL), InvalidArgumentError],
      [() => m.arch.pt.map(m.kernelMm, -4096, pfn * 4096, PAGE_KERNEL), BadAddressError],
      [
        () => m.arch.pt.map(m.kernelMm, 0xe000_0000, m.phys.size, PAGE_KERNEL),
        InvalidArgumentError,
      ],
      [() => m.arch.pt.map(m.kernelMm, 0xe000_0000, 123, PAGE_KERNEL), InvalidArgumentError],
      // init_mm maps only the kernel half; a user mm only the user half.
      [() => m.arch.pt.map(m.kernelMm, 0x1000, pfn * 4096, PAGE_KERNEL), BadAddressError],
      [() => m.arch.pt.unmap(m.kernelMm, 2 ** 40), BadAddressError],
      [() => m.arch.pt.protect(m.kernelMm, 0.5, PAGE_KERNEL), BadAddressError],
    ];
    const user = m.createMm('user', 'u');
    const snap = m.phys.bytes.slice();
    cases.push([() => m.arch.pt.map(user, 0xe000_0000, pfn * 4096, PAGE_KERNEL), BadAddressError]);
    for (const [fn, cls] of cases) expect(thrown(fn)).toBeInstanceOf(cls);
    expect(firstDiff(m.phys.bytes, snap)).toBe(-1);
  });

  it('a write-rare session on an unmapped target fails before changing anything', async () => {
    const w = await wrWorld({ cpus: 2 });
    w.m.resetStats();
    const snap = w.m.phys.bytes.slice();
    const ops = [u32Op(w.target, 1), u32Op(w.area.end + 4096 * 8, 2)];
    expect(thrown(() => drain(sessionOf(w.m.mechanism, w.m.cpu(0), ops)))).toMatchObject({
      code: 'EWRTARGET',
      reason: 'unmapped',
    });
    expect(firstDiff(w.m.phys.bytes, snap)).toBe(-1);
    expect(w.m.stats().events.ipiSent).toBe(0);
    expect(w.m.stats().events.pteWrite).toBe(0);
    expect(
      thrown(() => drain(sessionOf(w.m.mechanism, w.m.cpu(0), [u32Op(2 ** 32 - 2, 1)]))),
    ).toBeInstanceOf(WrTargetError);
    // Each refusal is recorded: the mechanism checks its own targets.
    expect(w.m.securityEvents().map((e) => e.kind)).toEqual([
      'wr-target-refused',
      'wr-target-refused',
    ]);
  });

  it('a nested window on the same CPU is refused; the outer one still closes', async () => {
    const w = await wrWorld({ cpus: 2 });
    const outer = sessionOf(w.m.mechanism, w.m.cpu(0), [u32Op(w.target, 5)]);
    outer.next();
    const e = thrown(() => drain(sessionOf(w.m.mechanism, w.m.cpu(0), [u32Op(w.target, 6)])));
    expect(e).toBeInstanceOf(StateError);
    expect((e as StateError).code).toBe('EWRNESTED');
    drain(outer);
    expect(w.m.cpu(1).read32(w.target)).toBe(5);
    expect(w.m.auditProtections()).toEqual([]);
  });

  it('ASIDs are 8-bit: the 256th address space is refused', async () => {
    const m = await createMachine({ arch: backend, memoryMiB: 8 });
    for (let i = 1; i < 256; i++) m.createMm('user', `u${i}`);
    const free = m.phys.freeFrames;
    expect(thrown(() => m.createMm('user', 'one too many'))).toBeInstanceOf(OutOfMemoryError);
    expect(m.phys.freeFrames).toBe(free);
  });

  it('cache maintenance and arch lookups check their arguments', async () => {
    const m = await createMachine({
      arch: createNommuBackend({ allowAliases: true }),
      memoryMiB: 4,
    });
    const arch = nommuArch(m);
    expect(thrown(() => arch.flushDcachePage(m.cpu(0), -1))).toBeInstanceOf(InvalidArgumentError);
    expect(thrown(() => arch.mapCount(m.phys.frameCount))).toBeInstanceOf(InvalidArgumentError);
  });
});

describe('ARMv6 fault records (DFSR/IFSR, DFAR/IFAR)', () => {
  it('translation, permission and domain faults carry the status, domain and WnR an ARMv6 core reports', async () => {
    const m = await createMachine({ arch: backend, cpus: 1, memoryMiB: 16 });
    const konst = m.defineStatic('.rodata', 4, 'konst');
    m.finishBoot();
    const cpu = m.cpu(0);
    const rec = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        if (e instanceof PageFault && e.record?.arch === 'armv6') return e.record;
        throw e;
      }
      throw new Error('no fault');
    };
    // No L1 entry: a section translation fault (0b00101), domain 0.
    const hole = VMALLOC_START + 2 ** 22;
    expect(rec(() => cpu.read32(hole))).toMatchObject({ status: 0b00101, fsr: 0x005, far: hole });
    // A write to read-only .rodata (a coarse table): page permission fault, WnR set.
    const w = rec(() => cpu.write32(konst, 1));
    expect(w).toMatchObject({ status: 0b01111, wnr: true, prefetch: false, domain: 0 });
    expect(w.fsr).toBe(0x80f);
    // An instruction fetch from an XN page: IFSR, no WnR, no domain field.
    expect(rec(() => cpu.translate(konst, 2))).toMatchObject({
      prefetch: true,
      status: 0b01111,
      fsr: 0x00f,
    });
    // Domain 0 set to "no access" in DACR: a domain fault on the page.
    cpu.regs.DACR = 0b0100;
    cpu.tlb.flushAll();
    expect(rec(() => cpu.read32(konst))).toMatchObject({ status: 0b01011, domain: 0 });
  });
});
