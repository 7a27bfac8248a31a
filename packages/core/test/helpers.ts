import { createMachine, type Machine } from '../src/index.js';
import { type ToyOptions, toyBackend } from '../src/testing/index.js';

export function toyMachine(
  opts: {
    cpus?: number;
    memoryMiB?: number;
    tlbEntries?: number;
    seed?: number;
    trace?: boolean;
  } & ToyOptions = {},
): Promise<Machine> {
  const { skipShootdown, ...rest } = opts;
  return createMachine({ arch: toyBackend({ skipShootdown }), cpus: 2, memoryMiB: 8, ...rest });
}

/** Everything an error path must leave as it was. */
export function snapshot(m: Machine) {
  return {
    free: m.phys.freeFrames,
    areas: m.liveAreas.map((a) => [a.id, a.start, a.size, a.level]),
    flags: Array.from(m.phys.frameFlags),
    events: m.securityEvents().length,
    audit: m.auditProtections().length,
  };
}
