import { createMachine, drain, Machine, type WrOp, sessionOf } from '@prmem/core';
import { backend, type MechanismName, x86Arch } from '../../src/index.js';

export interface TestMachineOptions {
  cpus?: number;
  mechanism?: MechanismName;
  memoryMiB?: number;
  seed?: number;
  tlbEntries?: number;
}

export async function machine(opts: TestMachineOptions = {}): Promise<Machine> {
  return createMachine({
    arch: backend,
    cpus: opts.cpus ?? 2,
    memoryMiB: opts.memoryMiB ?? 8,
    mechanism: opts.mechanism,
    seed: opts.seed ?? 1,
    tlbEntries: opts.tlbEntries,
  });
}

/** A booted machine with a protected write-rare static and a protected write-rare area. */
export async function wrMachine(opts: TestMachineOptions = {}) {
  const m = await machine(opts);
  const counter = m.defineStatic('.data..wr_after_init', 8, 'counter');
  const konst = m.defineStatic('.rodata', 8, 'konst');
  m.finishBoot();
  const owner = m.registerOwner('pool7');
  const area = m.vmalloc(3 * 4096, { range: 'wr', owner, name: 'pool7' });
  m.protect(area.start, area.size, 'wr', 0, owner);
  return { m, arch: x86Arch(m), counter, konst, area, owner };
}

export const set = (va: number, value: number, len: number): WrOp => ({
  kind: 'set',
  va,
  value,
  len,
});

export const write = (va: number, data: Uint8Array): WrOp => ({ kind: 'write', va, data });

export function runOps(m: Machine, cpu: number, ops: readonly WrOp[]): void {
  drain(sessionOf(m.mechanism, m.cpu(cpu), ops));
}

/** The same world as wrMachine, built synchronously (for explore()'s setup). */
export function wrMachineSync(opts: TestMachineOptions = {}) {
  const m = new Machine({
    backend,
    cpus: opts.cpus ?? 2,
    memoryMiB: opts.memoryMiB ?? 4,
    mechanism: opts.mechanism,
    seed: opts.seed ?? 1,
  });
  const counter = m.defineStatic('.data..wr_after_init', 8, 'counter');
  const konst = m.defineStatic('.rodata', 8, 'konst');
  m.finishBoot();
  return { m, counter, konst };
}
