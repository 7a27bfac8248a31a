/**
 * Every exported pool function refuses bad arguments before it changes anything — not
 * even a TLB entry or a counter: the whole machine (memory, frames, m.stats(), every
 * CPU's TLB) is compared before and after.
 */
import { type Machine, PAGE_SIZE } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { wrAssign } from '@prmem/wr-ops';
import {
  createPool,
  DESC_OFFSETS,
  FIXED_OFFSETS,
  findPool,
  MODE_BITS,
  MODES,
  Pool,
  PoolError,
  poolTable,
  pools,
} from '../src/index.js';
import { DEFAULTS, expectUnchanged, machineFor, machineState, throws } from './support/combos.js';

/** A machine with a protected pool whose metadata and data are in every TLB. */
async function warmed(combo: (typeof DEFAULTS)[number]) {
  const m = await machineFor(combo);
  const p = createPool(m, { mode: 'wr', name: 'args' });
  const va = p.alloc(64);
  p.protect();
  for (let c = 0; c < m.cpuCount; c++) {
    m.cpu(c).read64(va);
    m.cpu(c).read32(p.slotVa);
    m.cpu(c).read32(p.fixedVa);
  }
  return { m, p, va };
}

function refused(m: Machine, live: readonly Pool[], f: () => unknown, code: string): PoolError {
  const before = machineState(m, live);
  const e = throws(f);
  expect(e).toBeInstanceOf(PoolError);
  expect(e).toMatchObject({ code });
  expectUnchanged(before, machineState(m, live));
  return e as PoolError;
}

describe.each(DEFAULTS)('pool arguments on $label', (combo) => {
  it('destroy() with bad options refuses before the destroyed flag is set (no zombie)', async () => {
    const { m, p } = await warmed(combo);
    for (const bad of [null, 5, 'reclaim', [], { reclaim: 'yes' }, { reclaim: 1 }, { bogus: true }])
      refused(m, [p], () => p.destroy(bad as never), 'EPOOLARG');
    expect(p.destroyed).toBe(false);
    expect(p.level).toBe('wr');
    p.destroy({ reclaim: false });
    expect(p.destroyed).toBe(true);
    refused(m, [p], () => p.destroy(), 'EPOOLDESTROYED');
  });

  it('bad sizes, strings and counts touch neither the TLB nor the counters', async () => {
    const { m, p } = await warmed(combo);
    const bad: [() => unknown, string][] = [
      [() => p.alloc(-1), 'EPOOLARG'],
      [() => p.alloc(0), 'EPOOLARG'],
      [() => p.alloc(Number.NaN), 'EPOOLARG'],
      [() => p.alloc('8' as never), 'EPOOLARG'],
      [() => p.alloc(8n as never), 'EPOOLARG'],
      [() => p.zalloc(-8), 'EPOOLARG'],
      [() => p.calloc(1, '8' as never), 'EPOOLARG'],
      [() => p.calloc(0, 8), 'EPOOLARG'],
      [() => p.calloc(2 ** 30, 2 ** 30), 'EOVERFLOW'],
      [() => p.strdup(5 as never), 'EPOOLARG'],
      [() => p.strdup('x'.repeat(20 * 1024 * 1024)), 'EPOOLARG'],
    ];
    for (const [f, code] of bad) refused(m, [p], f, code);
  });

  it('refusals of the pool state change nothing either', async () => {
    const { m, p } = await warmed(combo);
    refused(m, [p], () => p.makeReadOnly(), 'EPOOLMODE');
    const f = createPool(m, { mode: 'wr', name: 'final', limit: 'ro' });
    f.alloc(8);
    f.protect();
    f.makeReadOnly();
    refused(m, [p, f], () => f.protect(), 'EPOOLDOWNGRADE');
    f.destroy();
    for (const g of [() => f.alloc(8), () => f.protect(), () => f.makeReadOnly()])
      refused(m, [p, f], g, 'EPOOLDESTROYED');
  });

  it('createPool refuses non-objects, unknown keys and bad values, naming what was wrong', async () => {
    const { m, p } = await warmed(combo);
    const cases: [unknown, unknown][] = [
      [null, null],
      [undefined, undefined],
      ['wr', 'wr'],
      [[{ mode: 'wr' }], undefined],
      [{ mode: 'wr', sizee: 8 }, 'sizee'],
      [{ mode: 'wr', reserved: [0, 1] }, 'reserved'],
      [{ mode: 'wr', [Symbol('x')]: 1 }, undefined],
      [{ mode: 'rw' }, 'rw'],
      [{ mode: 'wr', name: '' }, ''],
      [{ mode: 'wr', name: 'a\u0000b' }, 'a\u0000b'],
      [{ mode: 'wr', name: 5 }, 5],
      [{ mode: 'wr', refill: '4096' }, '4096'],
      [{ mode: 'wr', align: 3 }, 3],
      [{ mode: 'wr', limit: 'rw' }, 'rw'],
      [{ mode: 'ro', limit: 'wr' }, 'wr'],
      [{ mode: 'wr', cpu: 99 }, 99],
      [{ mode: 'wr', cpu: '0' }, '0'],
      [{ mode: 'wr', reclaimable: 'yes' }, 'yes'],
    ];
    for (const [opts, value] of cases) {
      const e = refused(m, [p], () => createPool(m, opts as never), 'EPOOLARG');
      if (value !== undefined) expect(e.value).toBe(value);
    }
    expect(pools(m)).toEqual([p]);
    for (const notMachine of [null, {}, p])
      refused(m, [p], () => createPool(notMachine as never, { mode: 'wr' }), 'EPOOLARG');
  });

  it('the first createPool refused (bad options, or memory) leaves no pool table behind', async () => {
    const m = await machineFor(combo, { memoryMiB: 8 });
    refused(m, [], () => createPool(m, { mode: 'wr', bogus: 1 } as never), 'EPOOLARG');
    expect(poolTable(m)).toBeUndefined();
    // Leave too few frames for the table and a descriptor page.
    m.vmalloc((m.phys.freeFrames - 24) * PAGE_SIZE);
    const before = machineState(m);
    expect(throws(() => createPool(m, { mode: 'wr' }))).toMatchObject({ code: 'ENOMEM' });
    expectUnchanged(before, machineState(m));
    expect(poolTable(m)).toBeUndefined();
  });

  it('findPool, pools and poolTable check the machine; Pool cannot be constructed directly', async () => {
    const { m, p, va } = await warmed(combo);
    for (const f of [
      () => findPool(null as never, va),
      () => pools({} as never),
      () => poolTable(undefined as never),
    ])
      refused(m, [p], f, 'EPOOLARG');
    for (const v of [Number.NaN, -1, '1', 2 ** 60]) expect(findPool(m, v as never)).toBeUndefined();
    const Ctor = Pool as unknown as new (...a: unknown[]) => Pool;
    refused(
      m,
      [p],
      () => new Ctor(Symbol('fake'), m, {}, 0, {}, { name: 'x' }, m.cpu(0), {}),
      'EPOOLARG',
    );
  });
});

describe.each(DEFAULTS)('no half-done protection or destroy on $label', (combo) => {
  it('makeReadOnly and destroy refuse up front while a write-rare window writes the pool', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'wr', name: 'busy', limit: 'ro' });
    const a = p.alloc(8);
    p.alloc(2 * PAGE_SIZE); // a second area
    p.protect();
    // A window on CPU 1 writing the second area (pinned as an open window pins it): core
    // would refuse that area only after the first one was made read-only.
    const pfn = p.areas[1].pfns[0];
    m.pinFrame(m.cpu(1), pfn, p.areas[1].id);
    refused(m, [p], () => p.makeReadOnly(), 'EBUSY');
    refused(m, [p], () => p.destroy(), 'EBUSY');
    expectAreasAt(m, p, 'wr');
    m.unpinFrame(pfn);
    wrAssign(m.cpu(1), a, 7, 8);
    p.makeReadOnly();
    expectAreasAt(m, p, 'ro');
    expect(m.cpu(0).read64(a)).toBe(7n);
  });

  it('exported tables are frozen; hasArea answers only for areas of this pool', async () => {
    const m = await machineFor(combo);
    const p = createPool(m, { mode: 'wr', name: 'frozen' });
    p.alloc(8);
    for (const t of [MODE_BITS, MODES, DESC_OFFSETS, FIXED_OFFSETS])
      expect(Object.isFrozen(t)).toBe(true);
    expect(() => {
      (MODE_BITS as Record<string, number>).wr = 0;
    }).toThrow(TypeError);
    expect(p.hasArea(p.areas[0])).toBe(true);
    expect(p.hasArea(p.descriptorArea)).toBe(false);
    for (const v of [null, undefined, {}, { id: p.areas[0].id }])
      expect(p.hasArea(v as never)).toBe(false);
  });
});

function expectAreasAt(m: Machine, p: Pool, level: string): void {
  for (const a of p.areas) expect(m.protectionOf(a.start)).toBe(level);
}
