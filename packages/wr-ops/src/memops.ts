import { type Cpu, checkVa, InvalidArgumentError, type Steps } from '@prmem/core';
import { NO_RUN, type PlannedOp, runOneSync, runPlanned, type WrRunResult } from './engine.js';
import { checkCpu, validateTarget } from './target.js';

/**
 * Validates a copy and takes its bytes (the operation copies `src` when it starts, so a
 * caller changing `src` afterwards changes nothing); undefined for an empty copy, which
 * writes nothing but still has its target validated, as the series' `__wr_op` checks the
 * range before it looks at the length (`low <= high`: n = 0 passes only on a write-rare
 * address).
 */
function planMemcpy(
  cpu: Cpu,
  dst: number,
  src: Uint8Array,
  operation: string,
): PlannedOp | undefined {
  checkCpu(cpu);
  if (!(src instanceof Uint8Array))
    throw new InvalidArgumentError('source', src, 'must be a Uint8Array');
  const target = validateTarget(cpu, operation, dst, src.length, 1, true);
  if (src.length === 0) return undefined;
  return { op: { kind: 'write', va: dst, data: src.slice() }, target };
}

/** `wr_memcpy`: copies `src` to `dst` through write-rare. */
export function* wrMemcpySteps(
  cpu: Cpu,
  dst: number,
  src: Uint8Array,
  operation = 'wrMemcpy',
): Steps<WrRunResult> {
  const p = planMemcpy(cpu, dst, src, operation);
  return p ? yield* runPlanned(cpu, [p], false) : NO_RUN;
}

export function wrMemcpy(cpu: Cpu, dst: number, src: Uint8Array): WrRunResult {
  const p = planMemcpy(cpu, dst, src, 'wrMemcpy');
  return p ? runOneSync(cpu, p) : NO_RUN;
}

/**
 * Validates a copy from kernel VA `srcVa` and reads the source through `cpu`'s MMU first
 * (a fault there leaves the destination untouched).
 */
function planMemcpyFrom(cpu: Cpu, dst: number, srcVa: number, len: number): PlannedOp | undefined {
  const target = validateTarget(cpu, 'wrMemcpyFrom', dst, len, 1, true);
  checkVa(srcVa, 'source address');
  if (len === 0) return undefined;
  return { op: { kind: 'write', va: dst, data: cpu.readBytes(srcVa, len) }, target };
}

/** Copies `len` bytes from kernel VA `srcVa` to `dst` through write-rare. */
export function* wrMemcpyFromSteps(
  cpu: Cpu,
  dst: number,
  srcVa: number,
  len: number,
): Steps<WrRunResult> {
  const p = planMemcpyFrom(cpu, dst, srcVa, len);
  return p ? yield* runPlanned(cpu, [p], false) : NO_RUN;
}

export function wrMemcpyFrom(cpu: Cpu, dst: number, srcVa: number, len: number): WrRunResult {
  const p = planMemcpyFrom(cpu, dst, srcVa, len);
  return p ? runOneSync(cpu, p) : NO_RUN;
}

/** Validates a fill; undefined for an empty one (its target validated all the same). */
function planMemset(cpu: Cpu, dst: number, byte: number, len: number): PlannedOp | undefined {
  checkCpu(cpu);
  if (typeof byte !== 'number' || !Number.isInteger(byte) || byte < 0 || byte > 255)
    throw new InvalidArgumentError('byte', byte, 'must be an integer in [0, 255]');
  const target = validateTarget(cpu, 'wrMemset', dst, len, 1, true);
  if (len === 0) return undefined;
  return { op: { kind: 'set', va: dst, value: byte, len }, target };
}

/** `wr_memset`: fills [dst, dst+len) with `byte` through write-rare. */
export function* wrMemsetSteps(
  cpu: Cpu,
  dst: number,
  byte: number,
  len: number,
): Steps<WrRunResult> {
  const p = planMemset(cpu, dst, byte, len);
  return p ? yield* runPlanned(cpu, [p], false) : NO_RUN;
}

export function wrMemset(cpu: Cpu, dst: number, byte: number, len: number): WrRunResult {
  const p = planMemset(cpu, dst, byte, len);
  return p ? runOneSync(cpu, p) : NO_RUN;
}
