import { createMachine, drain, type Machine, type WrOp, sessionOf } from '@prmem/core';
import { arm64Of, backend, type El2 } from '../../src/index.js';

export async function arm64Machine(
  opts: { cpus?: number; mechanism?: 'hyp-assist' | 'alias-mm'; seed?: number } = {},
): Promise<Machine> {
  return createMachine({
    arch: backend,
    cpus: opts.cpus ?? 2,
    memoryMiB: 16,
    seed: opts.seed ?? 1,
    ...(opts.mechanism ? { mechanism: opts.mechanism } : {}),
  });
}

export function el2(m: Machine): El2 {
  return arm64Of(m).el2;
}

/** VTTBR_EL2's base: the stage-2 root. */
export function vttbr(m: Machine): number {
  return el2(m).stage2.rootPa;
}

/** Runs one write-rare session of the machine's mechanism on `cpu`. */
export function wr(m: Machine, cpu: number, ops: WrOp[]): void {
  drain(sessionOf(m.mechanism, m.cpu(cpu), ops));
}

export function bytesOf(...v: number[]): Uint8Array {
  return new Uint8Array(v);
}

/** A protected write-rare area (in the reserved range) and a read-only one, adjacent pages apart. */
export function protectedAreas(m: Machine, pages = 2) {
  const wrArea = m.vmalloc(pages * 4096, { range: 'wr', name: 'wr-area' });
  const roArea = m.vmalloc(pages * 4096, { range: 'wr', name: 'ro-area' });
  const cpu = m.cpu(0);
  for (let i = 0; i < pages * 4096; i += 4) {
    cpu.write32(wrArea.start + i, 0x11110000 + i);
    cpu.write32(roArea.start + i, 0x22220000 + i);
  }
  m.protect(wrArea.start, wrArea.size, 'wr');
  m.protect(roArea.start, roArea.size, 'ro');
  return { wrArea, roArea };
}

/** Offsets where two memory images differ (vitest's deep equality is far too slow for MiBs). */
export function diffBytes(a: Uint8Array, b: Uint8Array): number[] {
  const out: number[] = [];
  if (Buffer.compare(a, b) === 0) return out;
  for (let i = 0; i < a.length && out.length < 16; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}
