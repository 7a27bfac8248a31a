/**
 * The fragmentation figures: protection splits the direct map's large pages on x86 (and
 * not on arm64's default page-granular linear map), counted in results.json and shown in
 * the report's table.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { buildReport } from '../src/report/report.js';
import { toMarkdown } from '../src/report/doc.js';
import type { BenchResults } from '../src/results.js';
import { loadPoolApi } from '../src/pool-api.js';
import { resultsSchema } from '../src/results.js';
import { runBench } from '../src/runner.js';
import { discoverVariants, filterVariants } from '../src/variants.js';
import { protectPoolWorkload } from '../src/workloads/protect-pool.js';

let results: BenchResults;

beforeAll(async () => {
  const { variants } = await discoverVariants();
  const picked = filterVariants(variants, undefined, ['alias-mm', 'hyp-assist']);
  const pool = await loadPoolApi();
  if (typeof pool === 'string') throw new Error(pool);
  ({ results } = await runBench({
    pool,
    variants: picked,
    workloads: [protectPoolWorkload],
    cpus: [2],
    referenceCpus: 2,
    quick: true,
    base: { seed: 3, clockGHz: 3 },
    skipped: [],
    trace: false,
    attacks: false,
  }));
  expect(results.failures).toEqual([]);
}, 120_000);

describe('direct-map fragmentation', () => {
  it('is recorded per full-size phase and valid against the schema', () => {
    expect(resultsSchema.parse(results)).toBeTruthy();
    const full = results.rows.filter((x) => x.scale === 'full');
    expect(full.length).toBeGreaterThan(0);
    for (const x of full) expect(x.fragmentation).toBeDefined();
  });

  it('x86: protection splits large pages, adds page-table pages and counts the splits', () => {
    const x86 = results.rows.filter((x) => x.scale === 'full' && x.variant === 'x86-64/alias-mm');
    const last = x86[x86.length - 1].fragmentation;
    if (!last) throw new Error('no fragmentation');
    expect(last.largeAtBoot).toBeGreaterThan(0);
    expect(last.large).toBeLessThan(last.largeAtBoot);
    const splits = x86.reduce((a, x) => a + x.modeled.events.cpaSplit * x.ops, 0);
    // Each 2 MiB split removes one large page and adds one table page; setup (the static
    // sections protected at finishBoot) may split before the measured phases.
    const removed = last.largeAtBoot - last.large;
    expect(removed).toBeGreaterThanOrEqual(splits);
    expect(last.tablePages - last.tablePagesAtBoot).toBeGreaterThanOrEqual(removed);
    // arm64's default linear map has no blocks to split.
    const arm = results.rows.filter((x) => x.scale === 'full' && x.arch === 'arm64');
    for (const x of arm) expect(x.fragmentation?.largeAtBoot).toBe(0);
  });

  it('the report renders one table of it', async () => {
    const md = toMarkdown(await buildReport(results, { charts: false }));
    expect(md).toContain('## Direct-map fragmentation (full size)');
    const line = md.split('\n').find((l) => l.includes('x86-64/alias-mm') && l.includes(' → '));
    expect(line).toMatch(/protect-pool/);
  });
});
