import { type Cpu, InvalidArgumentError, type Steps, type WrOp } from '@prmem/core';
import { checkWrSize } from './assign.js';
import { type PlannedOp, runPlanned, runPlannedSync, type WrRunResult } from './engine.js';
import { checkTarget } from './target.js';
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
  readonly op: WrOp;
  readonly len: number;
  readonly what: string;
}

/** Builds the ops of a batch: values are checked as they are added, targets later. */
export function collectBatch(cpu: Cpu, fill: (w: WrBatchWriter) => void): Request[] {
  const reqs: Request[] = [];
  const w: WrBatchWriter = {
    memcpy(dst, src) {
      if (!(src instanceof Uint8Array))
        throw new InvalidArgumentError('source', src, 'must be a Uint8Array');
      if (src.length > 0)
        reqs.push({
          op: { kind: 'write', va: dst, data: src.slice() },
          len: src.length,
          what: 'memcpy',
        });
    },
    memset(dst, byte, len) {
      if (typeof byte !== 'number' || !Number.isInteger(byte) || byte < 0 || byte > 255)
        throw new InvalidArgumentError('byte', byte, 'must be an integer in [0, 255]');
      if (len !== 0)
        reqs.push({ op: { kind: 'set', va: dst, value: byte, len }, len, what: 'memset' });
    },
    assign(dst, value, size) {
      const n = checkWrSize(cpu, 'wrBatch', dst, size);
      reqs.push({ op: scalarStore(dst, value, n), len: n, what: 'assign' });
    },
    ptr(dst, ptr) {
      reqs.push({ op: pointerStore(dst, ptr), len: 8, what: 'ptr' });
    },
  };
  fill(w);
  return reqs;
}

/** Validates every target of a batch; the first bad one is refused and nothing runs. */
export function planBatch(cpu: Cpu, operation: string, reqs: readonly Request[]): PlannedOp[] {
  return reqs.map((r) => ({ op: r.op, target: checkTarget(cpu, operation, r.op.va, r.len) }));
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
