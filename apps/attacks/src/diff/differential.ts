/**
 * Differential testing: one generated program runs on every backend and mechanism; the
 * outcome of every op (ok, fault, refusal) and the final contents of every allocation,
 * taken by allocation order from physical memory (addresses differ by layout), must be the
 * same everywhere. Each run also keeps to the reference model (see fuzz/execute.ts).
 */
import fc from 'fast-check';
import type { Combo } from '../fuzz/combos.js';
import { applicable, execute, type StepRecord } from '../fuzz/execute.js';
import { checkInvariants } from '../fuzz/invariants.js';
import { newModel } from '../fuzz/model.js';
import { type Op, opArb, preludeArb } from '../fuzz/ops.js';
import { createWorld, DEFAULT_CPUS } from '../fuzz/world.js';

export interface Snapshot {
  readonly combo: string;
  /** Every op that ran, with its outcome. */
  readonly steps: readonly StepRecord[];
  /** Final contents of every allocation, by allocation order; null once its pool is gone. */
  readonly allocs: readonly (Uint8Array | null)[];
}

/** Runs a program (prelude, then ops that apply) on a fresh machine of `combo`. */
export async function runProgram(
  combo: Combo,
  prelude: readonly Op[],
  ops: readonly Op[],
  opts: { cpus?: number; memoryMiB?: number } = {},
): Promise<Snapshot> {
  const cpus = opts.cpus ?? DEFAULT_CPUS;
  const w = await createWorld(combo, { cpus, memoryMiB: opts.memoryMiB });
  try {
    const model = newModel(cpus);
    const steps: StepRecord[] = [];
    for (const op of [...prelude, ...ops]) {
      if (!applicable(model, op)) continue;
      steps.push(execute(model, w, op));
      checkInvariants(model, w);
    }
    const allocs = model.allocs.map((a, i) =>
      model.pools[a.pool].destroyed ? null : w.m.peek(w.allocs[i], a.bytes.length),
    );
    return { combo: combo.label, steps, allocs };
  } finally {
    // The copies above outlive it; its memory goes to the next program's machine.
    w.m.dispose();
  }
}

/** Undefined if every snapshot equals the first, else the first difference. */
export function compareSnapshots(snaps: readonly Snapshot[]): string | undefined {
  const [ref, ...rest] = snaps;
  for (const s of rest) {
    const n = Math.max(ref.steps.length, s.steps.length);
    for (let i = 0; i < n; i++) {
      const a = ref.steps[i];
      const b = s.steps[i];
      if (a?.op !== b?.op || a?.outcome !== b?.outcome)
        return `step ${i}: ${ref.combo} ${a?.op} -> ${a?.outcome}; ${s.combo} ${b?.op} -> ${b?.outcome}`;
    }
    if (ref.allocs.length !== s.allocs.length)
      return `${ref.combo} has ${ref.allocs.length} allocations, ${s.combo} ${s.allocs.length}`;
    for (let i = 0; i < ref.allocs.length; i++) {
      const a = ref.allocs[i];
      const b = s.allocs[i];
      if (a === null || b === null) {
        if (a !== b) return `allocation ${i}: gone on one of ${ref.combo}, ${s.combo} only`;
      } else if (Buffer.compare(a, b) !== 0) {
        const k = a.findIndex((x, j) => x !== b[j]);
        return `allocation ${i} byte ${k}: ${ref.combo} 0x${a[k]?.toString(16)}, ${s.combo} 0x${b[k]?.toString(16)}`;
      }
    }
  }
  return undefined;
}

export interface DiffCounters {
  programs: number;
  /** Ops run, summed over combos. */
  ops: number;
}

/** The property: every combo ends a program in the same state. */
export function differentialProperty(
  combos: readonly Combo[],
  counters: DiffCounters,
  opts: { maxOps?: number; cpus?: number; memoryMiB?: number } = {},
) {
  const cpus = opts.cpus ?? DEFAULT_CPUS;
  const userMm = combos.every((c) => c.userMm);
  const program = fc.array(opArb(cpus, userMm, false), {
    maxLength: opts.maxOps ?? 30,
    size: 'max',
  });
  return fc.asyncProperty(preludeArb, program, async (prelude, ops) => {
    const snaps: Snapshot[] = [];
    for (const c of combos) {
      const s = await runProgram(c, prelude, ops, { cpus, memoryMiB: opts.memoryMiB });
      counters.ops += s.steps.length;
      snaps.push(s);
    }
    counters.programs++;
    const d = compareSnapshots(snaps);
    if (d) throw new Error(`backends disagree: ${d}`);
  });
}
