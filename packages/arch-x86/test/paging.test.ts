import {
  PageFault,
  PAGE_SIZE,
  TLBF,
  TLBF_PKEY_MASK,
  TLBF_PKEY_SHIFT,
  WalkResult,
} from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bits, DIRECT_MAP, IMAGE_START, VMALLOC_START, x86Arch } from '../src/index.js';
import { decode, rawEntry, writeRawEntry } from './support/decode.js';
import { machine } from './support/machine.js';

const mappingArb = fc.record({
  // A page somewhere in the vmalloc range or the user half.
  user: fc.boolean(),
  page: fc.integer({ min: 0, max: 2 ** 30 }),
  frame: fc.integer({ min: 1, max: 1023 }),
  write: fc.boolean(),
  exec: fc.boolean(),
  global: fc.boolean(),
  pkey: fc.integer({ min: 0, max: 15 }),
});

describe('raw page-table format, checked by an independent decoder', () => {
  it('every mapping decodes from phys.bytes at rootPa to the same frame and bits', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mappingArb, { minLength: 1, maxLength: 12 }), async (maps) => {
        const m = await machine({ memoryMiB: 4, cpus: 1 });
        const mm = m.createMm('user', 'test');
        const want = new Map<number, (typeof maps)[number]>();
        for (const mp of maps) {
          const va = (mp.user ? 0x1000_0000_0000 : VMALLOC_START) + mp.page * PAGE_SIZE;
          m.arch.pt.map(mm, va, mp.frame * PAGE_SIZE, { ...mp });
          want.set(va, mp);
        }
        const w = new WalkResult();
        for (const [va, mp] of want) {
          const off = (mp.frame * 37) % PAGE_SIZE;
          const d = decode(m.phys.bytes, mm.rootPa, va + off);
          expect(d).not.toBeNull();
          if (!d) return;
          expect(d.pa).toBe(mp.frame * PAGE_SIZE + off);
          expect(d.pageSize).toBe(PAGE_SIZE);
          expect(m.translate(va + off, mm)).toBe(d.pa);
          expect(d.rw).toBe(mp.write);
          expect(d.us).toBe(mp.user);
          expect(d.nx).toBe(!mp.exec);
          expect(d.global).toBe(mp.global);
          expect(d.pkey).toBe(mp.pkey);
          // The backend's own view of the same entry agrees bit for bit.
          expect(m.arch.pt.lookup(mm, va, w)).toBe(true);
          expect((w.flags & TLBF.W) !== 0).toBe(d.rw);
          expect((w.flags & TLBF.U) !== 0).toBe(d.us);
          expect((w.flags & TLBF.X) !== 0).toBe(!d.nx);
          expect((w.flags & TLBF.G) !== 0).toBe(d.global);
          expect((w.flags & TLBF.D) !== 0).toBe(d.dirty);
          expect((w.flags & TLBF_PKEY_MASK) >>> TLBF_PKEY_SHIFT).toBe(d.pkey);
        }
        // Pages next to the mappings are not present in either view (unless mapped too).
        for (const va of want.keys()) {
          const next = va + PAGE_SIZE;
          if (want.has(next)) continue;
          expect(decode(m.phys.bytes, mm.rootPa, next)).toBeNull();
          expect(m.translate(next, mm)).toBe(-1);
        }
        // Every leaf the backend enumerates is one the decoder finds with the same frame.
        m.arch.pt.forEachLeaf(mm, (va, pa) => {
          expect(decode(m.phys.bytes, mm.rootPa, va)?.pa).toBe(pa);
        });
      }),
      { numRuns: 40 },
    );
  });

  it('the kernel mm: direct map and image decode from the raw bytes, sign-extended layout', async () => {
    const m = await machine({ memoryMiB: 4, cpus: 1 });
    const root = m.kernelMm.rootPa;
    for (const pa of [0, PAGE_SIZE, 123 * PAGE_SIZE + 5, m.phys.size - 1]) {
      const d = decode(m.phys.bytes, root, DIRECT_MAP + pa);
      expect(d?.pa).toBe(pa);
      expect(d?.rw && d.nx && d.global && !d.us).toBe(true);
    }
    const v = m.defineStatic('.rodata', 8, 'x');
    expect(v).toBeGreaterThanOrEqual(IMAGE_START);
    expect(decode(m.phys.bytes, root, v)?.pa).toBe(m.translate(v));
    m.finishBoot();
    const d = decode(m.phys.bytes, root, v);
    expect(d?.rw).toBe(false);
    // The frame's direct-map alias went read-only too (CPA alias processing).
    expect(decode(m.phys.bytes, root, DIRECT_MAP + (d?.pa ?? 0))?.rw).toBe(false);
    // .rodata and .data..ro_after_init: read-only, global, NX 4 KiB pages after the hole below _text.
    expect(m.ptdump()).toMatch(
      /---\[ High Kernel Mapping \]---\n0xffffffff80000000-0xffffffff81000000 {10}16M {31}pmd\n0xffffffff81000000-0xffffffff8100c000 {10}48K {5}ro {17}GLB NX pte\n/,
    );
  });

  it('access behaviour follows the decoded bits (WP, SMAP, NX, PKRS)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mappingArb, { minLength: 1, maxLength: 8 }), async (maps) => {
        const m = await machine({ memoryMiB: 4, cpus: 1 });
        const cpu = m.cpu(0);
        const seen = new Set<number>();
        for (const mp of maps) {
          const va = VMALLOC_START + mp.page * PAGE_SIZE;
          if (seen.has(va)) continue;
          seen.add(va);
          m.arch.pt.map(m.kernelMm, va, mp.frame * PAGE_SIZE, { ...mp });
          const d = decode(m.phys.bytes, m.kernelMm.rootPa, va);
          if (!d) throw new Error('not mapped');
          // Expected from the bits and the architectural rules: SMAP forbids supervisor
          // access to US pages; CR0.WP=1 honours RW=0; PKRS boots with key 1 write-disabled.
          const readOk = !d.us;
          const writeOk = !d.us && d.rw && d.pkey !== 1;
          const tryIt = (f: () => void) => {
            try {
              f();
              return true;
            } catch (e) {
              expect(e).toBeInstanceOf(PageFault);
              return false;
            }
          };
          expect(tryIt(() => cpu.read32(va))).toBe(readOk);
          expect(tryIt(() => cpu.write32(va, 1))).toBe(writeOk);
        }
      }),
      { numRuns: 30 },
    );
  });

  it('the walk sets A in every entry it uses and D in the leaf on a write', async () => {
    const m = await machine({ memoryMiB: 4, cpus: 1 });
    const cpu = m.cpu(0);
    const va = VMALLOC_START + 77 * PAGE_SIZE;
    m.arch.pt.map(m.kernelMm, va, 9 * PAGE_SIZE, { write: true, exec: false, global: true });
    const d0 = decode(m.phys.bytes, m.kernelMm.rootPa, va);
    if (!d0) throw new Error('unmapped');
    // Clear A and D everywhere on the path by hand, as a fresh table would have them.
    for (const e of d0.entries) {
      const [lo, hi] = rawEntry(m.phys.bytes, e);
      writeRawEntry(m.phys.bytes, e, lo & ~0x60, hi);
    }
    cpu.read32(va);
    const d1 = decode(m.phys.bytes, m.kernelMm.rootPa, va);
    for (const e of d1?.entries ?? []) expect(rawEntry(m.phys.bytes, e)[0] & 0x20).toBe(0x20);
    expect(d1?.dirty).toBe(false);
    cpu.write32(va, 5);
    expect(decode(m.phys.bytes, m.kernelMm.rootPa, va)?.dirty).toBe(true);
  });

  it('table indices are bits 12+9(l-1) up of the VA, for every 48-bit VA', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 48n) - 1n }),
        fc.integer({ min: 1, max: 4 }),
        (v, level) => {
          const want = Number((v >> BigInt(12 + 9 * (level - 1))) & 511n);
          expect(bits.levelIndex(Number(v), level)).toBe(want);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a table pointer outside physical memory (a corrupted PDE) faults the walk; no other memory is read as a table', async () => {
    const m = await machine({ memoryMiB: 4, cpus: 1 });
    const cpu = m.cpu(0);
    const va = VMALLOC_START + 5 * PAGE_SIZE;
    m.arch.pt.map(m.kernelMm, va, 9 * PAGE_SIZE, { write: true, exec: false, global: true });
    cpu.write32(va, 0x1234);
    const d = decode(m.phys.bytes, m.kernelMm.rootPa, va);
    if (!d) throw new Error('unmapped');
    const pde = d.entries[2];
    const [lo, hi] = rawEntry(m.phys.bytes, pde);
    // The PDE's table address moved 4 GiB up: the same low bits, so a walk that dropped
    // the high half would read the real page table and succeed.
    writeRawEntry(m.phys.bytes, pde, lo, hi | 1);
    cpu.tlb.flushAll();
    expect(() => cpu.read32(va)).toThrow(PageFault);
    // Beyond the end of memory in the low half: refused too.
    writeRawEntry(m.phys.bytes, pde, ((lo & 0xfff) | 0x7fff_f000) >>> 0, hi);
    expect(() => cpu.read32(va)).toThrow(PageFault);
    // Restored, the mapping works again.
    writeRawEntry(m.phys.bytes, pde, lo, hi);
    expect(cpu.read32(va)).toBe(0x1234);
  });

  it('a PS=1 entry is a 2 MiB leaf for the backend walker and the decoder alike', async () => {
    const m = await machine({ memoryMiB: 8, cpus: 1 });
    const cpu = m.cpu(0);
    const va = VMALLOC_START + 5 * 2 ** 21;
    // Build the path with a 4 KiB mapping, then replace the PDE by a 2 MiB leaf at PA 4 MiB.
    m.arch.pt.map(m.kernelMm, va, PAGE_SIZE, { write: true, exec: false, global: true });
    const pde = decode(m.phys.bytes, m.kernelMm.rootPa, va)?.entries[2] ?? 0;
    writeRawEntry(m.phys.bytes, pde, (4 * 2 ** 20) | 0x1e3 /* P RW A D PS G */, 0x8000_0000);
    cpu.tlb.flushAll();
    const probe = va + 3 * PAGE_SIZE + 12;
    const d = decode(m.phys.bytes, m.kernelMm.rootPa, probe);
    expect(d?.pageSize).toBe(2 ** 21);
    expect(d?.pa).toBe(4 * 2 ** 20 + 3 * PAGE_SIZE + 12);
    expect(m.translate(probe)).toBe(d?.pa);
    cpu.write32(probe, 0xabcd);
    expect(m.phys.read32(d?.pa ?? 0)).toBe(0xabcd);
    const levels: number[] = [];
    m.arch.pt.forEachLeaf(m.kernelMm, (lva, _pa, _f, level) => {
      if (lva === va) levels.push(level);
    });
    expect(levels).toEqual([2]);
    // Protecting one 4 KiB page of it splits it (CPA): 512 PTEs with the same frames.
    m.protect(va + 3 * PAGE_SIZE, PAGE_SIZE, 'ro');
    expect(decode(m.phys.bytes, m.kernelMm.rootPa, probe)?.pageSize).toBe(PAGE_SIZE);
    expect(m.translate(probe)).toBe(d?.pa);
    expect(m.translate(va + 2 ** 21 - 4)).toBe(4 * 2 ** 20 + 2 ** 21 - 4);
    expect(() => cpu.write32(probe, 1)).toThrow(PageFault);
    cpu.write32(va + 4 * PAGE_SIZE, 0x55);
    expect(m.phys.read32(4 * 2 ** 20 + 4 * PAGE_SIZE)).toBe(0x55);
  });

  it('new mms share the kernel half; a later kernel PML4 entry reaches every mm', async () => {
    const m = await machine({ memoryMiB: 4, cpus: 1 });
    const a = m.createMm('user', 'a');
    const far = 0xf800_0000_0000; // a kernel PML4 slot nothing used yet
    expect(decode(m.phys.bytes, a.rootPa, far)).toBeNull();
    m.arch.pt.map(m.kernelMm, far, 3 * PAGE_SIZE, { write: true, exec: false, global: true });
    expect(decode(m.phys.bytes, a.rootPa, far)?.pa).toBe(3 * PAGE_SIZE);
    const b = m.createMm('user', 'b');
    const va = DIRECT_MAP + 40 * PAGE_SIZE;
    expect(decode(m.phys.bytes, b.rootPa, va)?.pa).toBe(40 * PAGE_SIZE);
    // The user half is private.
    m.arch.pt.map(a, 0x4000_0000, 5 * PAGE_SIZE, { write: true, exec: false, global: false });
    expect(decode(m.phys.bytes, b.rootPa, 0x4000_0000)).toBeNull();
    expect(decode(m.phys.bytes, m.kernelMm.rootPa, 0x4000_0000)).toBeNull();
  });
});

describe('CR3 and PCIDs', () => {
  it('CR3 holds root | PCID; NOFLUSH reuse keeps entries, a stale PCID is flushed, globals survive', async () => {
    const m = await machine({ memoryMiB: 4, cpus: 1 });
    const arch = x86Arch(m);
    const cpu = m.cpu(0);
    const a = m.createMm('user', 'a');
    const uva = 0x4000_0000;
    m.arch.pt.map(a, uva, 5 * PAGE_SIZE, { write: true, exec: false, global: false });
    const kva = DIRECT_MAP + 6 * PAGE_SIZE;
    cpu.read32(kva); // a global kernel entry
    m.switchMm(cpu, a);
    expect(cpu.regs.cr3lo).toBe((a.rootPa | a.asid) >>> 0);
    expect(a.asid).not.toBe(0);
    expect(m.stats().events.localFlushAsid).toBe(1); // first load of the PCID flushes it
    cpu.read32(uva);
    const has = (va: number, asid: number) => cpu.tlb.lookup(va, asid) >= 0;
    expect(has(uva, a.asid)).toBe(true);
    m.switchMm(cpu, m.kernelMm);
    expect(has(uva, a.asid)).toBe(true); // tagged: stays, unusable under PCID 0
    expect(has(uva, 0)).toBe(false);
    m.switchMm(cpu, a); // NOFLUSH: tlb_gen unchanged
    expect(m.stats().events.localFlushAsid).toBe(1);
    expect(has(uva, a.asid)).toBe(true);
    expect(m.stats().events.mmSwitch).toBe(3);
    // Unmap while a is not loaded: flush_tlb_mm_range bumps tlb_gen, no IPI.
    m.switchMm(cpu, m.kernelMm);
    m.arch.pt.unmap(a, uva);
    const steps = arch.flushMmRange(cpu, a, [uva]);
    for (let r = steps.next(); !r.done; r = steps.next());
    expect(arch.pcidCurrent(cpu, a)).toBe(false);
    m.switchMm(cpu, a); // without NOFLUSH: the stale entry goes, the global one stays
    expect(m.stats().events.localFlushAsid).toBe(2);
    expect(has(uva, a.asid)).toBe(false);
    expect(cpu.tlb.covers(kva, a.asid)).toBe(true); // a 2 MiB direct-map entry
    expect(() => cpu.read32(uva)).toThrow(PageFault);
  });
});
