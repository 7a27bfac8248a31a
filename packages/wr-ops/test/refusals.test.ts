/**
 * Every refusal: nothing is written (physical memory compared byte for byte, and the
 * bytes at and around the target read through machine.translate), exactly one
 * `wr-refused` security event names the CPU, target and operation, the error is a typed
 * WriteRareViolation, and the protections still audit clean.
 */
import { type Cpu, drain, type Machine, PAGE_SIZE } from '@prmem/core';
import { describe, expect, it, vi } from 'vitest';
import {
  prListAdd,
  prListInit,
  wrAdd,
  wrAssign,
  wrBatch,
  wrCmpxchg,
  wrInc,
  wrMemcpy,
  wrMemcpyFrom,
  wrMemset,
  wrPtr,
  wrRcuAssignPointer,
  wrU64,
  WriteRareViolation,
  type WrRefusalReason,
  wrXchg,
  wrAssignSteps,
} from '../src/index.js';
import { COMBOS, type World, makeWorld } from './support/combos.js';

interface TargetCase {
  readonly name: string;
  readonly va: (w: World) => number;
  readonly len: number;
  /** Accepted reasons (a backend may unmap the direct-map alias instead of making it RO). */
  readonly reasons: readonly WrRefusalReason[];
}

const TARGETS: readonly TargetCase[] = [
  { name: 'RO pool area', va: (w) => w.roPool.start + 8, len: 8, reasons: ['read-only'] },
  { name: '.rodata', va: (w) => w.rodata, len: 8, reasons: ['read-only'] },
  { name: '.data..ro_after_init', va: (w) => w.roAfterInit, len: 8, reasons: ['read-only'] },
  { name: '.data (ordinary)', va: (w) => w.data + 8, len: 8, reasons: ['not-write-rare'] },
  {
    name: 'direct-map alias of a write-rare frame',
    va: (w) => w.m.directMapVa(frameOf(w.m, w.pool.start + PAGE_SIZE)) + 16,
    len: 8,
    reasons: ['not-write-rare', 'unmapped'],
  },
  { name: 'vmalloc area', va: (w) => w.vmalloc.start + 64, len: 8, reasons: ['not-write-rare'] },
  {
    name: 'unprotected RO-mode pool area in the wr range',
    va: (w) => w.rwRoPool.start + 8,
    len: 8,
    reasons: ['not-write-rare'],
  },
  { name: 'guard page after an area', va: (w) => w.pool.end + 8, len: 8, reasons: ['unmapped'] },
  { name: 'wild user-half pointer', va: () => 0x1234_5000, len: 8, reasons: ['unmapped'] },
  {
    name: 'wr range, nothing allocated',
    va: (w) => w.m.layout.wrEnd - PAGE_SIZE,
    len: 8,
    reasons: ['unmapped'],
  },
  { name: 'past the end of an area', va: (w) => w.pool.end - 4, len: 8, reasons: ['overflow'] },
  {
    name: 'spanning two areas',
    va: (w) => w.pool.end - 8,
    len: 2 * PAGE_SIZE,
    reasons: ['spans-areas'],
  },
  {
    name: '.data..wr_after_init running into .data',
    va: (w) => sectionEnd(w.m, '.data..wr_after_init') - 4,
    len: 8,
    reasons: ['spans-areas'],
  },
  {
    name: 'a huge length from a write-rare start',
    va: (w) => w.pool.start,
    len: 2 ** 40,
    reasons: ['overflow', 'spans-areas'],
  },
];

function frameOf(m: Machine, va: number): number {
  return m.translate(va) - (va % PAGE_SIZE);
}

function sectionEnd(m: Machine, name: '.data..wr_after_init'): number {
  const s = m.section(name);
  return s.start + s.size;
}

type Op = {
  name: string;
  run: (cpu: Cpu, va: number, len: number, w: World) => unknown;
  fits: (va: number, len: number) => boolean;
};
const any = () => true;
const word = (va: number, len: number) => len === 8 && va % 8 === 0;
const OPS: readonly Op[] = [
  {
    name: 'wrMemcpy',
    fits: (_va, len) => len <= 1 << 16,
    run: (c, va, len) => wrMemcpy(c, va, new Uint8Array(len).fill(0xa5)),
  },
  {
    name: 'wrMemcpyFrom',
    fits: (_va, len) => len <= 64,
    run: (c, va, len, w) => wrMemcpyFrom(c, va, w.pool.start, len),
  },
  { name: 'wrMemset', fits: any, run: (c, va, len) => wrMemset(c, va, 0x5a, len) },
  {
    name: 'wrAssign',
    fits: (_va, len) => len === 8,
    run: (c, va) => wrAssign(c, va, 0xdeadbeefn, 8),
  },
  { name: 'wrU64', fits: word, run: (c, va) => wrU64(c, va, 7) },
  { name: 'wrPtr', fits: word, run: (c, va, _l, w) => wrPtr(c, va, w.pool.start) },
  {
    name: 'wrRcuAssignPointer',
    fits: word,
    run: (c, va, _l, w) => wrRcuAssignPointer(c, va, w.pool.start),
  },
  { name: 'wrAdd', fits: word, run: (c, va) => wrAdd(c, va, 5) },
  { name: 'wrInc', fits: word, run: (c, va) => wrInc(c, va) },
  { name: 'wrXchg', fits: word, run: (c, va) => wrXchg(c, va, 1) },
  { name: 'wrCmpxchg', fits: word, run: (c, va) => wrCmpxchg(c, va, 0, 1) },
  {
    // A valid write first, then the bad one: the valid one must not happen either.
    name: 'wrBatch',
    fits: (_va, len) => len <= 1 << 16,
    run: (c, va, len, w) =>
      wrBatch(c, (b) => {
        b.assign(w.pool.start + 40, 0x77, 1);
        b.memset(w.wrStatic + 100, 0x33, 9);
        b.memcpy(va, new Uint8Array(len).fill(1));
      }),
  },
];

/**
 * Runs `attempt` and asserts the refusal contract for it: the typed error, the bytes at
 * and around the target unchanged, exactly one security event, no window opened.
 */
function expectRefused(
  w: World,
  attempt: () => unknown,
  reasons: readonly WrRefusalReason[],
  operation: string,
  target: { va: number; len: number } | null,
): void {
  const { m } = w;
  const around = target ? m.peek(target.va - 64, Math.min(target.len, PAGE_SIZE) + 128) : null;
  const events = m.securityEvents().length;
  const windows = m.stats().events.wrWindow;
  let caught: unknown;
  try {
    attempt();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(WriteRareViolation);
  const v = caught as WriteRareViolation;
  expect(v.code).toBe('EWRVIOLATION');
  expect(reasons).toContain(v.reason);
  expect(v.operation).toBe(operation);
  if (target && around) expect(m.peek(target.va - 64, around.length)).toEqual(around);
  const evs = m.securityEvents();
  expect(evs.length).toBe(events + 1);
  const ev = evs[evs.length - 1];
  expect(ev).toMatchObject({ kind: 'wr-refused', cpu: v.cpu, operation });
  if (target) expect(ev.address).toBe(v.target);
  expect(ev.detail).toContain(v.reason);
  expect(m.stats().events.wrWindow).toBe(windows);
}

/** Runs a group of refusals, then checks no byte of physical memory changed and the audit. */
function expectNothingWritten(w: World, group: () => void): void {
  const before = w.m.phys.bytes.slice();
  group();
  // Not one byte of physical memory changed (page tables included).
  expect(Buffer.compare(w.m.phys.bytes, before)).toBe(0);
  expect(w.m.auditProtections()).toEqual([]);
}

describe.each(COMBOS)('refusals on $label', (combo) => {
  // Refusals change nothing but the event log, so the target cases share one machine.
  let shared: World | undefined;
  const world = async () => {
    shared ??= await makeWorld(combo);
    return shared;
  };

  it.each(TARGETS)('$name: refused by every operation, nothing written, one event', async (tc) => {
    const w = await world();
    const va = tc.va(w);
    // wrMemcpyFrom reads its source first (TLB fills, A bits): do that read up front.
    for (const id of [0, 1]) w.m.cpu(id).readBytes(w.pool.start, 64);
    let tried = 0;
    expectNothingWritten(w, () => {
      for (const op of OPS) {
        if (!op.fits(va, tc.len)) continue;
        tried++;
        const cpu = w.m.cpu(tried % 2);
        expectRefused(w, () => op.run(cpu, va, tc.len, w), tc.reasons, op.name, {
          va,
          len: tc.len,
        });
      }
    });
    expect(tried).toBeGreaterThanOrEqual(1);
  });

  it('bad operands: typed refusal, nothing written, one event', async () => {
    const w = await makeWorld(combo);
    const cpu = w.m.cpu(0);
    const p = w.pool.start;
    const cases: [string, () => unknown, WrRefusalReason, string][] = [
      ['negative size', () => wrMemset(cpu, p, 0, -1), 'bad-size', 'wrMemset'],
      ['fractional size', () => wrMemset(cpu, p, 0, 1.5), 'bad-size', 'wrMemset'],
      ['NaN size', () => wrMemset(cpu, p, 0, Number.NaN), 'bad-size', 'wrMemset'],
      ['size 2^48 (overflow)', () => wrMemset(cpu, p, 0, 2 ** 48), 'overflow', 'wrMemset'],
      ['unsafe size', () => wrMemset(cpu, p, 0, Number.MAX_SAFE_INTEGER), 'overflow', 'wrMemset'],
      ['assign size 3', () => wrAssign(cpu, p, 1, 3 as 4), 'bad-size', 'wrAssign'],
      ['assign size 16', () => wrAssign(cpu, p, 1, 16 as 8), 'bad-size', 'wrAssign'],
      ['negative address', () => wrAssign(cpu, -8, 1, 8), 'bad-address', 'wrAssign'],
      ['fractional address', () => wrAssign(cpu, p + 0.5, 1, 8), 'bad-address', 'wrAssign'],
      ['address 2^48', () => wrAssign(cpu, 2 ** 48, 1, 8), 'bad-address', 'wrAssign'],
      ['NaN address', () => wrMemset(cpu, Number.NaN, 0, 8), 'bad-address', 'wrMemset'],
      [
        'string address',
        () => wrMemset(cpu, String(p) as unknown as number, 0, 8),
        'bad-address',
        'wrMemset',
      ],
      ['range wrapping past 2^48', () => wrMemset(cpu, 2 ** 48 - 4, 0, 8), 'overflow', 'wrMemset'],
      ['misaligned atomic', () => wrAdd(cpu, p + 4, 1), 'misaligned', 'wrAdd'],
      [
        'misaligned 4-byte cmpxchg',
        () => wrCmpxchg(cpu, p + 2, 0, 1, 4),
        'misaligned',
        'wrCmpxchg',
      ],
      [
        'misaligned RCU pointer',
        () => wrRcuAssignPointer(cpu, p + 12, p),
        'misaligned',
        'wrRcuAssignPointer',
      ],
    ];
    expectNothingWritten(w, () => {
      for (const [, attempt, reason, operation] of cases)
        expectRefused(w, attempt, [reason], operation, null);
    });
  });

  it('bad values are typed errors that write nothing and are not security events', async () => {
    const w = await makeWorld(combo);
    const cpu = w.m.cpu(0);
    const before = w.m.phys.bytes.slice();
    const p = w.pool.start;
    expect(() => wrAssign(cpu, p, 256, 1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => wrAssign(cpu, p, 2 ** 53, 8)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => wrAssign(cpu, p, 1n << 64n, 8)).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(() => wrMemset(cpu, p, 300, 4)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => wrPtr(cpu, p, 2 ** 48)).toThrow(expect.objectContaining({ code: 'EBADADDR' }));
    expect(() => wrMemcpy(cpu, p, [1, 2] as unknown as Uint8Array)).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(Buffer.compare(w.m.phys.bytes, before)).toBe(0);
    expect(w.m.securityEvents()).toEqual([]);
  });

  it('a list operation touching RO memory writes none of its pointers', async () => {
    const w = await makeWorld(combo, { protect: false });
    const cpu = w.m.cpu(0);
    const head = w.pool.start;
    const a = w.pool.start + 64;
    prListInit(cpu, head);
    prListAdd(cpu, a, head);
    w.m.finishBoot();
    w.m.protect(w.pool.start, w.pool.size, 'wr');
    w.m.protect(w.rwRoPool.start, w.rwRoPool.size, 'ro');
    w.m.resetStats();
    const node = w.rwRoPool.start + 32; // an RO node: __list_add would store into it
    // The reads before validation may set accessed bits: compare the list's bytes instead.
    cpu.readBytes(head, 128);
    cpu.readBytes(node, 16);
    const listBytes = w.m.peek(head, 128);
    const events = w.m.securityEvents().length;
    expect(() => prListAdd(cpu, node, head)).toThrow(WriteRareViolation);
    expect(w.m.peek(head, 128)).toEqual(listBytes);
    expect(w.m.securityEvents().length).toBe(events + 1);
    expect(w.m.securityEvents()[events]).toMatchObject({ operation: 'prListAdd', address: node });
    expect(w.m.stats().events.wrWindow).toBe(0);
  });

  it('a wild target outside the write-rare range is rejected without an area lookup', async () => {
    const w = await makeWorld(combo);
    const findArea = vi.spyOn(w.m, 'findArea');
    const cpu = w.m.cpu(0);
    for (const va of [w.data, w.vmalloc.start, w.m.directMapVa(0x10000), 0x4000]) {
      expect(() => wrAssign(cpu, va, 1, 8)).toThrow(WriteRareViolation);
    }
    expect(findArea).not.toHaveBeenCalled();
    expect(() => wrAssign(cpu, w.roPool.start, 1, 8)).toThrow(WriteRareViolation);
    expect(findArea).toHaveBeenCalledTimes(1);
    findArea.mockRestore();
  });

  it('the Steps form refuses at its first step, before anything runs', async () => {
    const w = await makeWorld(combo);
    const steps = wrAssignSteps(w.m.cpu(1), w.rodata, 1, 8);
    expect(w.m.securityEvents()).toEqual([]);
    expect(() => drain(steps)).toThrow(WriteRareViolation);
    expect(w.m.securityEvents()).toHaveLength(1);
  });
});
