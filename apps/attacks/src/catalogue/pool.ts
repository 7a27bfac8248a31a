import { DESC_OFFSETS, FIXED_OFFSETS, createPool, findPool } from '@prmem/pool';
import { wrAssign } from '@prmem/wr-ops';
import { defineAttack, expect } from './define.js';
import type { PrmemError } from '@prmem/core';
import { attempt, EVIL, GOOD, hex, observeWrites, protectedPool, sameBytes } from './support.js';
import type { Attack, Observation } from './types.js';

/** Summarizes a downgrade attempt: `landed` when the level moved or the write it enables worked. */
function downgradeObservation(
  what: string,
  a: ReturnType<typeof attempt>,
  levelBefore: string,
  levelAfter: string,
  extra: ReturnType<typeof attempt> | undefined,
  extraWhat: string,
  extraLands: (x: ReturnType<typeof attempt>) => boolean,
): Observation {
  const moved = levelBefore !== levelAfter;
  const enabled = extra ? extraLands(extra) : false;
  return {
    landed: !a.threw || moved || enabled,
    ...(a.refusal ? { refusal: a.refusal } : {}),
    events: [...a.events, ...(extra?.events ?? [])],
    detail: `${what}: ${a.threw ? a.refusal : 'accepted'}; level ${levelBefore} -> ${levelAfter}${extra ? `; ${extraWhat}: ${extra.threw ? extra.refusal : 'went through'}` : ''}`,
  };
}

/** A pool or protection request refused with a typed error (nothing changed). */
const typedRefusal = (e: PrmemError): boolean =>
  ['PoolError', 'StateError', 'InvalidArgumentError'].includes(e.name);

export const POOL: readonly Attack[] = [
  defineAttack({
    id: 'pool-downgrade-ro-to-wr',
    title: 'downgrade a protected ro pool to write-rare',
    category: 'pool',
    description:
      "ask the machine to move a protected ro pool's area to 'wr' (so write-rare could then change it); then try wrAssign",
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const { pool, obj } = protectedPool(m, 'ro', 'dg-ro');
      const area = pool.areas[0];
      const before = `${pool.level}/${m.protectionOf(obj)}`;
      const a = attempt(m, () => m.protect(area.start, area.size, 'wr'), typedRefusal);
      const after = `${pool.level}/${m.protectionOf(obj)}`;
      const data = m.peek(obj, 8);
      const wr = attempt(m, () => wrAssign(m.cpu(0), obj, EVIL, 8));
      const obs = downgradeObservation(
        'protect(area, wr)',
        a,
        before,
        after,
        wr,
        'wrAssign',
        (x) => !x.threw,
      );
      // The follow-up wrAssign is refused and recorded: that is the pool's protection, not
      // the downgrade's; the downgrade itself records nothing.
      return {
        ...obs,
        landed: obs.landed || !sameBytes(data, m.peek(obj, 8)),
        events: a.events,
      };
    },
  }),
  defineAttack({
    id: 'pool-downgrade-wr-to-writable',
    title: 'downgrade a protected wr pool to writable',
    category: 'pool',
    description:
      "ask the machine to move a protected wr pool's area back to 'rw'; then try a plain write",
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const { pool, obj } = protectedPool(m, 'wr', 'dg-wr');
      const area = pool.areas[0];
      const before = `${pool.level}/${m.protectionOf(obj)}`;
      const a = attempt(m, () => m.protect(area.start, area.size, 'rw'), typedRefusal);
      const after = `${pool.level}/${m.protectionOf(obj)}`;
      const plain = attempt(m, () => m.cpu(0).write64(obj, EVIL));
      return downgradeObservation(
        'protect(area, rw)',
        a,
        before,
        after,
        plain,
        'plain write',
        (x) => !x.threw,
      );
    },
  }),
  defineAttack({
    id: 'pool-wr-to-ro',
    title: 'make a wr pool read-only (deny its future updates)',
    category: 'pool',
    description:
      'makeReadOnly() on a wr pool created with the default limit: refused, so no one can block its updates; wrAssign still works afterwards',
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const { pool, obj } = protectedPool(m, 'wr', 'dg-wr-ro');
      const before = `${pool.level}/${m.protectionOf(obj)}`;
      const a = attempt(m, () => pool.makeReadOnly(), typedRefusal);
      const after = `${pool.level}/${m.protectionOf(obj)}`;
      const update = attempt(m, () => wrAssign(m.cpu(0), obj, 0x2222n, 8));
      return downgradeObservation(
        'makeReadOnly()',
        a,
        before,
        after,
        update,
        'wrAssign afterwards',
        (x) => x.threw,
      );
    },
  }),
  defineAttack({
    id: 'pool-metadata-tamper',
    title: 'tamper with pool metadata in the pool table',
    category: 'pool',
    description:
      "plain stores to a protected ro pool's metadata: its level (to writable) in the pool table, its limit in its read-only descriptor",
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const { pool } = protectedPool(m, 'ro', 'meta-victim');
      const desc = pool.slotVa;
      const fixed = pool.fixedVa;
      const cpu = m.cpu(0);
      const obs = observeWrites(
        m,
        [
          { va: desc, len: 64, what: 'pool table slot' },
          { va: fixed, len: 64, what: 'pool descriptor' },
        ],
        [
          [
            `level field ${hex(desc + DESC_OFFSETS.level)}`,
            () => cpu.write32(desc + DESC_OFFSETS.level, 0),
          ],
          [
            `limit field ${hex(fixed + FIXED_OFFSETS.limit)}`,
            () => cpu.write32(fixed + FIXED_OFFSETS.limit, 0),
          ],
        ],
      );
      return { ...obs, landed: obs.landed || pool.level !== 'ro' };
    },
  }),
  defineAttack({
    id: 'use-after-destroy',
    title: 'a stale pointer into a destroyed pool, after its virtual range is reused',
    category: 'pool',
    description:
      "pool A is destroyed (its memory released, its virtual range reused after the shootdown, as vfree does); pool B is created in the same range and is being built (writable, as a new policy DB before protect); the stale pointer into A reads and writes B's data: a real use-after-free on every mechanism",
    expect: expect(
      'unprotected',
      {},
      "the range is reused once no CPU translates it: a stale pointer reaches the next pool that gets it (vaQuarantine delays reuse; B's protection stops writes once B is protected: use-after-destroy-protected)",
    ),
    perform: ({ machine: m }) => {
      const a = createPool(m, { mode: 'wr', name: 'uaf-a', reclaimable: true });
      const stale = a.alloc(64);
      m.cpu(0).write64(stale, GOOD);
      a.protect();
      a.destroy();
      const b = createPool(m, { mode: 'wr', name: 'uaf-b' });
      const objs = Array.from({ length: 4 }, () => b.alloc(1024));
      for (const o of objs) m.cpu(0).write64(o, GOOD);
      const cpu = m.cpu(1);
      const covered = objs.map((o, i) => ({ va: o, len: 1024, what: `pool B object ${i}` }));
      const obs = observeWrites(m, covered, [
        [`write through stale ${hex(stale)}`, () => cpu.write64(stale, EVIL)],
      ]);
      const reached = findPool(m, stale) === b;
      return {
        ...obs,
        detail: `${obs.detail}${reached ? '; findPool resolves the stale pointer to pool B' : ''}`,
      };
    },
  }),
  defineAttack({
    id: 'use-after-destroy-protected',
    title: 'a stale pointer into a destroyed pool against the protected pool reusing its range',
    category: 'pool',
    description:
      "pool A is destroyed and its range reused by pool B, which is then protected; a plain store through the stale pointer into A must fault and leave B's data as it was",
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const a = createPool(m, { mode: 'wr', name: 'uafp-a', reclaimable: true });
      const stale = a.alloc(64);
      a.protect();
      a.destroy();
      const b = createPool(m, { mode: 'wr', name: 'uafp-b' });
      const objs = Array.from({ length: 4 }, () => b.alloc(1024));
      for (const o of objs) m.cpu(0).write64(o, GOOD);
      b.protect();
      const cpu = m.cpu(1);
      return observeWrites(
        m,
        objs.map((o, i) => ({ va: o, len: 1024, what: `pool B object ${i}` })),
        [[`write through stale ${hex(stale)}`, () => cpu.write64(stale, EVIL)]],
      );
    },
  }),
];
