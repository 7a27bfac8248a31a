import {
  PAGE_SIZE,
  PageFault,
  type Program,
  runInterleaved,
  runProgram,
  type Steps,
  type WrOp,
  sessionOf,
} from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { POKE_SLOT_SIZE, USER_END } from '../src/index.js';
import { aliasWindowOf } from '../src/mech/alias-mm.js';
import { resolveTargets } from '../src/mech/targets.js';
import { decode } from './support/decode.js';
import { runOps, set, wrMachine, write } from './support/machine.js';

const SLOTS_END = (base: number) => base + 256 * POKE_SLOT_SIZE;

describe('alias-mm (text_poke temporary mm)', () => {
  it('step by step: only the writer ever holds an alias, the kernel mm never maps it, audit clean, zero IPIs', async () => {
    const { m, arch, counter, area } = await wrMachine({ cpus: 3 });
    const writer = m.cpu(0);
    const base = arch.pokingBase;
    const inSlots = (va: number) => va >= base && va < SLOTS_END(base);
    // The other CPUs are busy reading the targets and the direct map, and try the alias.
    const attempts: boolean[] = [];
    const bystander = (id: number): Program => ({
      name: `cpu${id}`,
      steps: (function* (): Steps {
        const c = m.cpu(id);
        for (let i = 0; i < 12; i++) {
          c.read32(area.start + 4 * i);
          c.read32(counter);
          try {
            c.write32(arch.pokingSlot(writer) + (area.start % PAGE_SIZE), 0xbad);
            attempts.push(true);
          } catch (e) {
            expect(e).toBeInstanceOf(PageFault);
            attempts.push(false);
          }
          yield `cpu${id} step ${i}`;
        }
      })(),
    });
    const ops = [set(counter, 0x11, 8), write(area.start + 4094, new Uint8Array([1, 2, 3, 4]))];
    m.resetStats();
    let steps = 0;
    const check = () => {
      steps++;
      const audit = m.auditProtections();
      if (audit.length) return `audit: ${JSON.stringify(audit)}`;
      for (const c of [m.cpu(1), m.cpu(2)])
        for (const e of c.tlb.entries())
          if (inSlots(e.va)) return `CPU${c.id} holds alias ${e.va.toString(16)}`;
      let kernelUser = false;
      m.arch.pt.forEachLeaf(m.kernelMm, (va) => {
        if (va < USER_END) kernelUser = true;
      });
      if (kernelUser) return 'kernel mm maps the user half';
      return undefined;
    };
    for (const seed of [1, 2, 3]) {
      const r = runInterleaved(
        [
          { name: 'writer', steps: sessionOf(m.mechanism, writer, ops) },
          bystander(1),
          bystander(2),
        ],
        { seed, check },
      );
      expect(r.violation).toBeUndefined();
      expect(r.errors).toEqual([]);
    }
    expect(steps).toBeGreaterThan(30);
    expect(attempts.length).toBeGreaterThan(0);
    expect(attempts.every((ok) => !ok)).toBe(true);
    expect(m.cpu(0).read64(counter)).toBe(0x1111111111111111n);
    expect([...m.cpu(0).readBytes(area.start + 4094, 4)]).toEqual([1, 2, 3, 4]);
    // After the op the writer holds no alias either, and the alias PTEs are gone.
    for (const e of writer.tlb.entries()) expect(inSlots(e.va)).toBe(false);
    expect(decode(m.phys.bytes, arch.wrMm().rootPa, arch.pokingSlot(writer))).toBeNull();
    const s = m.stats();
    expect(s.events.ipiSent).toBe(0);
    expect(s.events.ipiHandled).toBe(0);
    expect(s.events.localFlushAll).toBe(0);
    expect(s.events.mmSwitch).toBe(6); // in and out, three runs
    expect(s.events.wrWindow).toBe(3);
  });

  it('the alias is a non-global, supervisor, writable PTE at the randomized base (decoded raw)', async () => {
    const { m, arch, counter } = await wrMachine({ cpus: 1 });
    const cpu = m.cpu(0);
    const steps = sessionOf(m.mechanism, cpu, [set(counter, 1, 8)]);
    const alias = arch.pokingSlot(cpu);
    let seen = false;
    for (let r = steps.next(); !r.done; r = steps.next()) {
      const d = decode(m.phys.bytes, arch.wrMm().rootPa, alias);
      if (d) {
        seen = true;
        expect(d.pa).toBe(m.translate(counter) - (counter % PAGE_SIZE));
        expect(d.rw && !d.us && !d.global && d.nx).toBe(true);
        expect(decode(m.phys.bytes, m.kernelMm.rootPa, alias)).toBeNull();
      }
    }
    expect(seen).toBe(true);
    // Different seeds give different bases (poking_addr is randomized).
    const other = await wrMachine({ cpus: 1, seed: 99 });
    expect(other.arch.pokingBase).not.toBe(arch.pokingBase);
    expect(arch.pokingBase % POKE_SLOT_SIZE).toBe(0);
  });

  it('a fault inside the window unwinds: alias cleared and flushed, CR3 back, window closed, IRQs on', async () => {
    const { m, arch, area } = await wrMachine({ cpus: 1 });
    const cpu = m.cpu(0);
    const steps = sessionOf(m.mechanism, cpu, [set(area.start, 7, 4)]);
    let r = steps.next();
    while (!r.done && !String(r.value).startsWith('switch_mm')) r = steps.next();
    // A racing bug clears the alias PTE under the writer before it writes.
    arch.pt.unmap(arch.wrMm(), arch.pokingSlot(cpu));
    expect(() => steps.next()).toThrow(PageFault);
    expect(cpu.mm).toBe(m.kernelMm);
    expect(m.windowOpen(cpu)).toBe(false);
    expect(cpu.irqsDisabled).toBe(false);
    expect(m.auditProtections()).toEqual([]);
    for (const e of cpu.tlb.entries()) expect(e.va >= USER_END).toBe(true);
    expect(cpu.read32(area.start)).toBe(0);
    // The mechanism still works afterwards.
    runOps(m, 0, [set(area.start, 8, 4)]);
    expect(cpu.read32(area.start)).toBe(0x08080808);
  });

  it('the step program is the session: same steps, memory, counters (one or many ops, across pages)', async () => {
    const op = (counter: number, area: { start: number }) =>
      fc.oneof(
        fc.nat({ max: 255 }).map((v) => set(counter, v, 8)),
        fc
          .record({
            off: fc.nat({ max: 3 * PAGE_SIZE - 1 }),
            len: fc.integer({ min: 1, max: 5000 }),
          })
          .filter(({ off, len }) => off + len <= 3 * PAGE_SIZE)
          .map(({ off, len }) => set(area.start + off, len & 0xff, len)),
      );
    const a = await wrMachine({ cpus: 2 });
    const b = await wrMachine({ cpus: 2 });
    const program = a.m.mechanism.program;
    if (!program) throw new Error('alias-mm offers a step program');
    await fc.assert(
      fc.asyncProperty(
        fc.array(op(a.counter, a.area), { minLength: 1, maxLength: 4 }),
        async (ops) => {
          const p = program(a.m.cpu(1), ops);
          const viaProgram: string[] = [];
          for (let l = p.step(); l !== null; l = p.step()) viaProgram.push(l);
          const viaSession = [...sessionOf(b.m.mechanism, b.m.cpu(1), ops)];
          expect(viaProgram).toEqual(viaSession);
          expect(viaProgram[0]).toBe('local_irq_save');
          expect(viaProgram.at(-1)).toBe('local_irq_restore');
          expect(Buffer.compare(a.m.phys.bytes, b.m.phys.bytes)).toBe(0);
          expect(a.m.stats()).toEqual(b.m.stats());
        },
      ),
      { numRuns: 30 },
    );
  });

  it('the one-page window (no arrays) is the general window: same steps, memory, counters, errors', async () => {
    type Target = 'counter' | 'area' | 'konst' | 'user' | 'hole';
    interface OpSpec {
      target: Target;
      off: number;
      kind: 'store' | 'set';
      size: 1 | 2 | 4 | 8;
      len: number;
      v: number;
    }
    const op: fc.Arbitrary<OpSpec> = fc.record({
      target: fc.constantFrom<Target>('counter', 'area', 'area', 'konst', 'user', 'hole'),
      // Often near the end of a page, so ops cross into the next one.
      off: fc
        .tuple(
          fc.nat({ max: 2 }),
          fc.oneof(
            fc.nat({ max: PAGE_SIZE - 1 }),
            fc.integer({ min: PAGE_SIZE - 300, max: PAGE_SIZE - 1 }),
          ),
        )
        .map(([page, at]) => page * PAGE_SIZE + at),
      kind: fc.constantFrom<'store' | 'set'>('store', 'set'),
      size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
      len: fc.integer({ min: 1, max: 300 }),
      v: fc.nat({ max: 255 }),
    });
    const a = await wrMachine({ cpus: 2 });
    const b = await wrMachine({ cpus: 2 });
    const build = (w: typeof a, o: OpSpec): WrOp => {
      const base = {
        counter: w.counter,
        area: w.area.start + o.off,
        konst: w.konst,
        user: 0x1000 + o.off,
        hole: w.area.start + w.area.size + PAGE_SIZE + o.off,
      }[o.target];
      const va = o.target === 'area' ? Math.min(base, w.area.start + w.area.size - 8) : base;
      return o.kind === 'store'
        ? { kind: 'store', va, size: o.size, lo: o.v, hi: 0 }
        : set(va, o.v, o.target === 'area' ? Math.min(o.len, w.area.start + w.area.size - va) : 8);
    };
    const outcome = (f: () => string[]) => {
      try {
        return f();
      } catch (e) {
        return `${(e as Error).name} ${(e as { code?: string }).code}`;
      }
    };
    await fc.assert(
      fc.property(op, fc.nat({ max: 1 }), (o, c) => {
        const fast = outcome(() => {
          const p = a.m.mechanism.program?.(a.m.cpu(c), [build(a, o)]);
          if (!p) throw new Error('alias-mm offers a step program');
          const labels: string[] = [];
          for (let l = p.step(); l !== null; l = p.step()) labels.push(l);
          return labels;
        });
        const general = outcome(() => {
          const ops = [build(b, o)];
          const p = aliasWindowOf(
            b.arch,
            b.m.cpu(c),
            b.arch.wrMm(),
            resolveTargets(b.arch, b.m.cpu(c), ops),
            ops,
          );
          const labels: string[] = [];
          for (let l = p.step(); l !== null; l = p.step()) labels.push(l);
          return labels;
        });
        expect(fast).toEqual(general);
        expect(Buffer.compare(a.m.phys.bytes, b.m.phys.bytes)).toBe(0);
        expect(a.m.stats()).toEqual(b.m.stats());
      }),
      { numRuns: 300 },
    );
  });

  it('runProgram from any step performs the rest exactly as stepping does (memory, counters, CPU state)', async () => {
    const lists = (w: { counter: number; area: { start: number } }): WrOp[][] => [
      [{ kind: 'store', va: w.counter, size: 8, lo: 0xdead, hi: 0xbeef }],
      [set(w.counter, 3, 8), set(w.area.start + 4090, 9, 12), set(w.area.start + 8000, 1, 3)],
    ];
    for (let l = 0; l < 2; l++) {
      const probe = await wrMachine({ cpus: 1 });
      const total = [...sessionOf(probe.m.mechanism, probe.m.cpu(0), lists(probe)[l])].length;
      for (let k = 0; k <= total; k++) {
        const a = await wrMachine({ cpus: 1 });
        const b = await wrMachine({ cpus: 1 });
        const pa = a.m.mechanism.program?.(a.m.cpu(0), lists(a)[l]);
        const pb = b.m.mechanism.program?.(b.m.cpu(0), lists(b)[l]);
        if (!pa || !pb) throw new Error('alias-mm offers a step program');
        for (let i = 0; i < k; i++) pa.step();
        runProgram(pa);
        expect(pa.step()).toBeNull();
        while (pb.step() !== null);
        expect(Buffer.compare(a.m.phys.bytes, b.m.phys.bytes)).toBe(0);
        expect(a.m.stats()).toEqual(b.m.stats());
        expect(a.m.cpu(0).mm).toBe(a.m.kernelMm);
        expect(a.m.windowOpen(a.m.cpu(0))).toBe(false);
        expect(a.m.cpu(0).irqsDisabled).toBe(false);
        expect(a.m.cpu(0).tlb.entries()).toEqual(b.m.cpu(0).tlb.entries());
      }
    }
  });

  it('stopped after any step (abort), the window leaves nothing behind: no alias, CR3 and IRQs back', async () => {
    const { m, arch, counter, area } = await wrMachine({ cpus: 1 });
    const cpu = m.cpu(0);
    // Two ops over two pages (the general window), and one store (the one-page window).
    const lists: WrOp[][] = [
      [set(counter, 3, 8), set(area.start + 4090, 9, 12)],
      [{ kind: 'store', va: area.start + 8, size: 8, lo: 5, hi: 6 }],
    ];
    for (const ops of lists) {
      const total = [...sessionOf(m.mechanism, cpu, ops)].length;
      for (let k = 0; k <= total; k++) {
        const p = m.mechanism.program?.(cpu, ops);
        if (!p) throw new Error('alias-mm offers a step program');
        for (let i = 0; i < k; i++) expect(p.step()).not.toBeNull();
        p.abort();
        p.abort(); // a second abort finds nothing to do
        expect(cpu.mm).toBe(m.kernelMm);
        expect(m.windowOpen(cpu)).toBe(false);
        expect(cpu.irqsDisabled).toBe(false);
        expect(m.auditProtections()).toEqual([]);
        for (let s = 0; s < 2; s++)
          expect(
            decode(m.phys.bytes, arch.wrMm().rootPa, arch.pokingSlot(cpu) + s * PAGE_SIZE),
          ).toBeNull();
        for (const e of cpu.tlb.entries()) expect(e.va >= USER_END).toBe(true);
      }
    }
  });

  it('a page-table attack that moves a __wr_after_init page does not move write-rare writes (__pa_symbol)', async () => {
    const { m, arch, counter } = await wrMachine({ cpus: 1 });
    const cpu = m.cpu(0);
    const page = counter - (counter % PAGE_SIZE);
    const real = m.translate(page);
    // The attacker points the kernel PTE of the page at a frame of its own.
    const decoy = m.vmalloc(PAGE_SIZE);
    const decoyPa = m.translate(decoy.start);
    arch.pt.map(m.kernelMm, page, decoyPa, { write: false, exec: false, global: true });
    arch.flushLocalPage(cpu, page);
    runOps(m, 0, [set(counter, 0x5a, 8)]);
    // text_poke found the image page by arithmetic: the real frame took the write.
    const pa = real + (counter % PAGE_SIZE);
    expect([...m.phys.bytes.subarray(pa, pa + 8)]).toEqual(new Array(8).fill(0x5a));
    const d = decoyPa + (counter % PAGE_SIZE);
    expect([...m.phys.bytes.subarray(d, d + 8)]).toEqual(new Array(8).fill(0));
  });

  it('concurrent writers on two CPUs use their own slots and never see each other', async () => {
    const { m, arch, area } = await wrMachine({ cpus: 2 });
    const slotOf = (va: number) => Math.floor((va - arch.pokingBase) / POKE_SLOT_SIZE);
    for (const seed of [5, 6, 7, 8]) {
      const r = runInterleaved(
        [
          { name: 'w0', steps: sessionOf(m.mechanism, m.cpu(0), [set(area.start, seed, 8)]) },
          {
            name: 'w1',
            steps: sessionOf(m.mechanism, m.cpu(1), [set(area.start + 8, seed + 1, 8)]),
          },
        ],
        {
          seed,
          check: () => {
            for (const id of [0, 1])
              for (const e of m.cpu(id).tlb.entries())
                if (e.va < USER_END && slotOf(e.va) !== id) return `CPU${id} sees a foreign alias`;
            const a = m.auditProtections();
            return a.length ? JSON.stringify(a) : undefined;
          },
        },
      );
      expect(r.violation).toBeUndefined();
      expect(m.cpu(0).read8(area.start)).toBe(seed);
      expect(m.cpu(1).read8(area.start + 8)).toBe(seed + 1);
    }
  });
});

describe('alias-mm-per-pool', () => {
  it('one alias mm (and PCID) per pool, found from the target area; still no IPIs', async () => {
    const { m, arch, area, counter } = await wrMachine({ cpus: 2, mechanism: 'alias-mm-per-pool' });
    const owner9 = m.registerOwner('pool9');
    const other = m.vmalloc(PAGE_SIZE, { range: 'wr', owner: owner9 });
    m.protect(other.start, other.size, 'wr', 0, owner9);
    m.resetStats();
    runOps(m, 0, [set(area.start, 1, 4), set(other.start, 2, 4), set(counter, 3, 4)]);
    expect(m.cpu(1).read32(area.start)).toBe(0x01010101);
    expect(m.cpu(1).read32(other.start)).toBe(0x02020202);
    expect(m.cpu(1).read32(counter)).toBe(0x03030303);
    const mms = arch.aliasMms();
    expect(mms.map((mm) => mm.name).sort()).toEqual(
      ['wr_mm', `wr_mm/pool${area.owner}`, `wr_mm/pool${other.owner}`].sort(),
    );
    expect(new Set(mms.map((mm) => mm.asid)).size).toBe(3);
    expect(arch.poolMm(area.owner)).toBe(arch.poolMm(area.owner));
    const s = m.stats();
    expect(s.events.wrWindow).toBe(3);
    expect(s.events.mmSwitch).toBe(6);
    expect(s.events.ipiSent).toBe(0);
    expect(m.auditProtections()).toEqual([]);
  });
});

describe('alias-mm-mirror (prmem v5)', () => {
  it('writes through a persistent mirror: two CR3 switches, no PTE work, no flush, no IPI', async () => {
    const { m, arch, area } = await wrMachine({ cpus: 2, mechanism: 'alias-mm-mirror' });
    const mirror = arch.mirrorAddress(area.start);
    expect(decode(m.phys.bytes, arch.wrMm().rootPa, mirror)?.pa).toBe(m.translate(area.start));
    expect(decode(m.phys.bytes, m.kernelMm.rootPa, mirror)).toBeNull();
    m.resetStats();
    const steps = sessionOf(m.mechanism, m.cpu(0), [set(area.start + 100, 0x5a, 4)]);
    for (let r = steps.next(); !r.done; r = steps.next()) expect(m.auditProtections()).toEqual([]);
    expect(m.cpu(1).read32(area.start + 100)).toBe(0x5a5a5a5a);
    const s = m.stats();
    expect(s.events.pteWrite).toBe(0);
    expect(s.events.localFlushPage + s.events.localFlushAll + s.events.ipiSent).toBe(0);
    expect(s.events.mmSwitch).toBe(2);
    // The mirror entry stays cached under wr_mm's PCID: dormant, not usable from init_mm.
    const cpu = m.cpu(0);
    expect(cpu.tlb.lookup(mirror, arch.wrMm().asid)).toBeGreaterThanOrEqual(0);
    expect(() => cpu.write32(mirror, 1)).toThrow(PageFault);
  });

  it('making the range read-only removes the mirror, and a CPU with a cached mirror entry is flushed on its next switch', async () => {
    const { m, arch, area, owner } = await wrMachine({ cpus: 2, mechanism: 'alias-mm-mirror' });
    const mirror = arch.mirrorAddress(area.start);
    runOps(m, 1, [set(area.start, 1, 4)]); // CPU 1 caches the mirror entry
    const wr = arch.wrMm();
    expect(m.cpu(1).tlb.lookup(mirror, wr.asid)).toBeGreaterThanOrEqual(0);
    m.protect(area.start, area.size, 'ro', 0, owner);
    expect(decode(m.phys.bytes, wr.rootPa, mirror)).toBeNull();
    expect(arch.pcidCurrent(m.cpu(1), wr)).toBe(false);
    // An attacker who gets CPU 1 into wr_mm finds no writable mirror of the now-RO page.
    arch.switchMm(m.cpu(1), wr);
    expect(() => m.cpu(1).write32(mirror, 0xbad)).toThrow(PageFault);
    arch.switchMm(m.cpu(1), m.kernelMm);
    expect(m.cpu(0).read32(area.start)).toBe(0x01010101);
    expect(() => runOps(m, 0, [set(area.start, 2, 4)])).toThrow(/read-only/);
  });

  it('releasing (vfree) a protected area removes its mirror too', async () => {
    const { m, arch, area, owner } = await wrMachine({ cpus: 1, mechanism: 'alias-mm-mirror' });
    const mirror = arch.mirrorAddress(area.start);
    m.vfree(area, { owner });
    expect(decode(m.phys.bytes, arch.wrMm().rootPa, mirror)).toBeNull();
    expect(m.auditProtections()).toEqual([]);
  });
});
