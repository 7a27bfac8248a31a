import { drain, PAGE_SIZE, runSchedule, sessionOf } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { nommuArch } from '../src/index.js';
import { u32Op, wrWorld } from './support.js';

describe('nommu-alias windows and the threat model', () => {
  it.each(['direct-remap', 'lazy'])(
    '%s: a window abandoned mid-way holds the lock; a synchronous write refuses (EDEADLK) instead of spinning; return() releases it',
    async (mechanism) => {
      const w = await wrWorld({ cpus: 2, mechanism });
      const held = sessionOf(w.m.mechanism, w.m.cpu(0), [u32Op(w.target, 1)]);
      held.next();
      expect(nommuArch(w.m).wrLockOwner).toBe(0);
      const before = Buffer.from(w.m.phys.bytes);
      expect(() => drain(sessionOf(w.m.mechanism, w.m.cpu(1), [u32Op(w.target + 4, 2)]))).toThrow(
        expect.objectContaining({ code: 'EDEADLK' }),
      );
      expect(Buffer.compare(before, w.m.phys.bytes)).toBe(0);
      held.return(undefined);
      expect(nommuArch(w.m).wrLockOwner).toBe(-1);
      drain(sessionOf(w.m.mechanism, w.m.cpu(1), [u32Op(w.target + 4, 2)]));
      expect(w.m.cpu(0).read32(w.target + 4)).toBe(2);
      expect(w.m.auditProtections()).toEqual([]);
    },
  );

  it('a schedule that stops early (a violation) unwinds the window it left open', async () => {
    const w = await wrWorld({ cpus: 2 });
    const r = runSchedule(
      [{ name: 'writer', steps: sessionOf(w.m.mechanism, w.m.cpu(0), [u32Op(w.target, 1)]) }],
      () => 0,
      () => (w.m.windowOpen(0) ? 'stop while the window is open' : undefined),
    );
    expect(r.violation).toBeDefined();
    expect(w.m.windowOpen(0)).toBe(false);
    expect(nommuArch(w.m).wrLockOwner).toBe(-1);
    expect(() => w.m.cpu(1).write32(w.target, 0xbad)).toThrow();
  });

  it('the mechanism refuses read-only targets and a window spanning a read-only page, recorded', async () => {
    const w = await wrWorld({ cpus: 2, pages: 1 });
    const owner = w.m.registerOwner('ro');
    const ro = w.m.vmalloc(PAGE_SIZE, { range: 'wr', owner });
    w.m.protect(ro.start, ro.size, 'ro', 0, owner);
    const o2 = w.m.registerOwner('wr2');
    const wr2 = w.m.vmalloc(PAGE_SIZE, { range: 'wr', owner: o2 });
    w.m.protect(wr2.start, wr2.size, 'wr', 0, o2);
    const rodata = w.m.section('.rodata').start;
    w.m.resetStats();
    const before = Buffer.from(w.m.phys.bytes);
    for (const ops of [
      [u32Op(ro.start, 1)],
      [u32Op(rodata, 1)],
      [u32Op(w.target, 1), u32Op(ro.start + 8, 2)],
      // Two write-rare targets whose span holds the read-only area (and guard pages).
      [u32Op(w.target, 1), u32Op(wr2.start, 2)],
    ])
      expect(() => drain(sessionOf(w.m.mechanism, w.m.cpu(0), ops))).toThrow(
        expect.objectContaining({ code: 'EWRTARGET' }),
      );
    expect(Buffer.compare(before, w.m.phys.bytes)).toBe(0);
    expect(w.m.securityEvents().map((e) => e.kind)).toEqual(new Array(4).fill('wr-target-refused'));
    expect(w.m.stats().events.ipiSent).toBe(0);
  });
});
