import { type Cpu, InvalidArgumentError, type Steps } from '@prmem/core';
import { NO_RUN, type PlannedOp, runOneSync, runPlanned, type WrRunResult } from './engine.js';
import { checkTarget } from './target.js';

/**
 * Validates a copy and takes its bytes (the operation copies `src` when it starts, so a
 * caller changing `src` afterwards changes nothing); undefined for an empty copy, which
 * writes nothing and validates nothing (as memcpy with n = 0).
 */
function planMemcpy(
  cpu: Cpu,
  dst: number,
  src: Uint8Array,
  operation: string,
): PlannedOp | undefined {
  if (!(src instanceof Uint8Array))
    throw new InvalidArgumentError('source', src, 'must be a Uint8Array');
  if (src.length === 0) return undefined;
  const target = checkTarget(cpu, operation, dst, src.length);
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
  const operation = 'wrMemcpyFrom';
  if (len === 0) return undefined;
  checkTarget(cpu, operation, dst, len);
  return planMemcpy(cpu, dst, cpu.readBytes(srcVa, len), operation);
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

/** Validates a fill; undefined for an empty one. */
function planMemset(cpu: Cpu, dst: number, byte: number, len: number): PlannedOp | undefined {
  if (typeof byte !== 'number' || !Number.isInteger(byte) || byte < 0 || byte > 255)
    throw new InvalidArgumentError('byte', byte, 'must be an integer in [0, 255]');
  if (len === 0) return undefined;
  const target = checkTarget(cpu, 'wrMemset', dst, len);
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
