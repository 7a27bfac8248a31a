import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  drain,
  OpWriter,
  PAGE_SIZE,
  runProgram,
  type Step,
  type StepProgram,
  stepsOf,
  type WrOp,
} from '../src/index.js';
import { toyMachine } from './helpers.js';

/** A program of `n` steps that throws at step `failAt` (if any) and records what ran. */
class Recorder implements StepProgram {
  readonly done: Step[] = [];
  aborts = 0;
  constructor(
    private readonly n: number,
    private readonly failAt = -1,
  ) {}
  step(): Step | null {
    const i = this.done.length;
    if (i === this.failAt) throw new Error(`step ${i} failed`);
    if (i >= this.n) return null;
    this.done.push(`s${i}`);
    return `s${i}`;
  }
  abort(): void {
    this.aborts++;
  }
}

describe('step programs', () => {
  it('stepsOf yields every step, runProgram runs every step; neither aborts a finished program', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), (n) => {
        const a = new Recorder(n);
        expect([...stepsOf(a)]).toEqual(a.done);
        expect(a.done).toHaveLength(n);
        const b = new Recorder(n);
        runProgram(b);
        expect(b.done).toEqual(a.done);
        expect(a.aborts + b.aborts).toBe(0);
      }),
    );
  });

  it('a throwing step is unwound once by abort, then the error propagates (both drivers)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.nat(), (n, k) => {
        const failAt = k % n;
        const a = new Recorder(n, failAt);
        expect(() => drain(stepsOf(a))).toThrow(`step ${failAt} failed`);
        const b = new Recorder(n, failAt);
        expect(() => runProgram(b)).toThrow(`step ${failAt} failed`);
        expect([a.aborts, b.aborts]).toEqual([1, 1]);
        expect(a.done).toHaveLength(failAt);
      }),
    );
  });

  it('runProgram prefers run() when a program offers it, and unwinds a throw from it once', () => {
    class Runner extends Recorder {
      runs = 0;
      run(): void {
        this.runs++;
        while (this.step() !== null);
      }
    }
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: -1, max: 19 }),
        (n, failAt) => {
          const fails = failAt >= 0 && failAt < n;
          const r = new Runner(n, fails ? failAt : -1);
          if (fails) expect(() => runProgram(r)).toThrow(`step ${failAt} failed`);
          else runProgram(r);
          expect(r.runs).toBe(1);
          expect(r.done).toHaveLength(fails ? failAt : n);
          expect(r.aborts).toBe(fails ? 1 : 0);
        },
      ),
    );
  });

  it('a schedule that abandons the steps (return()) has them aborted, once, even after the last step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.nat(), (n, k) => {
        const taken = 1 + (k % n);
        const p = new Recorder(n);
        const steps = stepsOf(p);
        for (let i = 0; i < taken; i++) steps.next();
        steps.return();
        steps.return();
        // Even after the last step: the driver has not seen `null`, so abort() must cope
        // with a program that has nothing left to undo.
        expect(p.aborts).toBe(1);
        // Not started at all: nothing ran, nothing to undo.
        const q = new Recorder(n);
        stepsOf(q).return();
        expect(q.aborts).toBe(0);
      }),
    );
  });
});

describe('OpWriter', () => {
  it('one step per aligned store, one per page of a copy, bytes counted once per op', async () => {
    const m = await toyMachine({ cpus: 1 });
    const area = m.vmalloc(4 * PAGE_SIZE);
    const cpu = m.cpu(0);
    const op = fc.oneof(
      fc
        .record({ size: fc.constantFrom(1, 2, 4, 8), slot: fc.nat({ max: 100 }) })
        .map(({ size, slot }): WrOp => {
          const va = area.start + slot * size;
          return { kind: 'write', va, data: new Uint8Array(size).fill(slot & 0xff) };
        }),
      fc
        .record({ off: fc.nat({ max: 2 * PAGE_SIZE }), len: fc.integer({ min: 0, max: 6000 }) })
        .map(
          ({ off, len }): WrOp => ({ kind: 'set', va: area.start + off, value: len & 0xff, len }),
        ),
      // Scalar stores, aligned or not (an unaligned one may cross a page).
      fc
        .record({
          size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
          off: fc.nat({ max: 2 * PAGE_SIZE - 8 }),
          bits: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        })
        .map(({ size, off, bits }): WrOp => {
          const v = BigInt.asUintN(size * 8, bits);
          return {
            kind: 'store',
            va: area.start + off,
            size,
            lo: Number(v & 0xffff_ffffn),
            hi: Number(v >> 32n),
          };
        }),
    );
    /** The bytes a store writes, from its value (BigInt arithmetic, not the writer's). */
    const valueBytes = (o: { size: number; lo: number; hi: number }): number[] => {
      const v = (BigInt(o.hi) << 32n) | BigInt(o.lo);
      return Array.from({ length: o.size }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
    };
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 8 }), async (ops) => {
        const before = m.stats().events.wrBytes;
        // The model: the area's bytes with every op applied in order.
        const ref = m.peek(area.start, area.size)!.slice();
        const labels = [...stepsOf(new OpWriter(cpu, ops, 0))];
        const want: string[] = [];
        let bytes = 0;
        for (const o of ops) {
          if (o.kind === 'rmw') continue;
          const len = o.kind === 'write' ? o.data.length : o.kind === 'store' ? o.size : o.len;
          bytes += len;
          if (o.kind === 'write') ref.set(o.data, o.va - area.start);
          else if (o.kind === 'store') ref.set(valueBytes(o), o.va - area.start);
          else ref.fill(o.value, o.va - area.start, o.va - area.start + len);
          if ([1, 2, 4, 8].includes(len) && o.va % len === 0) want.push(`store ${len}B`);
          else
            for (let at = o.va; at < o.va + len; at = at - (at % PAGE_SIZE) + PAGE_SIZE)
              want.push(`copy ${Math.min(o.va + len, at - (at % PAGE_SIZE) + PAGE_SIZE) - at}B`);
        }
        expect(labels).toEqual(want);
        expect(m.stats().events.wrBytes - before).toBe(bytes);
        expect(Buffer.compare(m.peek(area.start, area.size)!, ref)).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it('a store whose value does not fit its size is refused before it writes, aligned or not', async () => {
    const m = await toyMachine({ cpus: 1 });
    const area = m.vmalloc(2 * PAGE_SIZE);
    const cpu = m.cpu(0);
    const bad: WrOp[] = [
      { kind: 'store', va: area.start, size: 8, lo: 1, hi: 2 ** 32 },
      { kind: 'store', va: area.start, size: 4, lo: -1, hi: 0 },
      { kind: 'store', va: area.start + 2, size: 2, lo: 0x1_0000, hi: 0 },
      { kind: 'store', va: area.start + 1, size: 4, lo: 1, hi: 1 },
      { kind: 'store', va: area.start + PAGE_SIZE - 3, size: 8, lo: 0.5, hi: 0 },
    ];
    const before = m.peek(area.start, area.size)?.slice();
    for (const op of bad) {
      expect(() => drain(stepsOf(new OpWriter(cpu, [op], 0)))).toThrow(/does not fit/);
      expect(
        Buffer.compare(
          m.peek(area.start, area.size) ?? new Uint8Array(),
          before ?? new Uint8Array(),
        ),
      ).toBe(0);
    }
  });

  it('rmw reads the old value into the op and stores fn(old), one step', async () => {
    const m = await toyMachine({ cpus: 1 });
    const area = m.vmalloc(PAGE_SIZE);
    const cpu = m.cpu(0);
    cpu.write32(area.start + 8, 41);
    const op: WrOp = { kind: 'rmw', va: area.start + 8, size: 4, fn: (v) => v + 1n, old: 0n };
    expect([...stepsOf(new OpWriter(cpu, [op], 0))]).toEqual(['rmw']);
    expect(op.kind === 'rmw' && op.old).toBe(41n);
    expect(cpu.read32(area.start + 8)).toBe(42);
  });
});
