import { PAGE_SIZE } from './addr.js';
import type { Steps, WrOp } from './backend.js';
import { EV } from './costs.js';
import type { Cpu } from './cpu.js';

import type { Machine } from './machine.js';

/** Bytes an op writes. */
export function opLength(op: WrOp): number {
  return op.kind === 'write' ? op.data.length : op.kind === 'set' ? op.len : op.size;
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
function toBig(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}

function fromBig(v: bigint, size: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = BigInt.asUintN(size * 8, v);
  for (let i = 0; i < size; i++) {
    b[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  return b;
}

/**
 * Performs ops through the CPU's MMU at `va + delta` (delta: the alias offset, 0 to write
 * in place). An aligned 1/2/4/8-byte write or rmw is one store, one step: no schedule can
 * see it torn. Longer writes step once per page.
 */
export function* applyOpsViaCpu(
  cpu: Cpu,
  ops: readonly WrOp[],
  delta: number,
  counters = true,
): Steps {
  for (const op of ops) {
    const at = op.va + delta;
    if (op.kind === 'rmw') {
      const old = toBig(cpu.readBytes(at, op.size));
      op.old = old;
      storeAtomic(cpu, at, fromBig(op.fn(old), op.size));
      yield 'rmw';
    } else {
      const len = opLength(op);
      if (isAtomicSize(len) && op.va % len === 0) {
        const data = op.kind === 'write' ? op.data : new Uint8Array(len).fill(op.value);
        storeAtomic(cpu, at, data);
        yield STORE_LABEL[len];
      } else {
        let done = 0;
        while (done < len) {
          const n = Math.min(len - done, PAGE_SIZE - ((at + done) % PAGE_SIZE));
          const chunk =
            op.kind === 'write'
              ? op.data.subarray(done, done + n)
              : new Uint8Array(n).fill(op.value);
          cpu.writeBytes(at + done, chunk);
          done += n;
          yield `copy ${n}B`;
        }
      }
    }
    if (counters) cpu.machineCounters.charge(cpu.id, EV.wrBytes, opLength(op));
  }
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
      const pa = toPa(op.va);
      const old = toBig(mem.subarray(pa, pa + op.size));
      op.old = old;
      mem.set(fromBig(op.fn(old), op.size), pa);
      yield `el2 rmw ${op.size}B`;
    } else {
      let done = 0;
      while (done < len) {
        const va = op.va + done;
        const n = Math.min(len - done, PAGE_SIZE - (va % PAGE_SIZE));
        const pa = toPa(va);
        if (op.kind === 'write') mem.set(op.data.subarray(done, done + n), pa);
        else mem.fill(op.value, pa, pa + n);
        done += n;
        yield `el2 write ${n}B`;
      }
    }
    m.counters.charge(cpu.id, EV.wrBytes, len);
  }
}
