/**
 * Runs one op on both sides: the model predicts the outcome and the new state, the
 * machine does it; any difference is a FuzzFailure. Used by the fc.commands runner, the
 * differential test and the CLI alike.
 */
import { type Cpu, drain, PAGE_SIZE, PageFault, PrmemError, sessionOf } from '@prmem/core';
import { createPool, type Pool, PoolError } from '@prmem/pool';
import {
  WriteRareViolation,
  type WrBatchWriter,
  wrAssign,
  wrAssignSteps,
  wrBatch,
  wrMemcpy,
  wrMemset,
} from '@prmem/wr-ops';
import { compareFrozen, freeze, freezeMemory } from './frozen.js';
import * as M from './model.js';
import { describeOp, type Op, type WrPart } from './ops.js';
import { diffBytes, type World } from './world.js';

export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
}

const encoder = new TextEncoder();

/** What the machine did, in the model's terms (unexpected errors propagate). */
function classify(fn: () => void): M.Outcome {
  try {
    fn();
    return M.OK;
  } catch (e) {
    if (e instanceof PageFault) return M.FAULT;
    if (e instanceof WriteRareViolation) return { kind: 'violation', reason: e.reason };
    if (e instanceof PoolError) return { kind: 'pool-error', code: e.code };
    throw e;
  }
}

function expectOutcome(op: string, want: M.Outcome, got: M.Outcome): void {
  if (M.outcomeText(want) !== M.outcomeText(got))
    throw new FuzzFailure(`${op}: expected ${M.outcomeText(want)}, got ${M.outcomeText(got)}`);
}

/** Whether an op means anything in this state (fc's Command.check). */
export function applicable(model: M.Model, op: Op): boolean {
  switch (op.k) {
    case 'cpu':
      return op.cpu < model.cpus && op.cpu !== model.cpu;
    case 'mm':
    case 'create':
      return true;
    case 'alloc':
    case 'protect':
    case 'makeReadOnly':
    case 'destroy':
    case 'lower':
      return model.pools.length > 0;
    default:
      return model.allocs.length > 0;
  }
}

/** The outcome an op had, for the differential comparison. */
export interface StepRecord {
  readonly op: string;
  readonly outcome: string;
}

/** The op with its pool and allocation picks reduced to the indexes they name now. */
export function resolvePicks(model: M.Model, op: Op): Op {
  const pool = (i: number) => i % Math.max(1, model.pools.length);
  const alloc = (i: number) => i % Math.max(1, model.allocs.length);
  switch (op.k) {
    case 'alloc':
    case 'protect':
    case 'makeReadOnly':
    case 'destroy':
      return { ...op, pool: pool(op.pool) };
    case 'lower':
      return { ...op, pool: pool(op.pool), alloc: alloc(op.alloc) };
    case 'abandon':
      return { ...op, alloc: alloc(op.alloc) };
    case 'wr':
      return { ...op, part: { ...op.part, alloc: alloc(op.part.alloc) } };
    case 'batch':
      return { ...op, parts: op.parts.map((p) => ({ ...p, alloc: alloc(p.alloc) })) };
    case 'write':
    case 'read':
    case 'flush':
      return { ...op, alloc: alloc(op.alloc) };
    default:
      return op;
  }
}

/** Runs one applicable op on model and machine; throws FuzzFailure on any difference. */
export function execute(model: M.Model, w: World, op: Op): StepRecord {
  const m = w.m;
  const cpu = m.cpu(model.cpu);
  const described = describeOp(resolvePicks(model, op));
  const text = `${described} on CPU${model.cpu}`;
  const done = (o: M.Outcome): StepRecord => ({ op: text, outcome: M.outcomeText(o) });
  switch (op.k) {
    case 'cpu':
      model.cpu = op.cpu;
      return done(M.OK);
    case 'mm':
      if (op.user && !w.userMm) throw new FuzzFailure(`${text}: this world has no user mm`);
      m.switchMm(cpu, op.user && w.userMm ? w.userMm : m.kernelMm);
      return done(M.OK);
    case 'create': {
      const align = 2 ** op.alignLog2;
      const pi = M.createPool(model, op.mode, op.limitRo, op.refillPages, align);
      const p = model.pools[pi];
      const got = classify(() => {
        w.pools.push(
          createPool(m, {
            mode: op.mode,
            limit: p.limit,
            refill: op.refillPages * 4096,
            align,
            name: `fuzz${pi}`,
            cpu: model.cpu,
            // The model's destroy(reclaim) gives frames back: a reclaimable pool does.
            reclaimable: true,
          }),
        );
      });
      expectOutcome(text, M.OK, got);
      return done(got);
    }
    case 'alloc': {
      const pi = op.pool % model.pools.length;
      const pool = w.pools[pi];
      const bytes =
        op.how === 'strdup'
          ? Uint8Array.from([...encoder.encode(op.text), 0])
          : new Uint8Array(op.size);
      const before = model.allocs.length;
      const want = M.alloc(model, pi, bytes);
      let va = -1;
      const got = classify(() => {
        va =
          op.how === 'strdup'
            ? pool.strdup(op.text)
            : op.how === 'zalloc'
              ? pool.zalloc(op.size)
              : pool.alloc(op.size);
      });
      expectOutcome(text, want, got);
      if (model.allocs.length > before) {
        const a = model.allocs[before];
        const area = pool.areas[a.area];
        if (!area) throw new FuzzFailure(`${text}: the pool has no area #${a.area}`);
        if (va !== area.start + a.offset)
          throw new FuzzFailure(
            `${text}: allocated at ${area.name}+${va - area.start}, model says +${a.offset}`,
          );
        w.allocs.push(va);
      }
      return done(got);
    }
    case 'protect':
    case 'makeReadOnly':
    case 'destroy': {
      const pi = op.pool % model.pools.length;
      const pool = w.pools[pi];
      const want =
        op.k === 'protect'
          ? M.protect(model, pi)
          : op.k === 'makeReadOnly'
            ? M.makeReadOnly(model, pi)
            : M.destroy(model, pi, op.reclaim);
      const got = classify(() =>
        op.k === 'protect'
          ? pool.protect()
          : op.k === 'makeReadOnly'
            ? pool.makeReadOnly()
            : pool.destroy({ reclaim: op.reclaim }),
      );
      expectOutcome(text, want, got);
      return done(got);
    }
    case 'wr':
    case 'batch': {
      const parts: readonly WrPart[] = op.k === 'wr' ? [op.part] : op.parts;
      const resolved = parts.map((p) => M.resolvePart(model, p)!);
      // Every target is validated before any byte moves: the first refusal stops them all.
      let want: M.Outcome = M.OK;
      for (const r of resolved) {
        const o = M.wrTarget(model, r.alloc);
        if (o.kind !== 'ok') {
          want = o;
          break;
        }
      }
      const got = classify(() => {
        if (op.k === 'wr') wrPart(cpu, w, parts[0], resolved[0]);
        else
          wrBatch(cpu, (b) => {
            for (let i = 0; i < parts.length; i++) batchPart(w, b, parts[i], resolved[i]);
          });
      });
      expectOutcome(text, want, got);
      if (want.kind === 'ok') for (const r of resolved) M.applyWrite(model, r);
      return done(got);
    }
    case 'write': {
      const ai = op.alloc % model.allocs.length;
      const n = model.allocs[ai].bytes.length;
      const data = op.data.subarray(0, Math.min(op.data.length, n));
      const off = op.off % (n - data.length + 1);
      const want = M.plainWrite(model, ai);
      const got = classify(() => cpu.writeBytes(w.allocs[ai] + off, data));
      expectOutcome(text, want, got);
      if (want.kind === 'ok') M.applyWrite(model, { alloc: ai, off, data });
      return done(got);
    }
    case 'read': {
      const ai = op.alloc % model.allocs.length;
      const a = model.allocs[ai];
      const gone = M.allocLevel(model, ai) === 'gone';
      let seen: Uint8Array | undefined;
      const got = classify(() => {
        seen = cpu.readBytes(w.allocs[ai], a.bytes.length);
      });
      // A pointer into a destroyed pool must fault: the fuzz world's VA quarantine holds
      // every freed range back.
      expectOutcome(text, gone ? M.FAULT : M.OK, got);
      if (seen) {
        const d = diffBytes(seen, a.bytes);
        if (d) throw new FuzzFailure(`${text}: CPU read of a${ai} differs from the model at ${d}`);
      }
      return done(got);
    }
    case 'flush': {
      const ai = op.alloc % model.allocs.length;
      const va = w.allocs[ai];
      const page = va - (va % 4096);
      if (op.global) drain(m.arch.flushKernelRange(cpu, page, page + 4096));
      else m.arch.flushLocalPage(cpu, va);
      return done(M.OK);
    }
    case 'lower': {
      const pi = op.pool % model.pools.length;
      const ai = model.allocs.length > 0 ? op.alloc % model.allocs.length : -1;
      const call = lowerCall(model, w, cpu, op, w.pools[pi], pi, ai);
      if (!call) return done(M.OK);
      // A hardware fault (the plain store) may fill the TLB and count its walk; an API
      // refusal may change nothing at all.
      const strict = op.what !== 'meta-slot';
      const before = freeze(m, w, strict);
      freezeMemory(m);
      let refused: unknown;
      try {
        call();
      } catch (e) {
        if (!(e instanceof PrmemError)) throw e;
        refused = e;
      }
      if (refused === undefined) throw new FuzzFailure(`${text}: the attacker's call went through`);
      const d = compareFrozen(m, before, freeze(m, w, strict));
      if (d)
        throw new FuzzFailure(
          `${text}: refused (${(refused as PrmemError).code}) but changed ${d}`,
        );
      return { op: text, outcome: 'refused' };
    }
    case 'abandon': {
      const ai = op.alloc % model.allocs.length;
      const a = model.allocs[ai];
      const level = M.allocLevel(model, ai);
      const va = w.allocs[ai];
      const want = M.wrTarget(model, ai);
      const old = a.bytes[0];
      const got = classify(() => {
        const s = wrAssignSteps(cpu, va, BigInt(op.value), 1);
        for (let i = 0; i < op.steps; i++) if (s.next().done) return;
        s.return(undefined as never);
      });
      expectOutcome(text, want, got);
      if (got.kind === 'ok' && level !== 'gone') {
        // Abandoned before or after its write: the byte is the old value or the new one.
        const now = m.peek(va, 1)?.[0];
        if (now !== old && now !== op.value)
          throw new FuzzFailure(`${text}: byte is 0x${now?.toString(16)}, neither old nor new`);
        M.applyWrite(model, { alloc: ai, off: 0, data: Uint8Array.of(now as number) });
      }
      return done(got);
    }
  }
}

/** The attacker's call for a 'lower' op, or undefined when it has nothing to aim at. */
function lowerCall(
  model: M.Model,
  w: World,
  cpu: Cpu,
  op: Extract<Op, { k: 'lower' }>,
  pool: Pool,
  pi: number,
  ai: number,
): (() => void) | undefined {
  const m = w.m;
  const area = model.pools[pi].destroyed ? undefined : pool.areas[0];
  switch (op.what) {
    case 'protect':
      return area && (() => m.protect(area.start, area.size, op.level, cpu.id));
    case 'protect-part':
      return area && (() => m.protect(area.start, PAGE_SIZE, op.level, cpu.id));
    case 'protect-direct-map': {
      if (!area) return undefined;
      const dm = m.directMapVa(m.translate(area.start));
      return () => m.protect(dm, PAGE_SIZE, op.level, cpu.id);
    }
    case 'vfree':
      return area && (() => m.vfree(area, {}, cpu.id));
    case 'mechanism': {
      // Only memory that is not protected write-rare: the mechanism must refuse it.
      if (ai < 0 || M.allocLevel(model, ai) === 'wr') return undefined;
      const va = w.allocs[ai];
      return () =>
        drain(sessionOf(m.mechanism, cpu, [{ kind: 'store', va, size: 1, lo: 1, hi: 0 }]));
    }
    case 'meta-fixed':
      return () => wrAssign(cpu, pool.fixedVa + 4, 0xff, 4);
    case 'meta-slot':
      return () => cpu.write32(pool.slotVa + 20, 2);
  }
}

function wrPart(cpu: Cpu, w: World, part: WrPart, r: M.Resolved): void {
  const va = w.allocs[r.alloc] + r.off;
  if (part.k === 'assign') wrAssign(cpu, va, r.value!, r.size!);
  else if (part.k === 'memcpy') wrMemcpy(cpu, va, r.data);
  else wrMemset(cpu, va, r.byte!, r.data.length);
}

function batchPart(w: World, b: WrBatchWriter, part: WrPart, r: M.Resolved): void {
  const va = w.allocs[r.alloc] + r.off;
  if (part.k === 'assign') b.assign(va, r.value!, r.size!);
  else if (part.k === 'memcpy') b.memcpy(va, r.data);
  else b.memset(va, r.byte!, r.data.length);
}
