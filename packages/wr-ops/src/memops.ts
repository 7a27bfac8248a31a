import { type Cpu, drain, InvalidArgumentError, type Steps } from '@prmem/core';
import { NO_RUN, runPlanned, type WrRunResult } from './engine.js';
import { checkTarget } from './target.js';

/**
 * `wr_memcpy`: copies `src` to `dst` through write-rare. The bytes are copied when the
 * operation starts, so a caller changing `src` afterwards changes nothing. An empty copy
 * writes nothing and validates nothing (as memcpy with n = 0).
 */
export function* wrMemcpySteps(
  cpu: Cpu,
  dst: number,
  src: Uint8Array,
  operation = 'wrMemcpy',
): Steps<WrRunResult> {
  if (!(src instanceof Uint8Array))
    throw new InvalidArgumentError('source', src, 'must be a Uint8Array');
  if (src.length === 0) return NO_RUN;
  const target = checkTarget(cpu, operation, dst, src.length);
  return yield* runPlanned(
    cpu,
    [{ op: { kind: 'write', va: dst, data: src.slice() }, target }],
    false,
  );
}

export function wrMemcpy(cpu: Cpu, dst: number, src: Uint8Array): WrRunResult {
  return drain(wrMemcpySteps(cpu, dst, src));
}

/**
 * Copies `len` bytes from kernel VA `srcVa` (read through `cpu`'s MMU first: a fault
 * there leaves the destination untouched) to `dst` through write-rare.
 */
export function* wrMemcpyFromSteps(
  cpu: Cpu,
  dst: number,
  srcVa: number,
  len: number,
): Steps<WrRunResult> {
  const operation = 'wrMemcpyFrom';
  if (len === 0) return NO_RUN;
  checkTarget(cpu, operation, dst, len);
  const data = cpu.readBytes(srcVa, len);
  return yield* wrMemcpySteps(cpu, dst, data, operation);
}

export function wrMemcpyFrom(cpu: Cpu, dst: number, srcVa: number, len: number): WrRunResult {
  return drain(wrMemcpyFromSteps(cpu, dst, srcVa, len));
}

/** `wr_memset`: fills [dst, dst+len) with `byte` through write-rare. */
export function* wrMemsetSteps(
  cpu: Cpu,
  dst: number,
  byte: number,
  len: number,
): Steps<WrRunResult> {
  const operation = 'wrMemset';
  if (typeof byte !== 'number' || !Number.isInteger(byte) || byte < 0 || byte > 255)
    throw new InvalidArgumentError('byte', byte, 'must be an integer in [0, 255]');
  if (len === 0) return NO_RUN;
  const target = checkTarget(cpu, operation, dst, len);
  return yield* runPlanned(
    cpu,
    [{ op: { kind: 'set', va: dst, value: byte, len }, target }],
    false,
  );
}

export function wrMemset(cpu: Cpu, dst: number, byte: number, len: number): WrRunResult {
  return drain(wrMemsetSteps(cpu, dst, byte, len));
}
