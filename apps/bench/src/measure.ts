/**
 * Runs one workload on one machine and turns counter snapshots into per-operation
 * figures. Modeled figures come from the first run on a fresh machine (deterministic for
 * the seed); wall-clock figures are the median of every timed run, after a warm-up.
 */
import { createMachine, EV, EVENT_NAMES, type EventName, type Machine } from '@prmem/core';
import { type DirectMapShape, directMapShape } from './report/fragmentation.js';
import type { Modeled, ResultRow } from './results.js';
import type { Variant } from './variants.js';
import type { Meter, Scale, Workload, WorkloadEnv } from './workloads/index.js';

export interface MachineBase {
  readonly seed: number;
  readonly clockGHz: number;
  readonly tlbEntries?: number;
  readonly memoryMiB?: number;
  readonly sectionPages?: number;
  readonly costs?: Partial<Record<EventName, number>>;
}

interface Snapshot {
  readonly cpu0: number;
  readonly events: Record<EventName, number>;
  readonly work: number;
}

function snapshot(m: Machine): Snapshot {
  const s = m.stats();
  let work = 0;
  for (const n of EVENT_NAMES) work += s.events[n] * m.counters.cost[EV[n]];
  return { cpu0: s.perCpu[0].cycles, events: { ...s.events }, work };
}

/** Per-operation figures between two snapshots. */
export function perOp(m: Machine, a: Snapshot, b: Snapshot, ops: number): Modeled {
  const events = {} as Record<EventName, number>;
  for (const n of EVENT_NAMES) events[n] = (b.events[n] - a.events[n]) / ops;
  const cyclesPerOp = (b.cpu0 - a.cpu0) / ops;
  return {
    cyclesPerOp,
    nsPerOp: cyclesPerOp / m.clockGHz,
    systemCyclesPerOp: (b.work - a.work) / ops,
    events,
  };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

export interface PointSpec {
  readonly variant: Variant;
  readonly workload: Workload;
  readonly cpus: number;
  readonly scale: Scale;
  readonly quick: boolean;
  readonly base: MachineBase;
  readonly env: WorkloadEnv;
  /** Warm up before the timed runs (default: full-size points without `--quick`). */
  readonly warmup?: boolean;
}

/** Builds the machine a point runs on. */
export async function machineFor(spec: PointSpec, trace = false): Promise<Machine> {
  const size = spec.workload.size(spec.scale, spec.quick);
  const { base } = spec;
  return createMachine({
    arch: spec.variant.backend,
    mechanism: spec.variant.mechanism,
    cpus: spec.cpus,
    memoryMiB: Math.max(spec.workload.memoryMiB(size), base.memoryMiB ?? 0),
    seed: base.seed,
    clockGHz: base.clockGHz,
    trace,
    ...(base.tlbEntries !== undefined ? { tlbEntries: base.tlbEntries } : {}),
    ...(base.sectionPages !== undefined ? { sectionPages: base.sectionPages } : {}),
    ...(base.costs !== undefined ? { costs: base.costs } : {}),
  });
}

interface PhaseAcc {
  readonly op: string;
  readonly ops: number;
  readonly samples: number[];
  modeled?: Modeled;
  after?: DirectMapShape;
}

/**
 * The warm-up of a full-size point: untimed runs until two in a row take times within
 * `WARMUP_SETTLED` of each other (and at least `min` ms have passed), or `max` ms. The
 * first few hundred thousand write-rare operations run before V8 has optimised the whole
 * path and are 2-3× slower, so timed runs without it would measure the JIT, not the
 * simulator. Benchmark harnesses (mitata, tinybench) warm up likewise.
 */
export const WARMUP_MS = { min: 100, max: 800 } as const;
const WARMUP_SETTLED = 0.1;

/**
 * Runs the workload untimed on machines of its own (the measured machine's modeled figures
 * stay those of a fresh machine), each iterated at most `repeats` times as a point is.
 * Returns how many runs it took.
 */
async function warmUp(spec: PointSpec, limits: { min: number; max: number }): Promise<number> {
  const { workload } = spec;
  const size = workload.size(spec.scale, spec.quick);
  const repeats = workload.repeats(spec.scale, spec.quick);
  const untimed: Meter = { phase: (_n, _o, _ops, fn) => fn() };
  const t0 = performance.now();
  let runs = 0;
  let last = Number.POSITIVE_INFINITY;
  for (;;) {
    const run = workload.setup(await machineFor(spec), size, spec.env);
    for (let r = 0; r < repeats; r++) {
      const s = performance.now();
      run.iterate(untimed);
      const now = performance.now();
      runs++;
      const settled = runs > 1 && Math.abs(now - s - last) <= WARMUP_SETTLED * last;
      if (now - t0 >= limits.max || (settled && now - t0 >= limits.min)) return runs;
      last = now - s;
      if (workload.freshMachinePerRepeat) break;
    }
  }
}

/**
 * Runs one point: a warm-up (full size, not `--quick`), then a fresh machine, setup,
 * `repeats` timed iterations; one row per phase. After a warm-up, the run that gives the
 * modeled figures (the first on the fresh machine) is one more, untimed: it pays what a
 * new machine costs the JIT (new receivers, first walks) and would stand out among the
 * timed runs.
 */
export async function runPoint(spec: PointSpec): Promise<ResultRow[]> {
  const { workload, variant } = spec;
  const size = workload.size(spec.scale, spec.quick);
  const warm = spec.warmup ?? (spec.scale === 'full' && !spec.quick);
  const warmupRuns = warm ? await warmUp(spec, WARMUP_MS) : 0;
  let m = await machineFor(spec);
  // Fragmentation is measured on full-size points only (a walk of the direct map).
  const atBoot = spec.scale === 'full' ? directMapShape(m) : undefined;
  let run = workload.setup(m, size, spec.env);
  const phases = new Map<string, PhaseAcc>();
  const repeats = workload.repeats(spec.scale, spec.quick);
  const untimed = warm ? 1 : 0;
  for (let r = 0; r < repeats + untimed; r++) {
    if (r > 0 && workload.freshMachinePerRepeat) {
      m = await machineFor(spec);
      run = workload.setup(m, size, spec.env);
    }
    const meter: Meter = {
      phase(name, op, ops, fn) {
        const before = r === 0 ? snapshot(m) : undefined;
        const t0 = performance.now();
        fn();
        const ms = performance.now() - t0;
        let acc = phases.get(name);
        if (!acc) {
          acc = { op, ops, samples: [] };
          phases.set(name, acc);
        }
        if (r >= untimed) acc.samples.push(ms);
        if (before) acc.modeled = perOp(m, before, snapshot(m), ops);
        if (before && atBoot) acc.after = directMapShape(m);
      },
    };
    run.iterate(meter);
  }
  const rows: ResultRow[] = [];
  for (const [phase, acc] of phases) {
    if (!acc.modeled) throw new Error(`phase ${phase} of ${workload.name} did not run first time`);
    const med = median(acc.samples);
    rows.push({
      variant: variant.id,
      arch: variant.arch,
      mechanism: variant.mechanism,
      workload: workload.name,
      phase,
      op: acc.op,
      scale: spec.scale,
      cpus: spec.cpus,
      ops: acc.ops,
      size: { ...size },
      modeled: acc.modeled,
      ...(atBoot && acc.after
        ? {
            fragmentation: {
              largeAtBoot: atBoot.large,
              large: acc.after.large,
              tablePagesAtBoot: atBoot.tablePages,
              tablePages: acc.after.tablePages,
            },
          }
        : {}),
      wall: {
        warmupRuns,
        repeats: acc.samples.length,
        samplesMs: acc.samples,
        medianMs: med,
        opsPerSec: med > 0 ? (acc.ops * 1000) / med : 0,
      },
    });
  }
  return rows;
}

/** One traced run (Chrome Trace Event JSON) of a workload on a variant. */
export async function tracePoint(spec: PointSpec) {
  const size = spec.workload.size(spec.scale, spec.quick);
  const m = await machineFor(spec, true);
  const run = spec.workload.setup(m, size, spec.env);
  m.resetStats(); // keep the trace to the workload itself (boot is not the subject)
  run.iterate({ phase: (_n, _o, _ops, fn) => fn() });
  return m.toChromeTrace();
}
