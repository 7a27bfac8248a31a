/** A bench worker thread: rebuilds the plan from its recipe, then runs the tasks it is sent. */
import { parentPort, workerData } from 'node:worker_threads';
import { runAttackSuite } from './attacks.js';
import { LIFECYCLE_FULL, LIFECYCLE_QUICK, runLifecycle } from './lifecycle.js';
import { runPoint } from './measure.js';
import type { PlanRecipe, Task, TaskResult, WorkerReply } from './parallel.js';
import { loadPoolApi } from './pool-api.js';
import { planPoints } from './runner.js';
import { discoverVariants, type Variant } from './variants.js';
import { loadWorkloadModule, type Workload, workloadByName } from './workloads/index.js';

const port = parentPort;
if (!port) throw new Error('bench-worker.ts runs as a worker thread');
const recipe = workerData as PlanRecipe;
const send = (m: WorkerReply) => port.postMessage(m);
const why = (e: unknown) => (e instanceof Error ? `${e.name}: ${e.message}` : String(e));

async function rebuild() {
  const { variants: found } = await discoverVariants();
  const variants = recipe.variants.map((id) => {
    const v = found.find((x) => x.id === id);
    if (!v) throw new Error(`variant ${id} not found`);
    return v;
  });
  const workloads: Workload[] = [];
  for (const w of recipe.workloads) {
    const got = 'name' in w ? workloadByName(w.name) : await loadWorkloadModule(w.path, '/');
    if (!got) throw new Error(`workload ${JSON.stringify(w)} not found`);
    workloads.push(got);
  }
  const pool = recipe.pool ? await loadPoolApi() : undefined;
  if (typeof pool === 'string') throw new Error(pool);
  return { variants, workloads, pool };
}

async function run(
  t: Task,
  ctx: Awaited<ReturnType<typeof rebuild>>,
  points: ReturnType<typeof planPoints>,
): Promise<TaskResult> {
  const env = { seed: recipe.base.seed, pool: ctx.pool };
  if (t.kind === 'point') {
    const p = points[t.point];
    return {
      kind: 'point',
      rows: await runPoint({ ...p, quick: recipe.quick, base: recipe.base, env }),
    };
  }
  if (t.kind === 'lifecycle') {
    const v: Variant = ctx.variants[t.variant];
    if (!ctx.pool) throw new Error('no pool package');
    const size = recipe.quick ? LIFECYCLE_QUICK : LIFECYCLE_FULL;
    return { kind: 'lifecycle', row: await runLifecycle(v, ctx.pool, recipe.base.seed, size) };
  }
  return { kind: 'suite', report: await runAttackSuite() };
}

try {
  const ctx = await rebuild();
  // The same points, in the same order, as the main thread planned.
  const points = planPoints({ ...recipe, ...ctx, skipped: [], trace: false }, ctx.workloads);
  port.on('message', (msg: { id: number; task: Task }) => {
    run(msg.task, ctx, points).then(
      (result) => send({ type: 'done', id: msg.id, result }),
      (e: unknown) => send({ type: 'failed', id: msg.id, error: why(e) }),
    );
  });
  send({ type: 'ready' });
} catch (e) {
  send({ type: 'init-failed', error: why(e) });
}
