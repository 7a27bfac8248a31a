/**
 * The backends and mechanisms pool tests run on: core's reference toy backend plus every
 * built-in arch package (core's registry; test-only imports, allowed by the layering rule).
 */
import { type BackendCombo, backendCombos, createMachine, type Machine } from '@prmem/core';
import { repositoryBackends, WORK_EVENTS } from '@prmem/core/testing';
import type { Pool } from '../../src/index.js';

export type Combo = BackendCombo;

export const BACKENDS = await repositoryBackends((pkg) => import(pkg));

/** Cost profiles change costs only: the tests run each backend's own. */
export const COMBOS: readonly Combo[] = backendCombos(BACKENDS, { profiles: false });

/** One combo per backend (its default mechanism), for the slower tests. */
export const DEFAULTS: readonly Combo[] = BACKENDS.map((backend) => ({
  label: `${backend.name}/${backend.defaultMechanism}`,
  arch: backend.name,
  backend,
  mechanism: backend.defaultMechanism,
}));

export async function machineFor(
  combo: Combo,
  opts: { cpus?: number; memoryMiB?: number; seed?: number; vaQuarantine?: number } = {},
): Promise<Machine> {
  return createMachine({
    arch: combo.backend,
    mechanism: combo.mechanism,
    cpus: opts.cpus ?? 2,
    memoryMiB: opts.memoryMiB ?? 16,
    seed: opts.seed ?? 3,
    ...(opts.vaQuarantine === undefined ? {} : { vaQuarantine: opts.vaQuarantine }),
  });
}

/** Everything an error path must leave as it was: frames, areas, the pool table, work done. */
export function snapshot(m: Machine) {
  const table = m.liveAreas.find((a) => a.name === 'pmalloc_pool_table');
  const ev = m.stats().events;
  return {
    work: WORK_EVENTS.map((k) => `${k}=${ev[k]}`).join(' '),
    table: table
      ? table.pfns
          .map((pfn) =>
            Buffer.from(m.phys.bytes.subarray(pfn * 4096, (pfn + 1) * 4096)).toString('base64'),
          )
          .join('')
      : '',
    free: m.phys.freeFrames,
    areas: m.liveAreas.map((a) => `${a.id}:${a.start}:${a.size}:${a.level}:${a.flags}`).join(','),
    flags: Buffer.from(m.phys.frameFlags.buffer).toString('base64'),
    events: m.securityEvents().length,
    audit: m.auditProtections().length,
  };
}

export function throws(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an exception');
}

/**
 * The whole machine, for "a refused call changes nothing": physical memory, frame
 * metadata, the free list, every counter and clock (m.stats()), every CPU's TLB, the live
 * areas, the pools' own state and the number of security events.
 */
export interface MachineState {
  readonly memory: Uint8Array;
  readonly rest: string;
  readonly events: number;
}

export function machineState(m: Machine, pools: readonly Pool[] = []): MachineState {
  const b64 = (a: ArrayBufferView) =>
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
  const tlbs = Array.from({ length: m.cpuCount }, (_, i) => {
    const t = m.cpu(i).tlb;
    return [t.tag, t.rtag, t.wtag, t.pa, t.addend, t.flags].map(b64).join('|');
  });
  return {
    memory: m.phys.bytes.slice(),
    events: m.securityEvents().length,
    rest: JSON.stringify({
      free: m.phys.freeFrames,
      frames: [m.phys.frameFlags, m.phys.frameOwner, m.phys.frameArea].map(b64),
      stats: m.stats(),
      tlbs,
      areas: m.liveAreas.map(
        (a) => `${a.id}:${a.start}:${a.size}:${a.level}:${a.flags}:${a.owner}`,
      ),
      pools: pools.map((p) => ({
        id: p.id,
        destroyed: p.destroyed,
        areas: p.areas.map((a) => `${a.id}:${a.level}:${a.freed}`),
      })),
    }),
  };
}

/** Asserts nothing but the security-event count changed, by `events`. */
export function expectUnchanged(before: MachineState, after: MachineState, events = 0): void {
  if (Buffer.compare(before.memory, after.memory) !== 0) {
    const i = before.memory.findIndex((b, k) => b !== after.memory[k]);
    throw new Error(`physical memory changed at pa 0x${i.toString(16)}`);
  }
  if (after.rest !== before.rest) {
    const a = JSON.parse(before.rest) as Record<string, unknown>;
    const b = JSON.parse(after.rest) as Record<string, unknown>;
    const keys = Object.keys(a).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    throw new Error(`machine state changed: ${keys.join(', ')}`);
  }
  if (after.events !== before.events + events)
    throw new Error(`${after.events - before.events} security events, expected ${events}`);
}
