import { describe, expect, it } from 'vitest';
import {
  BadAddressError,
  InvalidArgumentError,
  OutOfMemoryError,
  PAGE_SIZE,
  PageFault,
  PG,
  StateError,
} from '../src/index.js';
import { snapshot, toyMachine } from './helpers.js';

describe('static sections and boot', () => {
  it('applies mark_rodata_ro at finishBoot: rodata/ro_after_init RO, wr_after_init WR, data RW', async () => {
    const m = await toyMachine();
    const cpu = m.cpu(0);
    const vars = {
      ro: m.defineStatic('.rodata', 8, 'const_table'),
      rai: m.defineStatic('.data..ro_after_init', 4, 'ro_after'),
      wr: m.defineStatic('.data..wr_after_init', 8, 'wr_after'),
      data: m.defineStatic('.data', 4, 'plain'),
    };
    for (const va of Object.values(vars)) cpu.write32(va, 0x55); // boot: all writable
    m.finishBoot();
    expect(m.booted).toBe(true);
    expect(() => cpu.write32(vars.ro, 1)).toThrow(PageFault);
    expect(() => cpu.write32(vars.rai, 1)).toThrow(PageFault);
    expect(() => cpu.write32(vars.wr, 1)).toThrow(PageFault);
    cpu.write32(vars.data, 1);
    expect(m.protectionOf(vars.ro)).toBe('ro');
    expect(m.protectionOf(vars.rai)).toBe('ro');
    expect(m.protectionOf(vars.wr)).toBe('wr');
    expect(m.protectionOf(vars.data)).toBe('rw');
    // The direct-map alias of a protected frame is protected too.
    const alias = m.directMapVa(m.translate(vars.wr));
    expect(() => cpu.write32(alias, 2)).toThrow(PageFault);
    expect(cpu.read32(alias)).toBe(0x55);
    expect(m.auditProtections()).toEqual([]);
  });

  it('aligns variables naturally and refuses bad definitions', async () => {
    const m = await toyMachine();
    const a = m.defineStatic('.data', 1, 'a');
    const b = m.defineStatic('.data', 8, 'b');
    const c = m.defineStatic('.data', 2, 'c');
    expect(b % 8).toBe(0);
    expect(b).toBeGreaterThan(a);
    expect(c % 2).toBe(0);
    expect(m.symbol('b')).toMatchObject({ va: b, size: 8, section: '.data' });
    expect(m.sectionOf(b, 8)?.name).toBe('.data');
    expect(() => m.defineStatic('.text' as '.data', 4, 'x')).toThrow(InvalidArgumentError);
    expect(() => m.defineStatic('.data', 0, 'x')).toThrow(
      expect.objectContaining({ code: 'EBADSIZE' }),
    );
    expect(() => m.defineStatic('.data', -8, 'x')).toThrow(
      expect.objectContaining({ code: 'EBADSIZE' }),
    );
    expect(() => m.defineStatic('.data', 4, 'a')).toThrow(InvalidArgumentError);
    expect(() => m.defineStatic('.data', 4 * PAGE_SIZE, 'huge')).toThrow(OutOfMemoryError);
    m.finishBoot();
    expect(() => m.defineStatic('.data', 4, 'late')).toThrow(StateError);
    expect(() => m.finishBoot()).toThrow(expect.objectContaining({ code: 'EBOOTDONE' }));
  });
});

describe('vmalloc areas', () => {
  it('finds an area from any address inside it, and nothing in the guard page', async () => {
    const m = await toyMachine();
    const a = m.vmalloc(3 * PAGE_SIZE + 1, { range: 'wr', name: 'pool' });
    const b = m.vmalloc(PAGE_SIZE);
    expect(a.size).toBe(4 * PAGE_SIZE);
    expect(m.inWrRange(a.start)).toBe(true);
    expect(m.inWrRange(b.start)).toBe(false);
    for (const off of [0, 1, PAGE_SIZE, a.size - 1]) expect(m.findArea(a.start + off)).toBe(a);
    expect(m.findArea(a.end)).toBeUndefined(); // guard page
    expect(() => m.cpu(0).read8(a.end)).toThrow(PageFault);
    expect(m.findArea(b.start + 100)).toBe(b);
    for (const pfn of a.pfns) expect(m.phys.frameArea[pfn]).toBe(a.id);
  });

  it('vfree unmaps, flushes every CPU, and returns or quarantines the frames', async () => {
    const m = await toyMachine({ cpus: 3 });
    const a = m.vmalloc(2 * PAGE_SIZE);
    for (let c = 0; c < 3; c++) m.cpu(c).write32(a.start, c); // every CPU caches it
    m.vfree(a, {}, 1);
    expect(m.findArea(a.start)).toBeUndefined();
    for (let c = 0; c < 3; c++) expect(() => m.cpu(c).read32(a.start)).toThrow(PageFault);
    expect(() => m.vfree(a)).toThrow(expect.objectContaining({ code: 'EDOUBLEFREE' }));
    const q = m.vmalloc(PAGE_SIZE);
    const pfn = q.pfns[0];
    m.cpu(0).write32(q.start, 0xdead);
    m.vfree(q, { quarantine: true });
    expect(m.phys.frameFlags[pfn] & PG.QUARANTINED).toBe(PG.QUARANTINED);
    expect(m.phys.u32[(pfn * PAGE_SIZE) >>> 2]).toBe(0); // scrubbed
  });

  it('frees exactly the frames it took (tables aside)', async () => {
    const m = await toyMachine();
    const a0 = m.vmalloc(PAGE_SIZE); // make sure the tables for the range exist
    const free = m.phys.freeFrames;
    const a = m.vmalloc(5 * PAGE_SIZE);
    expect(m.phys.freeFrames).toBe(free - 5);
    m.vfree(a);
    expect(m.phys.freeFrames).toBe(free);
    expect(a0.freed).toBe(false);
  });

  it('out of memory leaves the machine unchanged', async () => {
    const m = await toyMachine({ memoryMiB: 4 });
    m.vmalloc(PAGE_SIZE);
    const before = snapshot(m);
    expect(() => m.vmalloc(8 * 1024 * 1024)).toThrow(
      expect.objectContaining({ code: expect.stringMatching(/ENOMEM|EBADSIZE/) }),
    );
    expect(() => m.vmalloc(m.phys.freeFrames * PAGE_SIZE)).toThrow(OutOfMemoryError);
    expect(() => m.vmalloc(0)).toThrow(expect.objectContaining({ code: 'EBADSIZE' }));
    expect(() => m.vmalloc(1, { range: 'x' as 'wr' })).toThrow(InvalidArgumentError);
    expect(snapshot(m)).toEqual(before);
  });
});

describe('protection', () => {
  it('moves only toward more restrictive, checking everything before changing anything', async () => {
    const m = await toyMachine({ cpus: 2 });
    const a = m.vmalloc(2 * PAGE_SIZE, { range: 'wr' });
    const b = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    m.protect(a.start, a.size, 'wr');
    expect(a.level).toBe('wr');
    m.protect(a.start, a.size, 'ro');
    expect(a.level).toBe('ro');
    const before = snapshot(m);
    expect(() => m.protect(a.start, a.size, 'wr')).toThrow(
      expect.objectContaining({ code: 'EPROTDOWNGRADE' }),
    );
    expect(() => m.protect(a.start, a.size, 'rw' as 'wr')).toThrow(InvalidArgumentError);
    expect(() => m.protect(a.start + 1, PAGE_SIZE, 'ro')).toThrow(InvalidArgumentError);
    expect(() => m.protect(a.start, 100, 'ro')).toThrow(InvalidArgumentError);
    // b is fine but the range runs into the unmapped guard page: nothing may change.
    expect(() => m.protect(b.start, 2 * PAGE_SIZE, 'wr')).toThrow(BadAddressError);
    expect(() => m.protect(-PAGE_SIZE, PAGE_SIZE, 'wr')).toThrow(BadAddressError);
    expect(snapshot(m)).toEqual(before);
    expect(m.protectionOf(b.start)).toBe('rw');
    m.cpu(1).write32(b.start, 1);
  });

  it('a protected page and its direct-map alias fault on every CPU', async () => {
    const m = await toyMachine({ cpus: 4 });
    const a = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    for (let c = 0; c < 4; c++) m.cpu(c).write32(a.start, c);
    m.protect(a.start, PAGE_SIZE, 'wr', 2);
    const alias = m.directMapVa(a.pfns[0] * PAGE_SIZE);
    for (let c = 0; c < 4; c++) {
      expect(() => m.cpu(c).write32(a.start, 9)).toThrow(PageFault);
      expect(() => m.cpu(c).write32(alias, 9)).toThrow(PageFault);
      expect(m.cpu(c).read32(a.start)).toBe(3);
    }
    expect(m.stats().events.ipiSent).toBeGreaterThan(0);
    expect(m.auditProtections()).toEqual([]);
  });

  it('rejects bad constructor arguments with typed errors', async () => {
    await expect(toyMachine({ cpus: 0 })).rejects.toMatchObject({ code: 'ECONFIG' });
    await expect(toyMachine({ cpus: 257 })).rejects.toMatchObject({ code: 'ECONFIG' });
    await expect(toyMachine({ tlbEntries: 100 })).rejects.toMatchObject({ code: 'ECONFIG' });
    const m = await toyMachine();
    expect(() => m.cpu(2)).toThrow(InvalidArgumentError);
    expect(() => m.cpu(-1)).toThrow(InvalidArgumentError);
  });
});

// A code of this test's stand-in hypervisor, added the way a package adds its codes.
declare module '../src/errors.js' {
  interface PrmemErrorCodes {
    EHVC: true;
  }
}

describe('protection refused by the arch', () => {
  it('rolls the frame flags and area level back when setProtection throws', async () => {
    const m = await toyMachine();
    const a = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    const orig = m.arch.setProtection.bind(m.arch);
    // biome-ignore lint/correctness/useYield: it refuses before doing anything
    m.arch.setProtection = function* () {
      throw new StateError('EHVC', 'hypervisor refused');
    };
    const before = snapshot(m);
    expect(() => m.protect(a.start, a.size, 'wr')).toThrow(StateError);
    expect(snapshot(m)).toEqual(before);
    expect(a.level).toBe('rw');
    m.arch.setProtection = orig;
    m.protect(a.start, a.size, 'wr');
    expect(a.level).toBe('wr');
  });
});

describe('address spaces', () => {
  it('hands out distinct ASIDs and refuses to run out silently', async () => {
    const m = await toyMachine({ memoryMiB: 32 });
    const a = m.createMm('user', 'a');
    const b = m.createMm('user', 'b');
    expect(a.asid).not.toBe(b.asid);
    expect(a.asid).toBeGreaterThan(0);
    for (let i = b.asid + 1; i <= 4094; i++) m.registerMm('user', `u${i}`, 0);
    expect(() => m.createMm('user', 'one-too-many')).toThrow(
      expect.objectContaining({ code: 'ENOMEM' }),
    );
    expect(() => m.registerMm('user', 'bad', 0, 4095)).toThrow(InvalidArgumentError);
  });
});

describe('peek', () => {
  it('reads what the tables map, across pages, without touching TLBs or counters', async () => {
    const m = await toyMachine();
    const a = m.vmalloc(2 * PAGE_SIZE);
    const data = new Uint8Array(300).map((_, i) => i & 0xff);
    m.cpu(0).writeBytes(a.start + PAGE_SIZE - 100, data);
    m.resetStats();
    const tlb = [...m.cpu(1).tlb.entries()].length;
    expect(Array.from(m.peek(a.start + PAGE_SIZE - 100, 300)!)).toEqual(Array.from(data));
    expect(m.peek(a.end - 10, 20)).toBeNull(); // runs into the guard page
    expect(m.stats().cycles).toBe(0);
    expect([...m.cpu(1).tlb.entries()].length).toBe(tlb);
    expect(() => m.peek(-1, 4)).toThrow(BadAddressError);
  });
});
