import { type Cpu, drain, InvalidArgumentError, type Steps, type WrOp } from '@prmem/core';
import { checkWrSize } from './assign.js';
import { runPlanned } from './engine.js';
import { validateTarget } from './target.js';
import { signed, toUnsigned, type WrSize } from './values.js';

/**
 * One read-modify-write through write-rare: the mechanism reads the old value and stores
 * `fn(old)` in the same step, so no other CPU can interleave (a LOCK-prefixed
 * instruction, an LL/SC loop, or the hypervisor's xchg/cmpxchg/add). The target must be
 * naturally aligned, as for the kernel's atomics. Returns the old value (unsigned bits).
 *
 * `fn` runs inside the write window, so it cannot be checked beforehand: if it throws or
 * returns something that is not an integer of `size` bytes (bigint, signed or unsigned
 * reading), the old value is stored back unchanged (as a failed cmpxchg does), the
 * window closes normally, and the error (fn's own, or an InvalidArgumentError for a bad
 * result) is thrown afterwards.
 */
export function* wrRmwSteps(
  cpu: Cpu,
  operation: string,
  dst: number,
  size: WrSize,
  fn: (old: bigint) => bigint,
): Steps<bigint> {
  const n = checkWrSize(cpu, operation, dst, size);
  if (typeof fn !== 'function')
    throw new InvalidArgumentError('rmw function', fn, 'must be a function of the old value');
  const target = validateTarget(cpu, operation, dst, n, n, false);
  const bits = BigInt(n * 8);
  let failure: unknown;
  const guarded = (old: bigint): bigint => {
    try {
      const v = fn(old);
      if (typeof v === 'bigint' && v >= -(1n << (bits - 1n)) && v < 1n << bits)
        return BigInt.asUintN(n * 8, v);
      failure = new InvalidArgumentError(
        'rmw result',
        v,
        `must be a bigint that fits in ${n} bytes`,
      );
    } catch (e) {
      failure = e;
    }
    return old;
  };
  const op: WrOp & { kind: 'rmw' } = { kind: 'rmw', va: dst, size: n, fn: guarded, old: 0n };
  yield* runPlanned(cpu, [{ op, target }], false);
  if (failure !== undefined) throw failure;
  return BigInt.asUintN(n * 8, op.old);
}

const addFn = (delta: bigint, size: WrSize) => (old: bigint) =>
  BigInt.asUintN(size * 8, old + delta);

/**
 * `atomic_long_add_return` on a write-rare slot: adds `delta` and returns the NEW value,
 * read as a signed integer of `size` bytes (default 8, atomic_long_t; 4 is atomic_t).
 */
export function* wrAddSteps(
  cpu: Cpu,
  dst: number,
  delta: number | bigint,
  size: WrSize = 8,
  operation = 'wrAdd',
): Steps<bigint> {
  const d = toUnsigned(delta, checkWrSize(cpu, operation, dst, size), 'delta');
  const old = yield* wrRmwSteps(cpu, operation, dst, size, addFn(d, size));
  return signed(old + d, size);
}

/** `atomic_long_sub_return`: subtracts and returns the new value (signed). */
export function* wrSubSteps(
  cpu: Cpu,
  dst: number,
  delta: number | bigint,
  size: WrSize = 8,
): Steps<bigint> {
  const d = toUnsigned(delta, checkWrSize(cpu, 'wrSub', dst, size), 'delta');
  return yield* wrAddSteps(cpu, dst, BigInt.asUintN(size * 8, -d), size, 'wrSub');
}

/** `atomic_long_xchg`: stores `value`, returns the OLD value (unsigned bits). */
export function* wrXchgSteps(
  cpu: Cpu,
  dst: number,
  value: number | bigint,
  size: WrSize = 8,
): Steps<bigint> {
  const v = toUnsigned(value, checkWrSize(cpu, 'wrXchg', dst, size));
  return yield* wrRmwSteps(cpu, 'wrXchg', dst, size, () => v);
}

/**
 * `atomic_long_cmpxchg`: stores `value` only if the slot holds `expected`; returns the
 * OLD value (unsigned bits) either way, so success is `old === BigInt.asUintN(8·size,
 * expected)`. As LOCK CMPXCHG does, a failed compare writes the old value back.
 */
export function* wrCmpxchgSteps(
  cpu: Cpu,
  dst: number,
  expected: number | bigint,
  value: number | bigint,
  size: WrSize = 8,
): Steps<bigint> {
  const n = checkWrSize(cpu, 'wrCmpxchg', dst, size);
  const e = toUnsigned(expected, n, 'expected');
  const v = toUnsigned(value, n);
  return yield* wrRmwSteps(cpu, 'wrCmpxchg', dst, size, (old) => (old === e ? v : old));
}

/** `atomic_long_inc_return` (Steps form). */
export const wrIncSteps = (cpu: Cpu, dst: number, size: WrSize = 8): Steps<bigint> =>
  wrAddSteps(cpu, dst, 1, size, 'wrInc');
/** `atomic_long_dec_return` (Steps form). */
export const wrDecSteps = (cpu: Cpu, dst: number, size: WrSize = 8): Steps<bigint> =>
  wrAddSteps(cpu, dst, -1, size, 'wrDec');

export const wrAdd = (cpu: Cpu, dst: number, delta: number | bigint, size: WrSize = 8): bigint =>
  drain(wrAddSteps(cpu, dst, delta, size));
export const wrSub = (cpu: Cpu, dst: number, delta: number | bigint, size: WrSize = 8): bigint =>
  drain(wrSubSteps(cpu, dst, delta, size));
/** `atomic_long_inc_return`: the new value (signed). */
export const wrInc = (cpu: Cpu, dst: number, size: WrSize = 8): bigint =>
  drain(wrAddSteps(cpu, dst, 1, size, 'wrInc'));
/** `atomic_long_dec_return`: the new value (signed). */
export const wrDec = (cpu: Cpu, dst: number, size: WrSize = 8): bigint =>
  drain(wrAddSteps(cpu, dst, -1, size, 'wrDec'));
export const wrXchg = (cpu: Cpu, dst: number, value: number | bigint, size: WrSize = 8): bigint =>
  drain(wrXchgSteps(cpu, dst, value, size));
export const wrCmpxchg = (
  cpu: Cpu,
  dst: number,
  expected: number | bigint,
  value: number | bigint,
  size: WrSize = 8,
): bigint => drain(wrCmpxchgSteps(cpu, dst, expected, value, size));
