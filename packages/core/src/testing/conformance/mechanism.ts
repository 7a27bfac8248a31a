/**
 * Mechanism rules, for each write-rare mechanism a backend declares: it refuses a bad
 * target before its first step, opens and closes the window around the write, and can be
 * abandoned after any step with nothing left open.
 */
import {
  type Backend,
  type Cpu,
  type EventName,
  type Machine,
  PageFault,
  PAGE_SIZE,
  PrmemError,
  runProgram,
  sessionOf,
  type Steps,
  WAIT_STEP,
  type WriteRareMechanism,
  type WrOp,
} from '../../index.js';
import type { ConformanceRule } from './rule.js';
import { check, firstDiff, hex, makeWorld, pattern, type World } from './world.js';

/** The scheduler's view of a session: one yield per architectural step (core's `sessionOf`). */
export function sessionSteps(mech: WriteRareMechanism, cpu: Cpu, ops: readonly WrOp[]): Steps {
  return sessionOf(mech, cpu, ops);
}

/** The synchronous callers' view: the step program straight through (`run()` if offered). */
export function runStraight(mech: WriteRareMechanism, cpu: Cpu, ops: readonly WrOp[]): void {
  runProgram(mech.program(cpu, ops));
}

/**
 * Counters of work that changes machine state (reads and TLB fills may happen on a refusal
 * path): what a refused call must leave unchanged. Test support of other packages reads it.
 */
export const WORK_EVENTS = [
  'pteWrite',
  'localFlushPage',
  'localFlushAll',
  'localFlushAsid',
  'ipiSent',
  'tlbiBroadcast',
  'mmSwitch',
  'hypercall',
  'wrWindow',
  'wrBytes',
  'cr0Write',
  'pkrsWrite',
] as const satisfies readonly EventName[];

/** What a refused session must leave as it was (TLB fills of its checks may stay). */
function state(m: Machine): { memory: Uint8Array; rest: string } {
  const events = m.stats().events as unknown as Record<string, number | undefined>;
  const cpus = Array.from({ length: m.cpuCount }, (_, i) => m.cpu(i));
  return {
    memory: m.phys.bytes.slice(),
    rest: JSON.stringify({
      work: WORK_EVENTS.map((k) => events[k] ?? 0),
      free: m.phys.freeFrames,
      windows: cpus.map((c) => m.windowOpen(c)),
      cpus: cpus.map((c) => [c.mm.id, c.asid, c.irqsDisabled, c.preemptCount]),
    }),
  };
}

const writeOp = (va: number, data: Uint8Array): WrOp => ({ kind: 'write', va, data });

function plainWriteFaults(cpu: Cpu, va: number): boolean {
  try {
    cpu.write8(va, 0xee);
  } catch (e) {
    if (e instanceof PageFault) return true;
    throw e;
  }
  return false;
}

/** Nothing of a window is left: no CPU in one, targets not writable, CPU state restored. */
function nothingOpen(w: World, targets: readonly number[], after: string): void {
  const { m } = w;
  for (let i = 0; i < m.cpuCount; i++) {
    const cpu = m.cpu(i);
    check(!m.windowOpen(cpu), 'window', () => `cpu${i} is still in a window ${after}`);
    check(cpu.mm === m.kernelMm, 'window', () => `cpu${i} is left in ${cpu.mm.name} ${after}`);
    check(
      cpu.asid === m.kernelMm.asid,
      'window',
      () => `cpu${i} is left with asid ${cpu.asid} ${after}`,
    );
    check(
      !cpu.irqsDisabled && cpu.preemptCount === 0,
      'window',
      () => `cpu${i} is left with irqs off or preemption disabled ${after}`,
    );
    for (const va of targets)
      check(
        plainWriteFaults(cpu, va),
        'window',
        () => `cpu${i} can write ${hex(va)} with a plain store ${after}`,
      );
  }
  const findings = m.auditProtections();
  check(
    findings.length === 0,
    'window',
    () => `writable mappings of protected memory ${after}: ${JSON.stringify(findings[0])}`,
  );
}

/** Runs a session to its end one step at a time; returns the steps and whether a window was seen open. */
function runStepwise(m: Machine, mech: WriteRareMechanism, cpu: Cpu, ops: readonly WrOp[]) {
  const gen = sessionSteps(mech, cpu, ops);
  let steps = 0;
  let sawOpen = false;
  for (let r = gen.next(); !r.done; r = gen.next()) {
    if (typeof r.value === 'string' && r.value.startsWith(WAIT_STEP))
      throw new Error(`the session waits (${r.value}) with no other CPU running`);
    steps++;
    if (m.windowOpen(cpu)) sawOpen = true;
  }
  return { steps, sawOpen };
}

async function mechWorld(backend: Backend, mechanism: string) {
  const w = await makeWorld(backend, { mechanism });
  return { w, mech: w.m.mechanism };
}

/**
 * A good window: a write across a page boundary of the pool, and for a batchable
 * mechanism a second one further into the same area (wr-ops batches the consecutive ops
 * of one area or section into one session, never ops of different ones).
 */
function goodOps(w: World, mech: WriteRareMechanism, seed: number): WrOp[] {
  const ops = [writeOp(w.wr.start + PAGE_SIZE - 8, pattern(24, seed))];
  if (mech.batchable) ops.push(writeOp(w.wr.start + 2 * PAGE_SIZE + 100, pattern(8, seed + 1)));
  return ops;
}

export function mechanismRules(backend: Backend, mechanism: string): ConformanceRule[] {
  const group = `mechanism ${mechanism}`;
  return [
    {
      group,
      name: `${mechanism} refuses a bad target with a typed error before its first step, changing nothing`,
      async run() {
        const { w, mech } = await mechWorld(backend, mechanism);
        const cpu = w.m.cpu(0);
        const bad: [string, WrOp[]][] = [
          ['a plain .data variable', [writeOp(w.data, pattern(8, 1))]],
          ['a read-only pool page', [writeOp(w.ro.start, pattern(8, 2))]],
          ['ordinary vmalloc memory', [writeOp(w.plain.start, pattern(8, 3))]],
          [
            'a span past the pool into its guard page',
            [writeOp(w.wr.start + w.wr.size - 4, pattern(8, 4))],
          ],
        ];
        if (mech.batchable)
          bad.push([
            'a batch whose second target is .data',
            [writeOp(w.wr.start, pattern(8, 5)), writeOp(w.data, pattern(8, 6))],
          ]);
        for (const [what, ops] of bad) {
          const before = state(w.m);
          let error: unknown;
          let first: IteratorResult<string, void> | undefined;
          let gen: Steps | undefined;
          try {
            gen = sessionSteps(mech, cpu, ops);
            first = gen.next();
          } catch (e) {
            error = e;
          }
          if (first !== undefined) gen?.return();
          check(first === undefined, 'validate', () =>
            first?.done
              ? `a write to ${what} was accepted`
              : `a write to ${what} ran step "${first?.value}" before it was refused`,
          );
          check(
            error instanceof PrmemError,
            'validate',
            () => `a write to ${what} threw ${String(error)}, not a typed PrmemError`,
          );
          const after = state(w.m);
          const at = firstDiff(before.memory, after.memory);
          check(
            at < 0,
            'validate',
            () => `refusing a write to ${what} changed physical memory at ${hex(at)}`,
          );
          check(
            after.rest === before.rest,
            'validate',
            () =>
              `refusing a write to ${what} changed the machine: ${before.rest} -> ${after.rest}`,
          );
        }
      },
    },
    {
      group,
      name: `${mechanism} opens the window for the write and closes it after, writing exactly the ops`,
      async run() {
        const { w, mech } = await mechWorld(backend, mechanism);
        const { m } = w;
        const cpu = m.cpu(0);
        const ops = goodOps(w, mech, 40);
        const want = expected(m, ops);
        check(!m.windowOpen(cpu), 'window', () => 'a window is open before the session');
        const { sawOpen } = runStepwise(m, mech, cpu, ops);
        check(
          sawOpen,
          'window',
          () => 'no step of the session ran with the window open (openWindow never called?)',
        );
        for (const [va, bytes] of want) {
          const got = m.peek(va, bytes.length);
          const at = got === null ? 0 : firstDiff(got, bytes);
          check(
            at < 0,
            'window',
            () => `memory at ${hex(va + at)} differs from what the ops wrote`,
          );
        }
        nothingOpen(
          w,
          [w.wr.start, w.wr.start + PAGE_SIZE, w.wr.start + 2 * PAGE_SIZE],
          'after the session',
        );
      },
    },
    {
      group,
      name: `${mechanism} may be abandoned after any step, leaving no window, mapping or CPU state behind`,
      async run() {
        const { w, mech } = await mechWorld(backend, mechanism);
        const { m } = w;
        const cpu = m.cpu(0);
        const n = runStepwise(m, mech, cpu, goodOps(w, mech, 50)).steps;
        check(n > 0, 'abort', () => 'the session has no steps');
        for (let k = 1; k <= n; k++) {
          const gen = sessionSteps(mech, cpu, goodOps(w, mech, 60 + k));
          for (let i = 0; i < k; i++) if (gen.next().done) break;
          gen.return();
          nothingOpen(
            w,
            [w.wr.start, w.wr.start + PAGE_SIZE, w.wr.start + 2 * PAGE_SIZE],
            `after abandoning the session after step ${k} of ${n}`,
          );
          // And the next session runs normally: nothing stayed pinned or locked.
          const ops = goodOps(w, mech, 90 + k);
          const want = expected(m, ops);
          runStepwise(m, mech, cpu, ops);
          for (const [va, bytes] of want) {
            const got = m.peek(va, bytes.length);
            check(
              got !== null && firstDiff(got, bytes) < 0,
              'abort',
              () => `a session after an abandoned one (step ${k}) did not write ${hex(va)}`,
            );
          }
        }
      },
    },
    {
      group,
      name: `${mechanism} run straight through leaves memory, counters and clocks as step by step`,
      async run() {
        const a = await mechWorld(backend, mechanism);
        const b = await mechWorld(backend, mechanism);
        const series = (w: World): WrOp[][] => [
          goodOps(w, a.mech, 70),
          [{ kind: 'store', va: w.wr.start + 8, size: 8, lo: 0x1234_5678, hi: 0x9abc_def0 }],
          [{ kind: 'set', va: w.wrStatic + 5, value: 0x5a, len: 5000 }],
          [{ kind: 'store', va: w.wrStatic + 3, size: 4, lo: 0xdead_beef, hi: 0 }],
        ];
        for (const [i, ops] of series(a.w).entries()) {
          runStraight(a.mech, a.w.m.cpu(i % 2), ops);
          runStepwise(b.w.m, b.mech, b.w.m.cpu(i % 2), series(b.w)[i]);
        }
        const at = firstDiff(a.w.m.phys.bytes, b.w.m.phys.bytes);
        check(at < 0, 'straight', () => `memory differs at ${hex(at)} between the two forms`);
        const sa = JSON.stringify(a.w.m.stats());
        const sb = JSON.stringify(b.w.m.stats());
        check(
          sa === sb,
          'straight',
          () => `counters or clocks differ: straight ${sa} vs stepwise ${sb}`,
        );
      },
    },
  ];
}

/** Memory each op should hold afterwards (plain writes only: the ops of goodOps). */
function expected(_m: Machine, ops: readonly WrOp[]): [number, Uint8Array][] {
  return ops.flatMap((op) =>
    op.kind === 'write' ? [[op.va, op.data] as [number, Uint8Array]] : [],
  );
}
