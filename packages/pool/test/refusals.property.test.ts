/**
 * A refused call leaves the machine exactly as it was: random sequences of refused pool
 * and wr-ops calls (bad arguments, bad targets, bad values, refused states, list
 * corruption), each compared before and after on physical memory, frame metadata, free
 * frames, m.stats(), every CPU's TLB and the pools' own state. Only the refusals that are
 * security events may add one (exactly one).
 */
import type { Machine } from '@prmem/core';
import {
  prListAdd,
  prListDel,
  prListInit,
  wrAssign,
  wrBatch,
  wrBool,
  wrCmpxchg,
  wrInc,
  wrMemcpy,
  wrMemset,
  wrPtr,
} from '@prmem/wr-ops';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../src/index.js';
import { DEFAULTS, expectUnchanged, machineFor, machineState } from './support/combos.js';

interface World {
  readonly m: Machine;
  readonly live: readonly Pool[];
  readonly wr: Pool;
  readonly final: Pool;
  readonly dead: Pool;
  /** A write-rare word of `wr`. */
  readonly word: number;
  /** Targets write-rare must refuse. */
  readonly badTargets: readonly number[];
  readonly head: number;
  readonly onList: number;
  readonly deleted: number;
}

async function world(combo: (typeof DEFAULTS)[number]): Promise<World> {
  const m = await machineFor(combo, { memoryMiB: 8 });
  const rodata = m.defineStatic('.rodata', 64, 'k');
  const roai = m.defineStatic('.data..ro_after_init', 64, 'roai');
  const data = m.defineStatic('.data', 64, 'plain');
  m.finishBoot();
  const wr = createPool(m, { mode: 'wr', name: 'wr' });
  const word = wr.alloc(64);
  const head = wr.alloc(16);
  const onList = wr.alloc(16);
  const deleted = wr.alloc(16);
  wr.protect();
  prListInit(m.cpu(0), head);
  prListAdd(m.cpu(0), deleted, head);
  prListDel(m.cpu(0), deleted);
  prListAdd(m.cpu(0), onList, head);
  const ro = createPool(m, { mode: 'ro', name: 'ro' });
  const roObj = ro.alloc(64);
  ro.protect();
  const final = createPool(m, { mode: 'wr', name: 'final', limit: 'ro' });
  final.alloc(8);
  final.protect();
  final.makeReadOnly();
  const dead = createPool(m, { mode: 'wr', name: 'dead' });
  const stale = dead.alloc(8);
  dead.destroy();
  const alias = m.directMapVa(m.translate(word));
  for (let c = 0; c < m.cpuCount; c++) m.cpu(c).read64(word); // warm TLBs
  return {
    m,
    live: [wr, ro, final, dead],
    wr,
    final,
    dead,
    word,
    badTargets: [rodata, roai, data, roObj, wr.fixedVa, stale, alias, 0, 2 ** 47 + 4096],
    head,
    onList,
    deleted,
  };
}

/** A refused call and what it must report. */
interface Refusal {
  readonly what: string;
  readonly run: () => unknown;
  readonly code: string;
  /** Security events it records: 1 for refused targets and detected corruption. */
  readonly events: 0 | 1;
}

const notSize = (max: number) =>
  fc.oneof(
    fc.integer({ max: 0 }),
    fc.integer({ min: max + 1 }),
    fc.double().filter((d) => !Number.isInteger(d)),
    fc.string(),
    fc.constantFrom(null, undefined, true, 8n, [8], {}),
  );

const notBoolean = fc.anything().filter((v) => typeof v !== 'boolean' && v !== 0 && v !== 1);

function refusals(w: World): fc.Arbitrary<Refusal> {
  const { m, wr, final, dead } = w;
  const cpu = fc.integer({ min: 0, max: m.cpuCount - 1 }).map((i) => m.cpu(i));
  const bad = fc.constantFrom(...w.badTargets);
  const pool: fc.Arbitrary<Refusal>[] = [
    notSize(m.phys.size).map((s) => ({
      what: `alloc(${String(s)})`,
      run: () => wr.alloc(s as number),
      code: 'EPOOLARG',
      events: 0,
    })),
    notSize(m.phys.size).map((s) => ({
      what: `calloc(${String(s)}, 8)`,
      run: () => wr.calloc(s as number, 8),
      // A positive count whose product is too large overflows rather than being malformed.
      code: Number.isInteger(s) && (s as number) > 0 ? 'EOVERFLOW' : 'EPOOLARG',
      events: 0,
    })),
    fc
      .anything()
      .filter((s) => typeof s !== 'string')
      .map((s) => ({
        what: 'strdup',
        run: () => wr.strdup(s as string),
        code: 'EPOOLARG',
        events: 0,
      })),
    fc
      .oneof(
        fc.constantFrom(null, 0, 'reclaim', true, [] as unknown),
        notBoolean.filter((v) => v !== undefined).map((reclaim) => ({ reclaim })),
        fc.dictionary(
          fc.string().filter((k) => k !== 'reclaim'),
          fc.anything(),
          { minKeys: 1 },
        ),
      )
      .map((o) => ({
        what: `destroy(${JSON.stringify(o)})`,
        run: () => wr.destroy(o as never),
        code: 'EPOOLARG',
        events: 0,
      })),
    fc
      .oneof(
        fc.constantFrom(null, undefined, 'wr', 7 as unknown),
        fc
          .tuple(
            fc
              .string()
              .filter(
                (k) =>
                  !['mode', 'refill', 'align', 'name', 'limit', 'cpu', 'reclaimable'].includes(k),
              ),
            fc.anything(),
          )
          .map(([k, v]) => ({ mode: 'wr', [k]: v })),
        fc.anything().map((mode) => ({ mode: `${String(mode)}?` })),
      )
      .map((o) => ({
        what: 'createPool',
        run: () => createPool(m, o as never),
        code: 'EPOOLARG',
        events: 0,
      })),
    fc.constantFrom<Refusal>(
      { what: 'wr.makeReadOnly', run: () => wr.makeReadOnly(), code: 'EPOOLMODE', events: 0 },
      { what: 'final.protect', run: () => final.protect(), code: 'EPOOLDOWNGRADE', events: 0 },
      { what: 'dead.alloc', run: () => dead.alloc(8), code: 'EPOOLDESTROYED', events: 0 },
      { what: 'dead.destroy', run: () => dead.destroy(), code: 'EPOOLDESTROYED', events: 0 },
      { what: 'dead.protect', run: () => dead.protect(), code: 'EPOOLDESTROYED', events: 0 },
    ),
  ];
  const ops: fc.Arbitrary<Refusal>[] = [
    fc
      .tuple(
        cpu,
        bad,
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom(1, 2, 4, 8) as fc.Arbitrary<1 | 2 | 4 | 8>,
      )
      .map(([c, va, v, n]) => ({
        what: `wrAssign(${va.toString(16)})`,
        run: () => wrAssign(c, va, v, n),
        code: 'EWRVIOLATION',
        events: 1,
      })),
    fc
      .tuple(cpu, bad, fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 64 })))
      .map(([c, va, len]) => ({
        what: `wrMemset(${va.toString(16)}, ${len})`,
        run: () => wrMemset(c, va, 0xee, len),
        code: 'EWRVIOLATION',
        events: 1,
      })),
    fc
      .tuple(cpu, bad, fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 32 })))
      .map(([c, va, src]) => ({
        what: `wrMemcpy(${va.toString(16)}, ${src.length})`,
        run: () => wrMemcpy(c, va, src),
        code: 'EWRVIOLATION',
        events: 1,
      })),
    fc.tuple(cpu, fc.integer({ min: 1, max: 7 })).map(([c, off]) => ({
      what: `wrInc(word + ${off})`,
      run: () => wrInc(c, w.word + off),
      code: 'EWRVIOLATION',
      events: 1,
    })),
    fc.tuple(cpu, bad).map(([c, va]) => ({
      what: 'wrBatch with one bad target',
      run: () =>
        wrBatch(c, (b) => {
          b.assign(w.word, 0x77, 8);
          b.memset(va, 0, 0);
        }),
      code: 'EWRVIOLATION',
      events: 1,
    })),
    fc.tuple(cpu, notBoolean).map(([c, v]) => ({
      what: `wrBool(${String(v)})`,
      run: () => wrBool(c, w.word, v as boolean),
      code: 'EINVAL',
      events: 0,
    })),
    fc
      .tuple(
        cpu,
        fc.oneof(
          fc.bigInt({ min: 1n << 64n }),
          fc.double().filter((d) => !Number.isInteger(d)),
          fc.string(),
        ),
      )
      .map(([c, v]) => ({
        what: `wrAssign(word, ${String(v)})`,
        run: () => wrAssign(c, w.word, v as number, 8),
        code: 'EINVAL',
        events: 0,
      })),
    fc.tuple(cpu, fc.constantFrom(-1, 2 ** 48, 0.5, 2 ** 60)).map(([c, p]) => ({
      what: `wrPtr(word, ${p})`,
      run: () => wrPtr(c, w.word, p),
      code: 'EBADADDR',
      events: 0,
    })),
    fc.tuple(cpu, bad).map(([c, va]) => ({
      what: 'wrCmpxchg on a bad target',
      run: () => wrCmpxchg(c, va - (va % 8), 0, 1),
      code: 'EWRVIOLATION',
      events: 1,
    })),
    cpu.map((c) => ({
      what: 'prListAdd twice',
      run: () => prListAdd(c, w.onList, w.head),
      code: 'ELISTCORRUPT',
      events: 1,
    })),
    cpu.map((c) => ({
      what: 'prListDel twice',
      run: () => prListDel(c, w.deleted),
      code: 'ELISTCORRUPT',
      events: 1,
    })),
    fc.constantFrom(null, undefined, {}, 0).map((c) => ({
      what: `wrAssign on cpu ${String(c)}`,
      run: () => wrAssign(c as never, w.word, 1, 8),
      code: 'EINVAL',
      events: 0,
    })),
  ];
  return fc.oneof(...pool, ...ops);
}

describe.each(DEFAULTS)('refusals change nothing on $label', (combo) => {
  it('random sequences of refused pool and wr-ops calls leave the machine as it was', async () => {
    const w = await world(combo);
    fc.assert(
      fc.property(fc.array(refusals(w), { minLength: 1, maxLength: 4 }), (calls) => {
        for (const r of calls) {
          const before = machineState(w.m, w.live);
          let error: unknown;
          try {
            r.run();
          } catch (e) {
            error = e;
          }
          expect(error, r.what).toBeInstanceOf(Error);
          expect(error, r.what).toMatchObject({ code: r.code });
          expectUnchanged(before, machineState(w.m, w.live), r.events);
        }
      }),
      { numRuns: 50, seed: 15 },
    );
    // Still sound: the refused calls left everything usable.
    wrAssign(w.m.cpu(0), w.word, 5, 8);
    expect(w.m.cpu(1).read64(w.word)).toBe(5n);
    expect(w.m.auditProtections()).toEqual([]);
  });
});
