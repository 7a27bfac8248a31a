/**
 * Regression tests for the threat-model fixes in wr-ops, on every backend and mechanism:
 * zero-length copies and fills validate their target; wrBool takes only booleans;
 * CONFIG_LIST_HARDENED's checks refuse a double add, a double delete and neighbours that
 * do not point back, before anything is written; every exported function checks its CPU,
 * callbacks and options first. Each refusal is compared on the whole machine (memory,
 * stats, every TLB, windows) before and after.
 */
import { drain, type Machine } from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkTarget,
  LIST_CORRUPT_EVENT,
  ListCorruptionError,
  prListAdd,
  prListAddRcu,
  prListAddTail,
  prListCheck,
  prListDel,
  prListDelInit,
  prListDelRcu,
  prListEntries,
  prListInit,
  prListMove,
  prListReplace,
  prListReplaceInit,
  prListReplaceRcu,
  prListSplice,
  prListSpliceInitRcuSteps,
  wrAssign,
  wrBatch,
  type WrBatchWriter,
  wrBool,
  wrMemcpy,
  wrMemcpyFrom,
  wrMemset,
  wrMemsetSteps,
  wrPtr,
  wrRmwSteps,
  WriteRareViolation,
} from '../src/index.js';
import { planBatch } from '../src/batch.js';
import { COMBOS, expectUnchanged, machineState, makeWorld, type World } from './support/combos.js';

function throws(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

/** `f` is refused with `code`, recording `events` security events and changing nothing else. */
function refused(m: Machine, f: () => unknown, code: string, events: 0 | 1): unknown {
  const before = machineState(m);
  const e = throws(f);
  expect(e).toMatchObject({ code });
  expectUnchanged(before, machineState(m), events);
  return e;
}

/** A list head and three nodes in the write-rare pool area (protected). */
function list(w: World) {
  const base = w.pool.start + 512;
  const [head, a, b, c] = [0, 1, 2, 3].map((i) => base + 32 * i);
  const cpu = w.m.cpu(0);
  prListInit(cpu, head);
  return { cpu, head, a, b, c };
}

function expectListCorrupt(m: Machine, f: () => unknown, entry?: number): void {
  const e = refused(m, f, 'ELISTCORRUPT', 1);
  expect(e).toBeInstanceOf(ListCorruptionError);
  expect(m.securityEvents().at(-1)).toMatchObject({
    kind: LIST_CORRUPT_EVENT,
    ...(entry === undefined ? {} : { address: entry }),
  });
}

describe.each(COMBOS)('hardening on $label', (combo) => {
  it('zero-length copies and fills validate their target, then do nothing', async () => {
    const w = await makeWorld(combo);
    const cpu = w.m.cpu(1);
    const empty = new Uint8Array(0);
    for (const [va, reason] of [
      [w.rodata, 'read-only'],
      [w.roPool.start, 'read-only'],
      [w.roAfterInit, 'read-only'],
      [w.data, 'not-write-rare'],
      [w.pool.end + 8, 'unmapped'],
    ] as const) {
      for (const f of [
        () => wrMemset(cpu, va, 0, 0),
        () => wrMemcpy(cpu, va, empty),
        () => wrMemcpyFrom(cpu, va, w.data, 0),
        () => drain(wrMemsetSteps(cpu, va, 0, 0)),
        () => wrBatch(cpu, (b) => b.memset(va, 0, 0)),
        () => wrBatch(cpu, (b) => b.memcpy(va, empty)),
      ]) {
        const e = refused(w.m, f, 'EWRVIOLATION', 1);
        expect(e).toMatchObject({ reason, size: 0 });
        expect(w.m.securityEvents().at(-1)).toMatchObject({
          kind: 'wr-refused',
          address: va,
          size: 0,
        });
      }
    }
    // A bad size is still a bad size; a negative length is not "empty".
    refused(w.m, () => wrMemset(cpu, w.pool.start, 0, -1), 'EWRVIOLATION', 1);
    refused(w.m, () => wrMemcpyFrom(cpu, w.pool.start, -5, 0), 'EBADADDR', 0);
    // On write-rare memory: accepted, nothing written, no window.
    const before = machineState(w.m);
    expect(wrMemset(cpu, w.pool.start, 0xff, 0)).toMatchObject({ ops: 0, windows: 0 });
    expect(wrMemcpy(cpu, w.wrStatic, empty)).toMatchObject({ ops: 0, windows: 0 });
    expect(wrBatch(cpu, (b) => b.memset(w.pool.start, 1, 0))).toMatchObject({ ops: 0 });
    expectUnchanged(before, machineState(w.m));
  });

  it('wrBool stores only booleans (or 0/1): no truthiness', async () => {
    const w = await makeWorld(combo);
    const cpu = w.m.cpu(0);
    const at = w.pool.start + 100;
    for (const v of ['no', 'yes', '', 2, -1, null, undefined, {}, [], 1n, Number.NaN])
      refused(w.m, () => wrBool(cpu, at, v as boolean), 'EINVAL', 0);
    for (const [v, byte] of [
      [true, 1],
      [false, 0],
      [1, 1],
      [0, 0],
    ] as const) {
      wrBool(cpu, at, v as boolean);
      expect(w.m.cpu(1).read8(at)).toBe(byte);
    }
  });

  it('a node added twice (add, add_tail, add_rcu) is refused before anything is written', async () => {
    const w = await makeWorld(combo);
    const { cpu, head, a, b } = list(w);
    prListAdd(cpu, a, head);
    expectListCorrupt(w.m, () => prListAdd(cpu, a, head), a); // new == next: the cycle
    prListAddTail(cpu, b, head);
    expectListCorrupt(w.m, () => prListAddTail(cpu, b, head), b); // new == prev
    expectListCorrupt(w.m, () => prListAddRcu(cpu, a, head), a);
    expectListCorrupt(w.m, () => prListAdd(cpu, head, head), head);
    expect(prListEntries(cpu, head)).toEqual([a, b]);
    expect(prListCheck(cpu, head)).toBeUndefined();
  });

  it('a double delete and a move/replace of a deleted entry are refused (poisoned pointers)', async () => {
    const w = await makeWorld(combo);
    const { cpu, head, a, b, c } = list(w);
    for (const n of [a, b]) prListAddTail(cpu, n, head);
    prListDel(cpu, a);
    expectListCorrupt(w.m, () => prListDel(cpu, a), a);
    expectListCorrupt(w.m, () => prListDelInit(cpu, a), a);
    expectListCorrupt(w.m, () => prListMove(cpu, a, head), a);
    expectListCorrupt(w.m, () => prListReplace(cpu, a, c), a);
    prListDelRcu(cpu, b);
    expectListCorrupt(w.m, () => prListDelRcu(cpu, b), b); // prev is LIST_POISON2
    expect(prListEntries(cpu, head)).toEqual([]);
  });

  it('neighbours that do not point back, an uninitialised head and a self-splice are refused', async () => {
    const w = await makeWorld(combo);
    const { cpu, head, a, b, c } = list(w);
    for (const n of [a, b]) prListAddTail(cpu, n, head);
    wrPtr(cpu, b + 8, c); // A3: b->prev no longer a
    expectListCorrupt(w.m, () => prListDel(cpu, a), a); // next->prev != entry
    expectListCorrupt(w.m, () => prListAdd(cpu, c, a), b); // next->prev != prev
    expectListCorrupt(w.m, () => prListReplaceRcu(cpu, a, c), a);
    wrPtr(cpu, b + 8, a); // repaired
    prListDel(cpu, a);
    const zeroed = w.pool.start + 2048; // never initialised: next is NULL
    expectListCorrupt(w.m, () => prListAdd(cpu, c, zeroed));
    expectListCorrupt(w.m, () => prListSplice(cpu, head, head), head);
    expect(prListEntries(cpu, head)).toEqual([b]);
  });

  it('replace_init of an entry by itself is refused; a plain replace by itself changes nothing', async () => {
    const w = await makeWorld(combo);
    const { cpu, head, a } = list(w);
    prListAdd(cpu, a, head);
    expectListCorrupt(w.m, () => prListReplaceInit(cpu, a, a), a);
    expectListCorrupt(w.m, () => prListReplaceRcu(cpu, a, a), a);
    prListReplace(cpu, a, a);
    expect(prListEntries(cpu, head)).toEqual([a]);
    expect(prListCheck(cpu, head)).toBeUndefined();
  });

  it('as in the kernel, a re-add of a node further down the list is not caught; DEBUG_LIST finds it', async () => {
    const w = await makeWorld(combo);
    const { cpu, head, a, b } = list(w);
    prListAdd(cpu, a, head);
    prListAdd(cpu, b, head); // head -> b -> a
    prListAdd(cpu, a, head); // __list_add_valid passes: prev/next are consistent neighbours
    expect(prListCheck(cpu, head)).toMatch(/is not/);
  });

  it('callbacks, readers and options are checked before anything runs', async () => {
    const w = await makeWorld(combo);
    const cpu = w.m.cpu(0);
    const { head, a } = list(w);
    prListAdd(cpu, a, head);
    refused(w.m, () => drain(prListSpliceInitRcuSteps(cpu, a, head, 5 as never)), 'EINVAL', 0);
    refused(w.m, () => prListEntries(cpu, head, 'many' as never), 'EINVAL', 0);
    refused(w.m, () => prListEntries(cpu, -1), 'EBADADDR', 0);
    refused(w.m, () => wrBatch(cpu, 'fill' as never), 'EINVAL', 0);
    let kept: WrBatchWriter | undefined;
    wrBatch(cpu, (b) => {
      kept = b;
    });
    refused(w.m, () => kept?.assign(w.pool.start, 1, 8), 'EINVAL', 0);
    for (const c of [null, undefined, {}, 0, w.m])
      refused(w.m, () => wrAssign(c as never, w.pool.start, 1, 8), 'EINVAL', 0);
    refused(w.m, () => prListAdd(null as never, a, head), 'EINVAL', 0);
    refused(
      w.m,
      () => checkTarget(cpu, 'x', w.pool.start, 8, { align: 'x' } as never),
      'EINVAL',
      0,
    );
    refused(
      w.m,
      () => checkTarget(cpu, 'x', w.pool.start, 8, { alignment: 8 } as never),
      'EINVAL',
      0,
    );
    refused(w.m, () => checkTarget(cpu, 5 as never, w.pool.start, 8), 'EINVAL', 0);
    refused(w.m, () => drain(wrRmwSteps(cpu, 'rmw', w.pool.start, 8, 'inc' as never)), 'EINVAL', 0);
  });

  it('an rmw function that throws or returns garbage leaves the old value, closes its window, then throws', async () => {
    const w = await makeWorld(combo);
    const cpu = w.m.cpu(0);
    const at = w.pool.start + 64;
    wrAssign(cpu, at, 41, 8);
    const word = () => w.m.cpu(1).read64(at);
    for (const fn of [
      () => {
        throw new Error('boom');
      },
      () => 'x' as unknown as bigint,
      () => 1n << 70n,
    ]) {
      expect(() => drain(wrRmwSteps(cpu, 'rmw', at, 8, fn))).toThrow();
      expect(word()).toBe(41n);
      for (let c = 0; c < w.m.cpuCount; c++) expect(w.m.windowOpen(c)).toBe(false);
    }
    expect(drain(wrRmwSteps(cpu, 'rmw', at, 8, (old) => old + 1n))).toBe(41n);
    expect(word()).toBe(42n);
    expect(w.m.auditProtections()).toEqual([]);
  });
});

describe.each(COMBOS.slice(0, 3))('refused targets change nothing on $label', (combo) => {
  it('every op on a random bad target: one event, and memory, stats and TLBs as they were', async () => {
    const w = await makeWorld(combo);
    const bad = [w.rodata, w.roAfterInit, w.data, w.roPool.start, w.vmalloc.start, w.pool.end + 8];
    for (let c = 0; c < w.m.cpuCount; c++) w.m.cpu(c).read64(w.pool.start); // warm TLBs
    const ops = [
      (va: number) => wrAssign(w.m.cpu(0), va, 1, 8),
      (va: number) => wrMemset(w.m.cpu(1), va, 1, 0),
      (va: number) => wrMemcpy(w.m.cpu(0), va, new Uint8Array(3)),
      (va: number) => prListAdd(w.m.cpu(1), va, w.pool.start + 512),
      (va: number) => prListInit(w.m.cpu(0), va),
      (va: number) =>
        wrBatch(w.m.cpu(1), (b) => {
          b.assign(w.pool.start, 9, 8);
          b.ptr(va, 0);
        }),
    ];
    prListInit(w.m.cpu(0), w.pool.start + 512);
    fc.assert(
      fc.property(fc.constantFrom(...bad), fc.integer({ min: 0, max: ops.length - 1 }), (va, i) => {
        const e = refused(w.m, () => ops[i](va), 'EWRVIOLATION', 1);
        expect(e).toBeInstanceOf(WriteRareViolation);
      }),
      { numRuns: 40, seed: 9 },
    );
  });
});

describe.each(COMBOS.slice(0, 2))('exported planners on $label', (combo) => {
  it('planBatch validates the address an op writes, not the one a request names', async () => {
    const w = await makeWorld(combo);
    const cpu = w.m.cpu(0);
    const forged = [
      {
        op: { kind: 'store', va: w.rodata, size: 8, lo: 1, hi: 0 },
        va: w.pool.start,
        len: 8,
        what: 'assign',
      },
    ];
    const e = refused(w.m, () => planBatch(cpu, 'wrBatch', forged as never), 'EWRVIOLATION', 1);
    expect(e).toMatchObject({ reason: 'read-only', target: w.rodata });
    refused(w.m, () => planBatch(cpu, 'wrBatch', 'x' as never), 'EINVAL', 0);
  });
});
