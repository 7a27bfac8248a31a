import { type Cpu, InvalidArgumentError, type Steps, type WrOp } from '@prmem/core';
import { checkWrSize } from './assign.js';
import { type PlannedOp, runPlanned, runPlannedSync, type WrRunResult } from './engine.js';
import { checkCpu, validateTarget } from './target.js';
import { pointerStore, scalarStore, type WrSize } from './values.js';

/** Collects the writes of one batch; nothing runs until the callback returns. */
export interface WrBatchWriter {
  memcpy(dst: number, src: Uint8Array): void;
  memset(dst: number, byte: number, len: number): void;
  assign(dst: number, value: number | bigint, size: WrSize): void;
  /** A canonical 8-byte kernel pointer. */
  ptr(dst: number, ptr: number): void;
}

interface Request {
  /** Undefined for an empty memcpy/memset: its target is validated, nothing is written. */
  readonly op: WrOp | undefined;
  readonly va: unknown;
  readonly len: unknown;
  readonly what: string;
}

/** Builds the ops of a batch: values are checked as they are added, targets later. */
export function collectBatch(cpu: Cpu, fill: (w: WrBatchWriter) => void): Request[] {
  checkCpu(cpu);
  if (typeof fill !== 'function')
    throw new InvalidArgumentError('batch callback', fill, 'must be a function');
  const reqs: Request[] = [];
  let open = true;
  const add = (r: Request) => {
    // A writer kept past its callback would add writes no one validates or runs.
    if (!open)
      throw new InvalidArgumentError('batch writer', r.what, 'used after its callback returned');
    reqs.push(r);
  };
  const w: WrBatchWriter = {
    memcpy(dst, src) {
      if (!(src instanceof Uint8Array))
        throw new InvalidArgumentError('source', src, 'must be a Uint8Array');
      add({
        op: src.length > 0 ? { kind: 'write', va: dst, data: src.slice() } : undefined,
        va: dst,
        len: src.length,
        what: 'memcpy',
      });
    },
    memset(dst, byte, len) {
      if (typeof byte !== 'number' || !Number.isInteger(byte) || byte < 0 || byte > 255)
        throw new InvalidArgumentError('byte', byte, 'must be an integer in [0, 255]');
      add({
        op: len !== 0 ? { kind: 'set', va: dst, value: byte, len } : undefined,
        va: dst,
        len,
        what: 'memset',
      });
    },
    assign(dst, value, size) {
      const n = checkWrSize(cpu, 'wrBatch', dst, size);
      add({ op: scalarStore(dst, value, n), va: dst, len: n, what: 'assign' });
    },
    ptr(dst, ptr) {
      add({ op: pointerStore(dst, ptr), va: dst, len: 8, what: 'ptr' });
    },
  };
  try {
    fill(w);
  } finally {
    open = false;
  }
  return reqs;
}

/**
 * Validates every target of a batch; the first bad one is refused and nothing runs. Empty
 * copies and fills are validated (their address) and then dropped.
 */
export function planBatch(cpu: Cpu, operation: string, reqs: readonly Request[]): PlannedOp[] {
  if (!Array.isArray(reqs)) throw new InvalidArgumentError('requests', reqs, 'must be an array');
  const out: PlannedOp[] = [];
  for (const r of reqs) {
    // The target is what the op itself writes: a request cannot name one address and
    // carry an op for another.
    const op = r?.op;
    const va = op ? op.va : r?.va;
    const len = !op
      ? r?.len
      : op.kind === 'write'
        ? op.data.length
        : op.kind === 'set'
          ? op.len
          : op.size;
    const target = validateTarget(cpu, operation, va, len, 1, op === undefined);
    if (op) out.push({ op, target });
  }
  return out;
}

/**
 * `wrBatch`: runs many writes with as few windows as the mechanism allows. Every target
 * is validated before any byte moves. With a batchable mechanism, consecutive writes to
 * the same area (or section) share one window; otherwise each write gets its own. Writes
 * run in the order they were added. Returns the ops, plain ops, sessions and windows.
 */
export function* wrBatchSteps(cpu: Cpu, fill: (w: WrBatchWriter) => void): Steps<WrRunResult> {
  const planned = planBatch(cpu, 'wrBatch', collectBatch(cpu, fill));
  return yield* runPlanned(cpu, planned, true);
}

export function wrBatch(cpu: Cpu, fill: (w: WrBatchWriter) => void): WrRunResult {
  return runPlannedSync(cpu, planBatch(cpu, 'wrBatch', collectBatch(cpu, fill)), true);
}
