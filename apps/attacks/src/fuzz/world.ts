/** The real side of a fuzz run: a machine, its pools in model order, a user mm. */
import { createMachine, type Machine, type Mm, PG } from '@prmem/core';
import type { Pool } from '@prmem/pool';
import type { Combo } from './combos.js';

export interface WorldOptions {
  readonly cpus?: number;
  readonly memoryMiB?: number;
  readonly seed?: number;
}

export interface World {
  readonly combo: Combo;
  readonly m: Machine;
  /** Pools by model index (destroyed ones stay, so picks keep their meaning). */
  readonly pools: Pool[];
  /** Allocation addresses by model index. */
  readonly allocs: number[];
  /**
   * An ordinary user address space, to switch a CPU away from init_mm; none where the
   * fuzzer never switches to one (`Combo.userMm`: the toy, whose user mm would be a
   * copy of the kernel half's top level, sharing every table below it, never loaded —
   * each audit walked those tables a second time for nothing).
   */
  readonly userMm: Mm | undefined;
  /** Quarantined frames before the run (boot never quarantines; kept for the balance). */
  readonly quarantinedAtStart: number;
}

export const DEFAULT_CPUS = 3;
/**
 * Physical memory of a fuzz machine: the size the fuzzer has always used, so a speed-up
 * is the simulator's and not a smaller workload's; `--memory 4` runs ~1.4× more programs
 * in a budget (docs/decisions.md, "Fuzz machines stay 16 MiB").
 */
export const DEFAULT_MEMORY_MIB = 16;

export async function createWorld(combo: Combo, opts: WorldOptions = {}): Promise<World> {
  const m = await createMachine({
    arch: combo.backend,
    mechanism: combo.mechanism,
    cpus: opts.cpus ?? DEFAULT_CPUS,
    memoryMiB: opts.memoryMiB ?? DEFAULT_MEMORY_MIB,
    seed: opts.seed ?? 1,
    // The model says a pointer into a destroyed pool faults: hold every freed range back
    // (the catalogue's use-after-destroy shows what reuse does instead).
    vaQuarantine: 65536,
  });
  // Static protections on, so every audit also covers .rodata and friends.
  m.finishBoot();
  const userMm = combo.userMm ? m.createMm('user', 'fuzz-user') : undefined;
  return { combo, m, pools: [], allocs: [], userMm, quarantinedAtStart: countQuarantined(m) };
}

export function countQuarantined(m: Machine): number {
  let n = 0;
  for (const f of m.phys.frameFlags) if ((f & PG.QUARANTINED) !== 0) n++;
  return n;
}

/** Undefined if equal, else where the first difference is. */
export function diffBytes(got: Uint8Array, want: Uint8Array): string | undefined {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  if (Buffer.compare(got, want) === 0) return undefined;
  const i = got.findIndex((b, k) => b !== want[k]);
  return `byte ${i}: got 0x${got[i].toString(16)}, want 0x${want[i].toString(16)}`;
}
