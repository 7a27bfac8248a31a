/** Runs the matrix backend × mechanism × workload × CPU count and collects results.json. */
import os from 'node:os';
import { createMachine, type TraceEvent } from '@prmem/core';
import { loadSecurity, runAttackSuite, suiteNeeded } from './attacks.js';
import { LIFECYCLE_FULL, LIFECYCLE_QUICK, runLifecycle } from './lifecycle.js';
import { type MachineBase, runPoint, tracePoint } from './measure.js';
import {
  type PlanRecipe,
  planRecipe,
  runTasks,
  type Task,
  TaskError,
  type TaskResult,
} from './parallel.js';
import type { PoolApi } from './pool-api.js';
import type { BenchResults, ResultRow } from './results.js';
import { discoverVariants, type Variant } from './variants.js';
import type { Scale, Workload } from './workloads/index.js';

export interface BenchPlan {
  readonly variants: readonly Variant[];
  readonly workloads: readonly Workload[];
  readonly cpus: readonly number[];
  readonly referenceCpus: number;
  readonly quick: boolean;
  readonly base: MachineBase;
  readonly pool?: PoolApi;
  /** Why the pool workloads cannot run, when `pool` is missing. */
  readonly poolMissing?: string;
  readonly skipped: readonly { what: string; reason: string }[];
  readonly trace: boolean;
  /** An attacks.json; undefined: look for one or run the suite; false: do not measure. */
  readonly attacks?: string | false;
  /** false: skip the memory life cycle (tests of the runner itself). */
  readonly lifecycle?: boolean;
  /**
   * Worker threads running points, life cycles and the attack suite at once (default 1:
   * everything in this thread, one after another). Modeled figures do not depend on it.
   */
  readonly jobs?: number;
}

export interface Progress {
  start(total: number): void;
  tick(label: string): void;
  stop(): void;
  warn(msg: string): void;
}

export const silentProgress: Progress = {
  start() {},
  tick() {},
  stop() {},
  warn() {},
};

interface PointRef {
  readonly variant: Variant;
  readonly workload: Workload;
  readonly cpus: number;
  readonly scale: Scale;
}

/** The points of a plan, in run order: per variant and workload, full size then the sweep. */
export function planPoints(plan: BenchPlan, runnable: readonly Workload[]): PointRef[] {
  const out: PointRef[] = [];
  for (const variant of plan.variants) {
    for (const workload of runnable) {
      out.push({ variant, workload, cpus: plan.referenceCpus, scale: 'full' });
      if (plan.cpus.length > 1)
        for (const cpus of plan.cpus) out.push({ variant, workload, cpus, scale: 'sweep' });
    }
  }
  return out;
}

/** Chrome Trace Event JSON (`ts` in microseconds of modeled time): open it in Perfetto. */
export interface TraceFile {
  traceEvents: TraceEvent[];
}

export interface BenchOutput {
  readonly results: BenchResults;
  readonly trace?: TraceFile;
}

export async function runBench(
  plan: BenchPlan,
  progress: Progress = silentProgress,
): Promise<BenchOutput> {
  const t0 = performance.now();
  const createdAt = new Date().toISOString();
  const skipped = [...plan.skipped];
  const runnable = plan.workloads.filter((w) => {
    if (w.needsPool && !plan.pool) {
      skipped.push({ what: `workload ${w.name}`, reason: plan.poolMissing ?? 'no pool package' });
      return false;
    }
    return true;
  });
  const env = { seed: plan.base.seed, pool: plan.pool };
  const points = planPoints(plan, runnable);
  const withLifecycle = plan.pool !== undefined && plan.lifecycle !== false;
  progress.start(points.length + (withLifecycle ? plan.variants.length : 0));
  let jobs = Math.max(1, Math.floor(plan.jobs ?? 1));
  const recipe =
    jobs > 1
      ? planRecipe(plan.variants, runnable, (await discoverVariants()).variants, {
          base: plan.base,
          quick: plan.quick,
          cpus: plan.cpus,
          referenceCpus: plan.referenceCpus,
          pool: plan.pool !== undefined,
        })
      : undefined;
  if (typeof recipe === 'string') {
    progress.warn(`running in this thread (--jobs 1): ${recipe}`);
    jobs = 1;
  }
  const ran =
    recipe !== undefined && typeof recipe !== 'string'
      ? await runInWorkers(plan, points, withLifecycle, recipe, jobs, progress)
      : await runInThread(plan, points, withLifecycle, progress);
  progress.stop();
  const { rows, failures, lifecycle } = ran;

  let trace: TraceFile | undefined;
  if (plan.trace && runnable.length > 0) trace = await traceRuns(plan, runnable[0], env, progress);

  const summaries = await mechanismSummaries(plan.variants);
  const security = await loadSecurity(plan.attacks, plan.variants, progress.warn, ran.runSuite);
  const results: BenchResults = {
    schemaVersion: 1,
    tool: 'prmem-bench',
    createdAt,
    seed: plan.base.seed,
    clockGHz: plan.base.clockGHz,
    quick: plan.quick,
    cpus: [...plan.cpus],
    referenceCpus: plan.referenceCpus,
    machine: {
      ...(plan.base.tlbEntries !== undefined ? { tlbEntries: plan.base.tlbEntries } : {}),
      ...(plan.base.costs !== undefined
        ? { costs: { ...plan.base.costs } as Record<string, number> }
        : {}),
    },
    host: {
      node: process.version,
      platform: process.platform,
      arch: process.arch,
      hostCpus: os.cpus().length,
      loadAverage: os.loadavg(),
      jobs,
    },
    variants: plan.variants.map((v) => ({
      id: v.id,
      arch: v.arch,
      mechanism: v.mechanism,
      ...(v.profile ? { profile: v.profile } : {}),
      package: v.pkg,
      summary: summaries.get(v.id) ?? '',
      tlbMaintenance: v.backend.tlbMaintenance,
      costs: Object.fromEntries(
        Object.entries(v.backend.costs).map(([k, f]) => [
          k,
          { cycles: f.cycles, source: f.source, ...(f.estimate ? { estimate: true } : {}) },
        ]),
      ),
    })),
    workloads: plan.workloads.map((w) => ({ name: w.name, description: w.description })),
    skipped,
    failures,
    rows,
    ...(lifecycle.length > 0 ? { lifecycle } : {}),
    security,
    durationMs: performance.now() - t0,
  };
  return { results, trace };
}

const label = (p: PointRef) =>
  `${p.variant.id} ${p.workload.name} ×${p.cpus}${p.scale === 'full' ? ' (full)' : ''}`;
const pointFailure = (p: PointRef, error: string) => ({
  variant: p.variant.id,
  workload: p.workload.name,
  cpus: p.cpus,
  scale: p.scale,
  error,
});
const errorText = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

/** What the points and life cycles gave, in plan order, and how to get the attack suite's report. */
interface Ran {
  readonly rows: ResultRow[];
  readonly failures: BenchResults['failures'];
  readonly lifecycle: NonNullable<BenchResults['lifecycle']>;
  readonly runSuite: () => Promise<unknown>;
}

/** Every point, then every life cycle, one after another in this thread. */
async function runInThread(
  plan: BenchPlan,
  points: readonly PointRef[],
  withLifecycle: boolean,
  progress: Progress,
): Promise<Ran> {
  const env = { seed: plan.base.seed, pool: plan.pool };
  const rows: ResultRow[] = [];
  const failures: BenchResults['failures'] = [];
  const lifecycle: NonNullable<BenchResults['lifecycle']> = [];
  for (const p of points) {
    try {
      rows.push(...(await runPoint({ ...p, quick: plan.quick, base: plan.base, env })));
    } catch (e) {
      const error = errorText(e);
      failures.push(pointFailure(p, error));
      progress.warn(`${label(p)} failed: ${error}`);
    }
    progress.tick(label(p));
  }
  // The memory life cycle, once per variant (needs the pool package).
  if (plan.pool && withLifecycle)
    for (const variant of plan.variants) {
      try {
        lifecycle.push(
          await runLifecycle(
            variant,
            plan.pool,
            plan.base.seed,
            plan.quick ? LIFECYCLE_QUICK : LIFECYCLE_FULL,
          ),
        );
      } catch (e) {
        const error = errorText(e);
        lifecycle.push({ variant: variant.id, error });
        progress.warn(`${variant.id} lifecycle failed: ${error}`);
      }
      progress.tick(`${variant.id} lifecycle`);
    }
  return { rows, failures, lifecycle, runSuite: runAttackSuite };
}

/**
 * The same runs on `jobs` worker threads, longest first so no thread is left with a long
 * run at the end: the attack suite (when it has to run), full-size points, life cycles,
 * then the sweep. Results are put back in plan order, as a serial run lists them.
 */
async function runInWorkers(
  plan: BenchPlan,
  points: readonly PointRef[],
  withLifecycle: boolean,
  recipe: PlanRecipe,
  jobs: number,
  progress: Progress,
): Promise<Ran> {
  const tasks: Task[] = [];
  const suite = suiteNeeded(plan.attacks);
  if (suite) tasks.push({ kind: 'suite' });
  points.forEach((p, i) => {
    if (p.scale === 'full') tasks.push({ kind: 'point', point: i });
  });
  if (withLifecycle)
    for (let i = 0; i < plan.variants.length; i++) tasks.push({ kind: 'lifecycle', variant: i });
  points.forEach((p, i) => {
    if (p.scale !== 'full') tasks.push({ kind: 'point', point: i });
  });
  const pointRows: (ResultRow[] | string | undefined)[] = points.map(() => undefined);
  const lifecycleRows: (NonNullable<BenchResults['lifecycle']>[number] | undefined)[] =
    plan.variants.map(() => undefined);
  let suiteResult: TaskResult | TaskError | undefined;
  await runTasks(recipe, tasks, jobs, (index, r) => {
    const t = tasks[index];
    if (t.kind === 'suite') {
      suiteResult = r;
      return;
    }
    if (t.kind === 'point') {
      const p = points[t.point];
      if (r instanceof TaskError) {
        pointRows[t.point] = r.message;
        progress.warn(`${label(p)} failed: ${r.message}`);
      } else if (r.kind === 'point') pointRows[t.point] = r.rows;
      progress.tick(label(p));
      return;
    }
    const v = plan.variants[t.variant];
    if (r instanceof TaskError) {
      lifecycleRows[t.variant] = { variant: v.id, error: r.message };
      progress.warn(`${v.id} lifecycle failed: ${r.message}`);
    } else if (r.kind === 'lifecycle') lifecycleRows[t.variant] = r.row;
    progress.tick(`${v.id} lifecycle`);
  });
  const rows: ResultRow[] = [];
  const failures: BenchResults['failures'] = [];
  pointRows.forEach((r, i) => {
    if (typeof r === 'string') failures.push(pointFailure(points[i], r));
    else if (r) rows.push(...r);
  });
  const lifecycle = lifecycleRows.filter((l) => l !== undefined);
  const runSuite = suite
    ? async () => {
        if (suiteResult instanceof TaskError) throw suiteResult;
        if (suiteResult?.kind !== 'suite') throw new Error('the attack suite did not run');
        return suiteResult.report;
      }
    : runAttackSuite;
  return { rows, failures, lifecycle, runSuite };
}

/** Each variant's mechanism summary, read from a small machine built with it. */
async function mechanismSummaries(variants: readonly Variant[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const v of variants) {
    try {
      const m = await createMachine({
        arch: v.backend,
        mechanism: v.mechanism,
        cpus: 1,
        memoryMiB: 4,
      });
      out.set(v.id, m.mechanism.summary);
    } catch (e) {
      out.set(v.id, `(unavailable: ${(e as Error).message})`);
    }
  }
  return out;
}

/**
 * One traced run per variant of `workload`, merged with a distinct pid per run. Flow ids
 * are renumbered across the runs: Perfetto matches flows by id (with category and name),
 * not by process, so two runs' IPI number 1 would otherwise join.
 */
async function traceRuns(
  plan: BenchPlan,
  workload: Workload,
  env: { seed: number; pool?: PoolApi },
  progress: Progress,
): Promise<TraceFile> {
  const traceEvents: TraceEvent[] = [];
  const cpus = Math.min(4, Math.max(...plan.cpus));
  let pid = 1;
  let nextFlow = 1;
  for (const variant of plan.variants) {
    try {
      const t = await tracePoint({
        variant,
        workload,
        cpus,
        scale: 'sweep',
        quick: true,
        base: plan.base,
        env,
      });
      const flowIds = new Map<number, number>();
      for (const e of t.traceEvents) {
        const args =
          e.ph === 'M' && e.name === 'process_name'
            ? { name: `${variant.id} · ${workload.name}` }
            : e.args;
        let id = e.id;
        if (id !== undefined && (e.ph === 's' || e.ph === 'f')) {
          let mapped = flowIds.get(id);
          if (mapped === undefined) {
            mapped = nextFlow++;
            flowIds.set(id, mapped);
          }
          id = mapped;
        }
        traceEvents.push({
          ...e,
          pid,
          ...(id !== undefined ? { id } : {}),
          ...(args ? { args } : {}),
        });
      }
      pid++;
    } catch (e) {
      progress.warn(`trace of ${variant.id} failed: ${(e as Error).message}`);
    }
  }
  return { traceEvents };
}
