import { createMachine, drain, Machine, type VmapArea, type WrOp, sessionOf } from '@prmem/core';
import { backend, createNommuBackend, type NommuOptions } from '../src/index.js';

export interface World {
  readonly m: Machine;
  readonly area: VmapArea;
  /** A u32 inside the protected write-rare area. */
  readonly target: number;
}

/** A machine with one protected write-rare page holding `initial` at `target`. */
export async function wrWorld(
  opts: { cpus?: number; mechanism?: string; pages?: number; backendOpts?: NommuOptions } = {},
  initial = 0x1234_5678,
): Promise<World> {
  const m = await createMachine({
    arch: opts.backendOpts ? createNommuBackend(opts.backendOpts) : backend,
    cpus: opts.cpus ?? 2,
    memoryMiB: 16,
    mechanism: opts.mechanism,
  });
  const area = m.vmalloc((opts.pages ?? 1) * 4096, { range: 'wr', name: 'wr-test' });
  const target = area.start + 0x40;
  m.cpu(0).write32(target, initial);
  m.finishBoot();
  m.protect(area.start, area.size, 'wr');
  return { m, area, target };
}

/**
 * The same world built synchronously (the Machine constructor; createMachine only adds
 * config validation and backend resolution), small, for schedule exploration.
 */
export function wrWorldSync(mechanism: string, cpus = 2, initial = 0x1234_5678, pages = 1): World {
  const m = new Machine({ backend, cpus, memoryMiB: 4, mechanism });
  const area = m.vmalloc(pages * 4096, { range: 'wr', name: 'wr-test' });
  const target = area.start + 0x40;
  m.cpu(0).write32(target, initial);
  m.finishBoot();
  m.protect(area.start, area.size, 'wr');
  return { m, area, target };
}

export function u32Op(va: number, v: number): WrOp {
  const data = new Uint8Array(4);
  new DataView(data.buffer).setUint32(0, v >>> 0, true);
  return { kind: 'write', va, data };
}

export function wrWrite32(m: Machine, cpu: number, va: number, v: number): void {
  drain(sessionOf(m.mechanism, m.cpu(cpu), [u32Op(va, v)]));
}
