import { drain, type Machine, PAGE_SIZE, PG, type WrOp, sessionOf } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { ALIAS_WINDOW_PAGES } from '../src/index.js';
import { arm64Machine, el2, protectedAreas } from './support/machine.js';

const store8 = (va: number, v: number): WrOp => ({ kind: 'store', va, size: 8, lo: v, hi: 0 });

/** Every user-half leaf of wr_mm (the aliases a window left behind). */
function aliasLeaves(m: Machine): number[] {
  const out: number[] = [];
  for (const mm of m.arch.aliasMms?.() ?? [])
    m.arch.pt.forEachLeaf(mm, (va) => {
      if (va < m.layout.userEnd) out.push(va);
    });
  return out;
}

describe('arm64 windows and the threat model', () => {
  it('alias-mm stopped after any step leaves no alias, no wr_mm loaded, IRQs as found, nothing pinned', async () => {
    for (const off of [false, true]) {
      for (let k = 1; k < 8; k++) {
        const m = await arm64Machine({ mechanism: 'alias-mm' });
        const { wrArea } = protectedAreas(m);
        const cpu = m.cpu(0);
        cpu.irqsDisabled = off;
        const s = sessionOf(m.mechanism, cpu, [store8(wrArea.start, 1), store8(wrArea.end - 8, 2)]);
        for (let i = 0; i < k; i++) if (s.next().done) break;
        s.return(undefined);
        expect(aliasLeaves(m)).toEqual([]);
        expect(cpu.mm).toBe(m.kernelMm);
        expect(cpu.irqsDisabled).toBe(off);
        expect(m.windowOpen(cpu)).toBe(false);
        for (const pfn of wrArea.pfns) expect(m.framePins(pfn)).toBe(0);
        // The next window on another CPU is not blocked by a lock left behind.
        drain(sessionOf(m.mechanism, m.cpu(1), [store8(wrArea.start, 3)]));
        expect(m.auditProtections()).toEqual([]);
      }
    }
  });

  it('alias-mm refuses a huge length from its operands, before listing any page', async () => {
    const m = await arm64Machine({ mechanism: 'alias-mm' });
    const { wrArea } = protectedAreas(m);
    const t0 = performance.now();
    expect(() =>
      drain(
        sessionOf(m.mechanism, m.cpu(0), [
          { kind: 'set', va: wrArea.start, value: 1, len: 2 ** 40 },
        ]),
      ),
    ).toThrow(expect.objectContaining({ code: 'EWRTARGET', reason: 'bad-size' }));
    // Not a timing assertion on speed: a listing of 2^28 pages would take minutes, not this.
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('hyp-assist writes nothing of a batch with a read-only op at its end', async () => {
    const m = await arm64Machine({ mechanism: 'hyp-assist' });
    const { wrArea, roArea } = protectedAreas(m);
    m.resetStats();
    const before = Buffer.from(m.phys.bytes);
    expect(() =>
      drain(sessionOf(m.mechanism, m.cpu(0), [store8(wrArea.start, 1), store8(roArea.start, 2)])),
    ).toThrow(expect.objectContaining({ code: 'EWRTARGET', reason: 'read-only' }));
    expect(Buffer.compare(before, m.phys.bytes)).toBe(0);
    expect(m.stats().events.hypercall).toBe(0);
  });

  it('EL2 keeps a non-reclaimable range for good, and scrubs a reclaimable one on release', async () => {
    const m = await arm64Machine({ mechanism: 'hyp-assist' });
    m.finishBoot();
    const kinds = () => m.securityEvents().map((e) => e.kind);
    for (const reclaimable of [false, true]) {
      const owner = m.registerOwner(`pool ${reclaimable}`);
      const a = m.vmalloc(PAGE_SIZE, { range: 'wr', owner, reclaimable });
      m.cpu(0).write32(a.start, 0x5eed);
      m.protect(a.start, a.size, 'ro', 0, owner);
      const pa = m.translate(a.start);
      const n = kinds().length;
      const unregister = () =>
        el2(m).hvc(m.cpu(0), { fn: 'unregister', start: a.start, size: PAGE_SIZE });
      if (!reclaimable) {
        // The kernel (arbitrary EL1 code) asks EL2 to drop a sealed range: refused, logged.
        expect(unregister).toThrow(expect.objectContaining({ name: 'HypercallRefused' }));
        expect(kinds().slice(n)).toEqual(['hvc-refused']);
        expect(new DataView(m.phys.bytes.buffer).getUint32(pa, true)).toBe(0x5eed);
        // vfree keeps the frames protected: nothing is unregistered.
        m.vfree(a, { owner });
        expect(m.phys.frameFlags[pa / PAGE_SIZE] & PG.PROT_RO).toBe(PG.PROT_RO);
      } else {
        unregister();
        // Released memory is erased, never handed back with its contents.
        expect(new DataView(m.phys.bytes.buffer).getUint32(pa, true)).toBe(0);
      }
    }
  });

  it('alias-mm: a batch in several windows writes only the frames resolved at its start (ESTALE if one changed between windows)', async () => {
    const m = await arm64Machine({ mechanism: 'alias-mm' });
    m.finishBoot();
    const cpu = m.cpu(0);
    const area = (pages: number) => {
      const owner = m.registerOwner('w');
      const a = m.vmalloc(pages * PAGE_SIZE, { range: 'wr', owner, ceiling: 'wr' });
      m.protect(a.start, a.size, 'wr', 0, owner);
      return { a, owner };
    };
    const first = area(ALIAS_WINDOW_PAGES);
    const second = area(1);
    const ops = [
      { kind: 'set' as const, va: first.a.start, value: 1, len: first.a.size },
      store8(second.a.start, 2),
    ];
    const s = sessionOf(m.mechanism, cpu, ops);
    for (let r = s.next(); !r.done && r.value !== 'alias-mm: closed'; r = s.next());
    // Between the windows: the second target's memory is released and handed to another
    // write-rare area, possibly at the same address.
    m.vfree(second.a, { owner: second.owner });
    const other = area(1);
    const before = Buffer.from(m.phys.bytes);
    expect(() => {
      for (let r = s.next(); !r.done; r = s.next());
    }).toThrow(expect.objectContaining({ code: 'ESTALE' }));
    expect(Buffer.compare(before, m.phys.bytes)).toBe(0);
    expect(m.peek(other.a.start, 8)).toEqual(new Uint8Array(8));
    expect(aliasLeaves(m)).toEqual([]);
    expect(cpu.irqsDisabled).toBe(false);
  });
});
