/**
 * Independent bench runs (points, life cycles, the attack suite) spread over worker
 * threads. A worker rebuilds the plan from a plain-data recipe (variant ids, workload names
 * or module paths, machine options), so a run computes exactly what it computes serially:
 * each point builds its machines from the seed alone.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { MachineBase } from './measure.js';
import type { LifecycleRow, ResultRow } from './results.js';
import type { Variant } from './variants.js';
import { type Workload, workloadByName, workloadModulePath } from './workloads/index.js';

/** What a worker needs to rebuild a plan's variants and workloads. */
export interface PlanRecipe {
  /** Variant ids, in plan order, each found again by discovery. */
  readonly variants: readonly string[];
  /** The runnable workloads: built-in names or absolute module paths, in plan order. */
  readonly workloads: readonly ({ readonly name: string } | { readonly path: string })[];
  /** Whether the plan has the pool package (the worker loads it again). */
  readonly pool: boolean;
  readonly base: MachineBase;
  readonly quick: boolean;
  readonly cpus: readonly number[];
  readonly referenceCpus: number;
}

export type Task =
  | { readonly kind: 'point'; readonly point: number }
  | { readonly kind: 'lifecycle'; readonly variant: number }
  | { readonly kind: 'suite' };

export type TaskResult =
  | { readonly kind: 'point'; readonly rows: ResultRow[] }
  | { readonly kind: 'lifecycle'; readonly row: LifecycleRow }
  | { readonly kind: 'suite'; readonly report: unknown };

/** Messages from a worker. */
export type WorkerReply =
  | { readonly type: 'ready' }
  | { readonly type: 'init-failed'; readonly error: string }
  | { readonly type: 'done'; readonly id: number; readonly result: TaskResult }
  | { readonly type: 'failed'; readonly id: number; readonly error: string };

/** A task that threw, as `${name}: ${message}` (what a serial run records). */
export class TaskError extends Error {
  override readonly name = 'TaskError';
}

/**
 * The recipe of a plan, or why it cannot be shipped to a worker (a variant discovery does
 * not find again, a workload object that is neither built in nor loaded from a file).
 */
export function planRecipe(
  variants: readonly Variant[],
  workloads: readonly Workload[],
  discovered: readonly Variant[],
  rest: Omit<PlanRecipe, 'variants' | 'workloads'>,
): PlanRecipe | string {
  for (const v of variants) {
    const d = discovered.find((x) => x.id === v.id);
    if (!d || d.pkg !== v.pkg || d.mechanism !== v.mechanism || d.backend.name !== v.backend.name)
      return `variant ${v.id} is not one discovery finds`;
  }
  const ws: PlanRecipe['workloads'][number][] = [];
  for (const w of workloads) {
    const path = workloadModulePath(w);
    if (path) ws.push({ path });
    else if (workloadByName(w.name) === w) ws.push({ name: w.name });
    else return `workload ${w.name} is neither built in nor loaded from a module`;
  }
  return { variants: variants.map((v) => v.id), workloads: ws, ...rest };
}

/**
 * A worker running the entry next to this module: dist under node; the TypeScript sources
 * (tsx, vitest) through tsx's loader, registered in the worker itself first — Node 20 does
 * not carry a parent's `--import` hooks into worker threads.
 */
function startWorker(recipe: PlanRecipe): Worker {
  if (!import.meta.url.endsWith('.ts'))
    return new Worker(new URL('./bench-worker.js', import.meta.url), { workerData: recipe });
  const entry = new URL('./bench-worker.ts', import.meta.url).href;
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  const tsx = pathToFileURL(join(dirname(pkg), 'dist/esm/api/index.mjs')).href;
  const boot = `import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, {
    eval: true,
    workerData: recipe,
    execArgv: ['--conditions=@prmem/source'],
  });
}

/**
 * Runs `tasks` on `jobs` worker threads, longest first as given; `onDone` sees each result
 * (or error) as it arrives. Resolves when every task has finished.
 */
export async function runTasks(
  recipe: PlanRecipe,
  tasks: readonly Task[],
  jobs: number,
  onDone: (index: number, result: TaskResult | TaskError) => void,
): Promise<void> {
  let next = 0;
  let finished = 0;
  const n = Math.max(1, Math.min(jobs, tasks.length));
  await new Promise<void>((resolve, reject) => {
    if (tasks.length === 0) return resolve();
    const workers: Worker[] = [];
    let alive = n;
    let settled = false;
    const settle = (e?: Error) => {
      if (settled) return;
      settled = true;
      for (const w of workers) void w.terminate();
      if (e) reject(e);
      else resolve();
    };
    const finish = (index: number, r: TaskResult | TaskError) => {
      onDone(index, r);
      if (++finished === tasks.length) settle();
    };
    for (let i = 0; i < n; i++) {
      const w = startWorker(recipe);
      workers.push(w);
      let current = -1;
      const feed = () => {
        current = next < tasks.length ? next++ : -1;
        if (current < 0) void w.terminate();
        else w.postMessage({ id: current, task: tasks[current] });
      };
      w.on('message', (msg: WorkerReply) => {
        if (msg.type === 'ready') return feed();
        if (msg.type === 'init-failed')
          return settle(new Error(`a bench worker could not start: ${msg.error}`));
        finish(msg.id, msg.type === 'done' ? msg.result : new TaskError(msg.error));
        if (!settled) feed();
      });
      w.on('error', (e) => {
        // A worker that dies takes its run with it (recorded as failed); the others go on.
        if (current >= 0) finish(current, new TaskError(`worker died: ${e.message}`));
        else settle(new Error(`a bench worker failed: ${e.message}`));
        current = -1;
      });
      w.on('exit', () => {
        if (--alive === 0 && !settled)
          settle(new Error(`the bench workers exited with ${tasks.length - finished} run(s) left`));
      });
    }
  });
}
