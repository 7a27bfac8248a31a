/**
 * Model-based fuzzing with fast-check: `fc.commands` generates op sequences, `fc.modelRun`
 * runs them against the reference model and a fresh machine, and every command is
 * followed by the invariant check. Failures come back with the seed and path that replay
 * them (`fc.check(prop, { seed, path })`, or `pnpm fuzz --seed S --path P`).
 */
import fc from 'fast-check';
import type { Combo } from './combos.js';
import { applicable, execute } from './execute.js';
import { checkInvariants } from './invariants.js';
import { type Model, newModel } from './model.js';
import { describeOp, type Op, opArb, preludeArb } from './ops.js';
import { createWorld, DEFAULT_CPUS, DEFAULT_MEMORY_MIB, type World } from './world.js';

export const DEFAULT_MAX_COMMANDS = 40;

export interface FuzzCounters {
  /** Machines built (one per generated program, shrinking included). */
  runs: number;
  /** Commands executed and checked. */
  commands: number;
}

class FuzzCommand implements fc.Command<Model, World> {
  /** The op as it last ran (picks resolved, acting CPU), for the counterexample. */
  private ran: string | undefined;
  constructor(
    readonly op: Op,
    private readonly counters: FuzzCounters,
  ) {}
  check(model: Readonly<Model>): boolean {
    return applicable(model as Model, this.op);
  }
  run(model: Model, world: World): void {
    this.ran = execute(model, world, this.op).op;
    checkInvariants(model, world);
    this.counters.commands++;
  }
  toString(): string {
    return this.ran ?? describeOp(this.op);
  }
}

export interface FuzzOptions {
  readonly seed: number;
  /** Programs to try (a time budget may stop earlier). */
  readonly numRuns?: number;
  readonly maxCommands?: number;
  readonly cpus?: number;
  readonly memoryMiB?: number;
  /** Stop after this long (ms), without counting it as a failure. */
  readonly timeLimitMs?: number;
  /** fast-check's replay path (for use with fast-check directly; see formatFailure). */
  readonly path?: string;
  /** Report the first failure as found, without shrinking it (fast, for CI). */
  readonly noShrink?: boolean;
}

export interface FuzzReport {
  readonly combo: string;
  readonly failed: boolean;
  readonly seed: number;
  /** fast-check's path of the (shrunk) counterexample, to replay it. */
  readonly path?: string;
  /** The failing command sequence. */
  readonly counterexample?: string;
  readonly error?: string;
  /** Programs fast-check ran to completion (successful runs before a failure). */
  readonly numRuns: number;
  /** The command bound the programs were generated with (part of what replays them). */
  readonly maxCommands: number;
  /** Physical memory of the machines, MiB (part of what replays a failure). */
  readonly memoryMiB: number;
  readonly counters: FuzzCounters;
  readonly interrupted: boolean;
  readonly ms: number;
}

/** The property: any command sequence keeps machine and model in step. */
export function fuzzProperty(
  combo: Combo,
  opts: Omit<FuzzOptions, 'seed'>,
  counters: FuzzCounters,
) {
  const cpus = opts.cpus ?? DEFAULT_CPUS;
  const commands = fc.commands(
    [opArb(cpus, combo.userMm).map((op) => new FuzzCommand(op, counters))],
    { maxCommands: opts.maxCommands ?? DEFAULT_MAX_COMMANDS, size: 'max' },
  );
  return fc.asyncProperty(preludeArb, commands, async (prelude, cmds) => {
    const world = await createWorld(combo, { cpus, memoryMiB: opts.memoryMiB });
    counters.runs++;
    try {
      fc.modelRun(() => {
        const model = newModel(cpus);
        for (const op of prelude) {
          execute(model, world, op);
          checkInvariants(model, world);
          counters.commands++;
        }
        return { model, real: world };
      }, cmds);
    } finally {
      // The next program's machine gets this one's memory (most of building one).
      world.m.dispose();
    }
  });
}

export async function runFuzz(combo: Combo, opts: FuzzOptions): Promise<FuzzReport> {
  const counters: FuzzCounters = { runs: 0, commands: 0 };
  const t0 = performance.now();
  const details = await fc.check(fuzzProperty(combo, opts, counters), {
    seed: opts.seed,
    numRuns: opts.numRuns ?? 100,
    ...(opts.path !== undefined ? { path: opts.path } : {}),
    ...(opts.timeLimitMs !== undefined
      ? { interruptAfterTimeLimit: opts.timeLimitMs, markInterruptAsFailure: false }
      : {}),
    endOnFailure: opts.noShrink ?? false,
  });
  const err = details.errorInstance;
  return {
    combo: combo.label,
    failed: details.failed,
    seed: details.seed,
    path: details.failed ? (details.counterexamplePath ?? undefined) : undefined,
    counterexample: details.counterexample
      ? `prelude [${details.counterexample[0].map(describeOp).join(', ')}] then ${String(details.counterexample[1])}`
      : undefined,
    error: details.failed ? (err instanceof Error ? err.message : String(err)) : undefined,
    numRuns: details.numRuns,
    maxCommands: opts.maxCommands ?? DEFAULT_MAX_COMMANDS,
    memoryMiB: opts.memoryMiB ?? DEFAULT_MEMORY_MIB,
    counters,
    interrupted: details.interrupted,
    ms: performance.now() - t0,
  };
}

/** A failure as a person replays it. */
export function formatFailure(r: FuzzReport): string {
  const [backend, mechanism] = r.combo.split('/');
  return [
    `FAIL ${r.combo}: ${r.error}`,
    `  counterexample: ${r.counterexample}`,
    `  seed ${r.seed}, failing run ${r.numRuns}, fast-check path "${r.path}"`,
    // The same seed generates the same programs in the same order: running exactly as
    // many reproduces the failure (then shrinks it again unless --no-shrink).
    `  replay: pnpm fuzz --backend ${backend} --mechanism ${mechanism} --seed ${r.seed} --runs ${r.numRuns} --max-commands ${r.maxCommands}${r.memoryMiB !== DEFAULT_MEMORY_MIB ? ` --memory ${r.memoryMiB}` : ''}`,
  ].join('\n');
}
