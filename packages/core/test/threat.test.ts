import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AreaOwner,
  CpuMutex,
  drain,
  InvalidArgumentError,
  type Machine,
  PAGE_SIZE,
  PG,
  PrmemError,
  type Program,
  runSchedule,
  type Steps,
  WAIT_STEP,
} from '../src/index.js';
import { toyMachine } from './helpers.js';

/** Everything a refused call must leave exactly as it was (security events aside). */
function state(m: Machine) {
  const cpus = Array.from({ length: m.cpuCount }, (_, i) => m.cpu(i));
  return {
    bytes: createHash('sha1').update(m.phys.bytes).digest('hex'),
    flags: Array.from(m.phys.frameFlags),
    free: m.phys.freeFrames,
    areas: m.liveAreas.map((a) => [a.id, a.start, a.size, a.level, a.flags, a.freed]),
    stats: JSON.stringify(m.stats()),
    tlbs: cpus.map((c) => JSON.stringify(c.tlb.entries())),
    regs: cpus.map((c) => [c.mm.id, c.asid, c.irqsDisabled, c.preemptCount, m.windowOpen(c)]),
  };
}

/** A booted toy machine with an owned write-rare area (ceiling 'wr') and a plain one. */
async function world() {
  const m = await toyMachine({ cpus: 2 });
  m.finishBoot();
  const owner = m.registerOwner('pool test');
  const wr = m.vmalloc(2 * PAGE_SIZE, { range: 'wr', owner, ceiling: 'wr', name: 'wr-area' });
  m.protect(wr.start, wr.size, 'wr', 0, owner);
  const plain = m.vmalloc(PAGE_SIZE, { name: 'plain' });
  m.resetStats();
  return { m, owner, wr, plain };
}

const kinds = (m: Machine) => m.securityEvents().map((e) => e.kind);

describe('ownership and ceilings live in core, for every caller', () => {
  it("protect past an area's ceiling is refused and recorded, through the area and through the direct map", async () => {
    const { m, owner, wr } = await world();
    const before = state(m);
    const dm = m.directMapVa(m.translate(wr.start));
    for (const [start, len] of [
      [wr.start, wr.size],
      [dm, PAGE_SIZE],
    ] as const) {
      expect(() => m.protect(start, len, 'ro', 0, owner)).toThrow(
        expect.objectContaining({ code: 'ECEILING' }),
      );
    }
    expect(state(m)).toEqual(before);
    expect(kinds(m)).toEqual(['ceiling-refused', 'ceiling-refused']);
    // .data..wr_after_init has the same ceiling: it stays write-rare for good.
    const sec = m.section('.data..wr_after_init');
    expect(() => m.protect(sec.start, PAGE_SIZE, 'ro')).toThrow(
      expect.objectContaining({ code: 'ECEILING' }),
    );
  });

  it('an owned area is protected only whole, only with its owner handle', async () => {
    const m = await toyMachine({ cpus: 2 });
    const owner = m.registerOwner('a');
    const area = m.vmalloc(2 * PAGE_SIZE, { range: 'wr', owner });
    const before = state(m);
    const other = m.registerOwner('b');
    expect(() => m.protect(area.start, area.size, 'wr')).toThrow(
      expect.objectContaining({ code: 'EPERM' }),
    );
    expect(() => m.protect(area.start, area.size, 'wr', 0, other)).toThrow(
      expect.objectContaining({ code: 'EPERM' }),
    );
    expect(() => m.protect(area.start, PAGE_SIZE, 'wr', 0, owner)).toThrow(InvalidArgumentError);
    expect(state(m)).toEqual(before);
    expect(kinds(m)).toEqual(['owner-refused', 'owner-refused']);
    m.protect(area.start, area.size, 'wr', 0, owner);
    expect(area.level).toBe('wr');
  });

  it('vfree of an owned area needs its owner; bad options change nothing', async () => {
    const { m, owner, wr } = await world();
    const before = state(m);
    const cases: [() => void, string][] = [
      [() => m.vfree(wr), 'EPERM'],
      [() => m.vfree(wr, { owner: m.registerOwner('x') }), 'EPERM'],
      [() => m.vfree(wr, null as never), 'EINVAL'],
      [() => m.vfree(wr, 7 as never), 'EINVAL'],
      [() => m.vfree(wr, { quarantine: 'yes' } as never), 'EINVAL'],
      [() => m.vfree(wr, { owner, frob: 1 } as never), 'EINVAL'],
      [() => m.vfree(wr, { owner }, 99), 'EINVAL'],
      [() => m.vfree({ ...wr } as never, { owner }), 'EINVAL'],
    ];
    for (const [fn, code] of cases) expect(fn).toThrow(expect.objectContaining({ code }));
    // registerOwner allocates nothing the state compares.
    expect(state(m)).toEqual(before);
    m.vfree(wr, { owner });
    expect(wr.freed).toBe(true);
  });

  it('vmalloc refuses forged owners, bad ceilings, machine-only flags and unknown options', async () => {
    const m = await toyMachine();
    const o = m.registerOwner('real');
    const forged = Object.assign(Object.create(AreaOwner.prototype) as AreaOwner, {
      id: o.id,
      name: 'real',
    });
    const before = state(m);
    const other = await toyMachine();
    for (const opts of [
      { owner: { id: o.id, name: 'real' } },
      { owner: forged },
      { owner: other.registerOwner('elsewhere') },
      { ceiling: 'rw' },
      { reclaimable: 1 },
      { flags: 1 << 4 },
      { flags: 1 << 1 },
      { name: 5 },
      { rang: 'wr' },
    ])
      expect(() => m.vmalloc(PAGE_SIZE, opts as never)).toThrow(InvalidArgumentError);
    expect(state(m)).toEqual(before);
  });

  it('a protected non-reclaimable area is unmapped at vfree but its frames stay protected for good', async () => {
    const m = await toyMachine();
    const owner = m.registerOwner('permanent');
    const a = m.vmalloc(PAGE_SIZE, { owner, reclaimable: false });
    m.protect(a.start, a.size, 'ro', 0, owner);
    const pfn = a.pfns[0];
    m.cpu(0).read32(a.start);
    m.vfree(a, { owner });
    expect(m.translate(a.start)).toBe(-1);
    // Only emptied page-table pages go back; the frame itself never does.
    expect(m.phys.frameFlags[pfn] & PG.ALLOCATED).toBe(PG.ALLOCATED);
    expect(m.phys.frameFlags[pfn] & PG.PAGETABLE).toBe(0);
    expect(m.phys.frameFlags[pfn] & PG.PROT_RO).toBe(PG.PROT_RO);
    expect(m.phys.frameFlags[pfn] & PG.QUARANTINED).toBe(PG.QUARANTINED);
    expect(m.auditProtections()).toEqual([]);
  });
});

describe('open windows pin their frames', () => {
  it('a pinned frame cannot be freed nor made read-only; a frame that changed refuses the pin', async () => {
    const { m, owner, wr } = await world();
    const cpu = m.cpu(0);
    const pfn = wr.pfns[0];
    m.pinFrame(cpu, pfn, wr.id);
    const before = state(m);
    expect(() => m.vfree(wr, { owner })).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    expect(state(m)).toEqual(before);
    m.unpinFrame(pfn);
    // Built for this area, but the frame was released and reused since: ESTALE.
    m.vfree(wr, { owner });
    expect(() => m.pinFrame(cpu, pfn, wr.id)).toThrow(expect.objectContaining({ code: 'ESTALE' }));
    expect(m.framePins(pfn)).toBe(0);
    expect(kinds(m)).toEqual(['busy-refused', 'stale-window']);
  });
});

describe('no synchronous driver waits forever', () => {
  it('drain meets a wait step: EDEADLK, and the generator was unwound', async () => {
    const m = await toyMachine();
    const lock = new CpuMutex('test lock');
    lock.tryLock(m.cpu(1));
    let unwound = false;
    function* session(): Steps {
      try {
        while (!lock.tryLock(m.cpu(0))) yield lock.waitLabel;
        yield 'inside';
      } finally {
        unwound = true;
      }
    }
    expect(lock.waitLabel.startsWith(WAIT_STEP)).toBe(true);
    expect(() => drain(session())).toThrow(expect.objectContaining({ code: 'EDEADLK' }));
    expect(unwound).toBe(true);
    lock.unlock(m.cpu(1));
    drain(session());
    expect(lock.owner).toBe(0);
    expect(() => lock.tryLock(m.cpu(0))).toThrow(expect.objectContaining({ code: 'EWRNESTED' }));
  });

  it('runSchedule unwinds every unfinished program, however it stops', () => {
    for (const stop of ['violation', 'bound'] as const) {
      const unwound: string[] = [];
      const prog = (name: string): Program => ({
        name,
        steps: (function* () {
          try {
            for (let i = 0; ; i++) yield `${name} ${i}`;
          } finally {
            unwound.push(name);
          }
        })(),
      });
      let n = 0;
      const r = runSchedule(
        [prog('a'), prog('b')],
        (run) => n++ % run.length,
        stop === 'violation' ? () => (n > 5 ? 'stop' : undefined) : undefined,
        stop === 'bound' ? 10 : 100,
      );
      expect(r.violation !== undefined).toBe(stop === 'violation');
      expect(unwound.sort()).toEqual(['a', 'b']);
    }
  });
});

describe('CPU-level checks before any change', () => {
  it('write64parts refuses a bad half before storing either', async () => {
    const m = await toyMachine();
    const a = m.vmalloc(PAGE_SIZE);
    const cpu = m.cpu(0);
    cpu.write64parts(a.start, 0x11111111, 0x22222222);
    for (const [lo, hi] of [
      [1, 2 ** 32],
      [1, -1],
      [2 ** 32, 1],
      [1, Number.NaN],
      [0.5, 1],
    ]) {
      for (const va of [a.start, a.start + 4]) {
        const before = state(m);
        expect(() => cpu.write64parts(va, lo, hi)).toThrow(InvalidArgumentError);
        expect(state(m)).toEqual(before);
      }
    }
  });

  it('local_irq_save/restore keep the state a caller had', async () => {
    const m = await toyMachine();
    const cpu = m.cpu(0);
    for (const off of [false, true]) {
      cpu.irqsDisabled = off;
      const was = cpu.localIrqSave();
      expect(cpu.irqsDisabled).toBe(true);
      cpu.localIrqRestore(was);
      expect(cpu.irqsDisabled).toBe(off);
    }
  });

  it('switchMm refuses an alias mm and an mm of another machine, recorded', async () => {
    const m = await toyMachine();
    const wr = m.createMm('wr', 'wr_mm');
    const other = await toyMachine();
    const before = state(m);
    expect(() => m.switchMm(m.cpu(0), wr)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    expect(() => m.switchMm(m.cpu(0), other.kernelMm)).toThrow(InvalidArgumentError);
    expect(state(m)).toEqual(before);
    expect(kinds(m)).toEqual(['switch-refused']);
  });
});

describe('property: a refused core call leaves the machine exactly as it was', () => {
  it('random protect / vfree / vmalloc calls with random arguments', async () => {
    const junk = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.integer({ min: -2, max: 2 ** 49 }),
      fc.double(),
      fc.string({ maxLength: 3 }),
      fc.constantFrom('rw', 'wr', 'ro', 'vmalloc'),
      fc.object({ maxDepth: 1 }),
    );
    const call = fc.record({
      fn: fc.constantFrom('protect', 'vfree', 'vmalloc'),
      area: fc.constantFrom('wr', 'plain', 'junk'),
      off: fc.constantFrom(0, PAGE_SIZE, 1, -PAGE_SIZE),
      len: fc.oneof(fc.constantFrom(PAGE_SIZE, 2 * PAGE_SIZE, 0), junk),
      level: fc.oneof(fc.constantFrom('wr', 'ro', 'rw'), junk),
      owner: fc.constantFrom('owner', 'none', 'other', 'junk'),
      opts: junk,
      cpu: fc.oneof(fc.constantFrom(0, 1), junk),
    });
    await fc.assert(
      fc.asyncProperty(call, async (c) => {
        const { m, owner, wr, plain } = await world();
        const other = m.registerOwner('other');
        const area = c.area === 'wr' ? wr : c.area === 'plain' ? plain : (c.opts as never);
        const who = { owner, none: undefined, other, junk: c.opts }[c.owner];
        const before = state(m);
        try {
          if (c.fn === 'protect')
            m.protect(
              (area?.start ?? 0) + c.off,
              c.len as number,
              c.level as 'wr',
              c.cpu as number,
              who as AreaOwner,
            );
          else if (c.fn === 'vfree')
            m.vfree(area, (c.owner === 'junk' ? c.opts : { owner: who }) as never, c.cpu as number);
          else m.vmalloc(c.len as number, { owner: who as AreaOwner });
        } catch (e) {
          expect(e).toBeInstanceOf(PrmemError);
          expect(typeof (e as PrmemError).code).toBe('string');
          expect(state(m)).toEqual(before);
          return;
        }
        // Accepted calls are the legitimate ones: the owner's own protect/vfree, or a
        // plain area's (nobody's).
        if (c.fn !== 'vmalloc') expect(c.owner === 'owner' || area === plain).toBe(true);
      }),
      { numRuns: 100 },
    );
  });
});
