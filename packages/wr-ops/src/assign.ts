import { type Cpu, InvalidArgumentError, type Steps } from '@prmem/core';
import { type PlannedOp, runOneSync, runPlanned, type WrRunResult } from './engine.js';
import { checkCpu, refuse, validateTarget } from './target.js';
import { isWrSize, pointerStore, scalarStore, type WrSize } from './values.js';

/** Checks the size operand of a single store or atomic (part of the target). */
export function checkWrSize(cpu: Cpu, operation: string, dst: unknown, size: unknown): WrSize {
  checkCpu(cpu);
  if (typeof operation !== 'string')
    throw new InvalidArgumentError('operation', operation, 'must be a string');
  if (!isWrSize(size)) refuse(cpu, operation, dst, size, 'bad-size', 'size must be 1, 2, 4 or 8');
  return size;
}

/**
 * `wr_assign`: stores a `size`-byte integer at `dst` through write-rare. A naturally
 * aligned store is one single-copy-atomic store (no CPU can see it torn); an unaligned
 * one is allowed (as an unaligned WRITE_ONCE is) but is a byte copy, not atomic.
 */
export function* wrAssignSteps(
  cpu: Cpu,
  dst: number,
  value: number | bigint,
  size: WrSize,
  operation = 'wrAssign',
): Steps<WrRunResult> {
  return yield* runPlanned(cpu, [planAssign(cpu, dst, value, size, operation)], false);
}

/** Validates an assignment (nothing moves yet) and builds its op. */
function planAssign(
  cpu: Cpu,
  dst: number,
  value: number | bigint,
  size: WrSize,
  operation: string,
): PlannedOp {
  const n = checkWrSize(cpu, operation, dst, size);
  const op = scalarStore(dst, value, n);
  return { op, target: validateTarget(cpu, operation, dst, n, 1, false) };
}

/** The synchronous forms run the same plan with no scheduler in between. */
const assign = (
  cpu: Cpu,
  dst: number,
  value: number | bigint,
  size: WrSize,
  operation: string,
): WrRunResult => runOneSync(cpu, planAssign(cpu, dst, value, size, operation));

export const wrAssign = (cpu: Cpu, dst: number, value: number | bigint, size: WrSize) =>
  assign(cpu, dst, value, size, 'wrAssign');
export const wrU8 = (cpu: Cpu, dst: number, v: number) => assign(cpu, dst, v, 1, 'wrU8');
export const wrU16 = (cpu: Cpu, dst: number, v: number) => assign(cpu, dst, v, 2, 'wrU16');
export const wrU32 = (cpu: Cpu, dst: number, v: number) => assign(cpu, dst, v, 4, 'wrU32');
export const wrU64 = (cpu: Cpu, dst: number, v: number | bigint) => assign(cpu, dst, v, 8, 'wrU64');
/** `wr_int`: a C int (4 bytes, signed or unsigned reading). */
export const wrInt = (cpu: Cpu, dst: number, v: number) => assign(cpu, dst, v, 4, 'wrInt');
/** `wr_long`: a C long on LP64 (8 bytes). */
export const wrLong = (cpu: Cpu, dst: number, v: number | bigint) =>
  assign(cpu, dst, v, 8, 'wrLong');
/** `wr_bool`: a C bool (1 byte). Only `true`/`false` (or 0/1) are accepted: no truthiness. */
export const wrBool = (cpu: Cpu, dst: number, v: boolean) =>
  assign(cpu, dst, boolByte(v), 1, 'wrBool');

function boolByte(v: unknown): 0 | 1 {
  if (v === true || v === 1) return 1;
  if (v === false || v === 0) return 0;
  throw new InvalidArgumentError('bool value', v, 'must be true, false, 0 or 1');
}

/** Validates a pointer store and builds its op. */
function planPtr(cpu: Cpu, dst: number, ptr: number, operation: string, align = 1): PlannedOp {
  const op = pointerStore(dst, ptr);
  return { op, target: validateTarget(cpu, operation, dst, 8, align, false) };
}

/** Stores a kernel pointer (a 48-bit VA, 0 for NULL) in canonical 8-byte form. */
export function* wrPtrSteps(
  cpu: Cpu,
  dst: number,
  ptr: number,
  operation = 'wrPtr',
): Steps<WrRunResult> {
  return yield* runPlanned(cpu, [planPtr(cpu, dst, ptr, operation)], false);
}

export function wrPtr(cpu: Cpu, dst: number, ptr: number): WrRunResult {
  return runOneSync(cpu, planPtr(cpu, dst, ptr, 'wrPtr'));
}

/**
 * `wr_rcu_assign_pointer`: a full barrier (smp_mb, as prmem does; stronger than the
 * release store of rcu_assign_pointer), then one single-copy-atomic 8-byte store of the
 * canonical pointer. The slot must be 8-byte aligned.
 */
export function* wrRcuAssignPointerSteps(cpu: Cpu, slot: number, ptr: number): Steps<WrRunResult> {
  const planned = planPtr(cpu, slot, ptr, 'wrRcuAssignPointer', 8);
  cpu.smpMb();
  yield 'smp_mb';
  return yield* runPlanned(cpu, [planned], false);
}

export function wrRcuAssignPointer(cpu: Cpu, slot: number, ptr: number): WrRunResult {
  const planned = planPtr(cpu, slot, ptr, 'wrRcuAssignPointer', 8);
  cpu.smpMb();
  return runOneSync(cpu, planned);
}
