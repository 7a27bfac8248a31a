import * as addr from './addr.js';
import type { Step, Steps, WrOp } from './backend.js';
import * as costs from './costs.js';
import { InvalidArgumentError } from './errors.js';
import type { Cpu } from './cpu.js';

import type { Machine } from './machine.js';
import { type StepProgram, stepsOf } from './program.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { PAGE_MASK, PAGE_SIZE } = addr;
const { EV } = costs;

/** Bytes an op writes. */
export function opLength(op: WrOp): number {
  return op.kind === 'write' ? op.data.length : op.kind === 'set' ? op.len : op.size;
}

/** A scalar store's value must fit its size, as the CPU's stores check theirs. */
function checkStore(op: { readonly size: number; readonly lo: number; readonly hi: number }): void {
  const { size, lo, hi } = op;
  // `x >>> 0 === x`: an integer in [0, 2^32), without a call (this runs on every store).
  const fits =
    lo >>> 0 === lo &&
    hi >>> 0 === hi &&
    (size === 8 || (hi === 0 && (size === 4 || lo < (size === 2 ? 0x1_0000 : 0x100))));
  if (!fits) badStore(size, lo, hi);
}

function badStore(size: number, lo: number, hi: number): never {
  throw new InvalidArgumentError('store value', [lo, hi], `does not fit in ${size} bytes`);
}

/** The little-endian bytes a scalar store writes (its value checked first). */
export function storeBytes(op: {
  readonly size: number;
  readonly lo: number;
  readonly hi: number;
}): Uint8Array {
  checkStore(op);
  const b = new Uint8Array(op.size);
  for (let i = 0; i < op.size; i++)
    b[i] = (i < 4 ? op.lo >>> (8 * i) : op.hi >>> (8 * (i - 4))) & 0xff;
  return b;
}

/** The bytes a write, set or store op writes (not an rmw: its bytes depend on memory). */
function opBytes(op: Exclude<WrOp, { kind: 'rmw' }>): Uint8Array {
  return op.kind === 'write'
    ? op.data
    : op.kind === 'store'
      ? storeBytes(op)
      : new Uint8Array(op.len).fill(op.value);
}

/** The smallest range covering every op: [start, end). */
export function opsSpan(ops: readonly WrOp[]): { start: number; end: number } {
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  for (const op of ops) {
    start = Math.min(start, op.va);
    end = Math.max(end, op.va + opLength(op));
  }
  return { start, end };
}

/** Step labels are constants: building strings per store would cost more than the store. */
const STORE_LABEL: Record<number, string> = {
  1: 'store 1B',
  2: 'store 2B',
  4: 'store 4B',
  8: 'store 8B',
};

function isAtomicSize(n: number): n is 1 | 2 | 4 | 8 {
  return n === 1 || n === 2 || n === 4 || n === 8;
}

/** Little-endian value of up to 8 bytes. */
export function toBig(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}

/** The `size` little-endian bytes of `v` (its low 8·size bits, two's complement). */
export function fromBig(v: bigint, size: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = BigInt.asUintN(size * 8, v);
  for (let i = 0; i < size; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

/**
 * Performs `op` at `op.va + delta` if it is a single store: an aligned 1/2/4/8-byte
 * write or set, which no schedule can see torn. Returns its step label, or `undefined`
 * (nothing done) for an op that takes several steps.
 */
function storeOp(cpu: Cpu, op: WrOp, delta: number, counters = true): string | undefined {
  if (op.kind === 'rmw') return undefined;
  // `&`: exact on an integer VA, and no float modulo on every store.
  if (op.kind === 'store') {
    if ((op.va & (op.size - 1)) !== 0) return undefined;
    checkStore(op); // before the store: a bad value writes nothing
    storeParts(cpu, op.va + delta, op.size, op.lo, op.hi);
  } else {
    const len = op.kind === 'write' ? op.data.length : op.len;
    if (!isAtomicSize(len) || (op.va & (len - 1)) !== 0) return undefined;
    storeAtomic(cpu, op.va + delta, opBytes(op));
  }
  const len = opLength(op);
  if (counters) cpu.machineCounters.charge(cpu.id, EV.wrBytes, len);
  return STORE_LABEL[len];
}

/**
 * Performs ops through the CPU's MMU at `va + delta` (delta: the alias offset, 0 to write
 * in place; one per op, or one for all). An aligned 1/2/4/8-byte write or rmw is one
 * store, one step: no schedule can see it torn. Longer writes step once per page.
 */
export class OpWriter implements StepProgram {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare private readonly cpu: Cpu;
  declare private readonly ops: readonly WrOp[];
  declare private readonly counters: boolean;
  declare private i: number;
  /** Bytes of op `i` already written (a copy that spans pages). */
  declare private done: number;
  /** One delta for every op, unless `deltas` gives one per op (fields of one type each). */
  declare private readonly delta: number;
  declare private readonly deltas: readonly number[] | null;

  constructor(cpu: Cpu, ops: readonly WrOp[], delta: number | readonly number[], counters = true) {
    this.cpu = cpu;
    this.ops = ops;
    this.counters = counters;
    this.i = 0;
    this.done = 0;
    this.delta = typeof delta === 'number' ? delta : 0;
    this.deltas = typeof delta === 'number' ? null : delta;
  }

  step(): Step | null {
    if (this.i >= this.ops.length) return null;
    const { cpu, counters } = this;
    const op = this.ops[this.i];
    const delta = this.deltas === null ? this.delta : this.deltas[this.i];
    const label = storeOp(cpu, op, delta, counters);
    if (label !== undefined) {
      this.i++;
      return label;
    }
    const at = op.va + delta;
    if (op.kind === 'rmw') {
      const old = toBig(cpu.readBytes(at, op.size));
      op.old = old;
      storeAtomic(cpu, at, fromBig(op.fn(old), op.size));
      this.next(op.size);
      return 'rmw';
    }
    const len = opLength(op);
    if (len === 0) {
      this.next(0);
      return this.step();
    }
    const from = this.done;
    const n = Math.min(len - from, PAGE_SIZE - ((at + from) % PAGE_SIZE));
    cpu.writeBytes(
      at + from,
      op.kind === 'set' ? new Uint8Array(n).fill(op.value) : opBytes(op).subarray(from, from + n),
    );
    this.done += n;
    if (this.done === len) this.next(len);
    return `copy ${n}B`;
  }

  /** A write changes what it changed; there is nothing to undo. */
  abort(): void {}

  private next(bytes: number): void {
    if (this.counters) this.cpu.machineCounters.charge(this.cpu.id, EV.wrBytes, bytes);
    this.i++;
    this.done = 0;
  }
}

/** The ops of `OpWriter` as scheduler steps. */
export function applyOpsViaCpu(
  cpu: Cpu,
  ops: readonly WrOp[],
  delta: number | readonly number[],
  counters = true,
): Steps {
  return stepsOf(new OpWriter(cpu, ops, delta, counters));
}

/** One aligned store of `size` bytes whose value is `lo`/`hi`. */
function storeParts(cpu: Cpu, va: number, size: number, lo: number, hi: number): void {
  if (size === 8) cpu.write64parts(va, lo, hi);
  else if (size === 4) cpu.write32(va, lo);
  else if (size === 2) cpu.write16(va, lo);
  else cpu.write8(va, lo);
}

function storeAtomic(cpu: Cpu, va: number, b: Uint8Array): void {
  switch (b.length) {
    case 1:
      cpu.write8(va, b[0]);
      return;
    case 2:
      cpu.write16(va, b[0] | (b[1] << 8));
      return;
    case 4:
      cpu.write32(va, (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0);
      return;
    case 8:
      cpu.write64parts(
        va,
        (b[0] | (b[1] << 8) | (b[2] << 16) | (b[3] << 24)) >>> 0,
        (b[4] | (b[5] << 8) | (b[6] << 16) | (b[7] << 24)) >>> 0,
      );
      return;
    default:
      cpu.writeBytes(va, b);
  }
}

/**
 * Writes bytes [from, from + n) of a write, set or store op at `pa` of physical memory.
 * A store's bytes are taken from its value as they are written (no byte array).
 */
function physChunk(
  mem: Uint8Array,
  op: Exclude<WrOp, { kind: 'rmw' }>,
  from: number,
  n: number,
  pa: number,
): void {
  if (op.kind === 'set') mem.fill(op.value, pa, pa + n);
  else if (op.kind === 'write') mem.set(op.data.subarray(from, from + n), pa);
  else {
    checkStore(op);
    for (let k = from; k < from + n; k++)
      mem[pa + k - from] = (k < 4 ? op.lo >>> (8 * k) : op.hi >>> (8 * (k - 4))) & 0xff;
  }
}

/** An rmw at `pa`: reads the old value into `op.old`, stores `op.fn(old)`. */
function physRmw(mem: Uint8Array, op: Extract<WrOp, { kind: 'rmw' }>, pa: number): void {
  const old = toBig(mem.subarray(pa, pa + op.size));
  op.old = old;
  mem.set(fromBig(op.fn(old), op.size), pa);
}

/**
 * Performs one op directly in physical memory (a hypervisor writing on the kernel's
 * behalf), all at once: page k of the op's range is the frame at `pas[k]` (the caller
 * translated and validated the whole target; `pages` of them).
 */
export function applyOpPhys(
  m: Machine,
  cpu: Cpu,
  op: WrOp,
  pas: readonly number[],
  pages: number,
): void {
  const mem = m.phys.bytes;
  const len = opLength(op);
  const off = op.va & PAGE_MASK;
  if (op.kind === 'rmw') {
    if (pages < 1) badPages(op.va, pages);
    physRmw(mem, op, pas[0] + off);
  } else {
    if (pages * PAGE_SIZE < off + len) badPages(op.va, pages);
    for (let done = 0, k = 0; done < len; k++) {
      const at = k === 0 ? off : 0;
      const n = Math.min(len - done, PAGE_SIZE - at);
      physChunk(mem, op, done, n, pas[k] + at);
      done += n;
    }
  }
  m.counters.charge(cpu.id, EV.wrBytes, len);
}

function badPages(va: number, pages: number): never {
  throw new InvalidArgumentError('pages', pages, `do not cover the op at ${va}`);
}

/**
 * Performs ops directly in physical memory (a hypervisor writing on the kernel's behalf);
 * `toPa` translates a kernel VA (the caller has validated the whole target).
 */
export function* applyOpsPhys(
  m: Machine,
  cpu: Cpu,
  ops: readonly WrOp[],
  toPa: (va: number) => number,
): Steps {
  const mem = m.phys.bytes;
  for (const op of ops) {
    const len = opLength(op);
    if (op.kind === 'rmw') {
      physRmw(mem, op, toPa(op.va));
      yield `el2 rmw ${op.size}B`;
    } else {
      let done = 0;
      while (done < len) {
        const va = op.va + done;
        const n = Math.min(len - done, PAGE_SIZE - (va % PAGE_SIZE));
        physChunk(mem, op, done, n, toPa(va));
        done += n;
        yield `el2 write ${n}B`;
      }
    }
    m.counters.charge(cpu.id, EV.wrBytes, len);
  }
}
