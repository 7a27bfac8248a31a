/**
 * The memory life cycle of the bench: every variant completes the pool cycles and the
 * reloads, gives its memory back, and the report shows the figures.
 */
import { describe, expect, it } from 'vitest';
import { LIFECYCLE_QUICK, runLifecycle } from '../src/lifecycle.js';
import { loadPoolApi } from '../src/pool-api.js';
import { toMarkdown } from '../src/report/doc.js';
import { buildReport } from '../src/report/report.js';
import type { LifecycleRow } from '../src/results.js';
import { resultsSchema } from '../src/results.js';
import { runBench } from '../src/runner.js';
import { discoverVariants } from '../src/variants.js';

const pool = await loadPoolApi();
if (typeof pool === 'string') throw new Error(pool);
const { variants } = await discoverVariants();

describe('memory life cycle', () => {
  it.each(variants.map((v) => [v.id, v] as const))(
    '%s: cycles and reloads complete and give back every frame but direct-map splits',
    async (_id, v) => {
      const r = await runLifecycle(v, pool, 1, LIFECYCLE_QUICK);
      expect(r.reloadMs).toHaveLength(LIFECYCLE_QUICK.reloads);
      expect(r.after.liveAreas).toBe(r.before.liveAreas);
      // Frames come back except table pages that stay: direct-map splits, at most one per
      // 2 MiB of memory.
      const tables = r.after.tablePages - r.before.tablePages;
      expect(tables).toBeGreaterThanOrEqual(0);
      expect(tables).toBeLessThanOrEqual((r.memoryMiB * 2 ** 20) / 2 ** 21);
      expect(r.before.freeFrames - r.after.freeFrames).toBe(tables);
    },
    60_000,
  );

  it('the report has the section, with one row per variant', async () => {
    const picked = variants.filter((v) => v.arch === 'nommu-alias');
    const { results } = await runBench({
      variants: picked,
      workloads: [],
      cpus: [1],
      referenceCpus: 1,
      quick: true,
      base: { seed: 1, clockGHz: 3 },
      skipped: [],
      trace: false,
      attacks: false,
      pool,
    });
    expect(resultsSchema.parse(results).lifecycle).toHaveLength(picked.length);
    const rows = results.lifecycle as LifecycleRow[];
    const md = toMarkdown(await buildReport(results, { charts: false }));
    expect(md).toContain('memory life cycle (');
    expect(md).toContain('## Memory life cycle');
    for (const x of rows) {
      expect(md).toContain(x.variant);
      expect(md).toContain(`${x.before.freeFrames.toLocaleString('en-US')} → `);
    }
  }, 120_000);
});
