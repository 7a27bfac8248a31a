import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_USAGE } from '../src/main.js';
import { parseWorkloads } from '../src/options.js';
import { WorkloadModuleError } from '../src/workloads/user.js';
import { runCli, tempDir } from './helpers.js';

const pkgDir = resolve(import.meta.dirname, '..');

describe('--workload <module>', () => {
  it('loads the documented example and costs it on every mechanism asked for', async () => {
    const [w] = await parseWorkloads('./examples/my-workload.ts', pkgDir);
    expect(w.name).toBe('stats-reset');
    const out = tempDir();
    const r = await runCli([
      '--workload',
      join(pkgDir, 'examples/my-workload.ts'),
      '--arch',
      'x86-64,arm64[thin]',
      '--cpus',
      '1,4',
      '--quick',
      '--out',
      out,
      '--format',
      'json',
    ]);
    expect(r.code).toBe(0);
    const results = JSON.parse(r.stdout);
    const rows = results.rows.filter((x: { workload: string }) => x.workload === 'stats-reset');
    // 5 x86 + 2 arm64 mechanisms, at full size and at each of the two CPU counts.
    expect(rows).toHaveLength(7 * 3);
    for (const x of rows) expect(x.modeled.events.wrWindow).toBeCloseTo(2, 9); // memset + assign
    expect(results.workloads.map((x: { name: string }) => x.name)).toEqual(['stats-reset']);
  });

  it('refuses a module that exports no workload, a wrong shape, or a missing file (exit 2)', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'none.mjs'), 'export const x = 1;\n');
    writeFileSync(join(dir, 'bad.mjs'), "export default { name: 'b', size: 3 };\n");
    await expect(parseWorkloads(join(dir, 'none.mjs'))).rejects.toThrow(/exports no workload/);
    await expect(parseWorkloads(join(dir, 'bad.mjs'))).rejects.toThrow(
      /export default lacks description \(a string\), needsPool \(a boolean\), size\(\) \(a function\)/,
    );
    await expect(parseWorkloads(join(dir, 'gone.ts'))).rejects.toBeInstanceOf(WorkloadModuleError);
    const r = await runCli(['--workload', join(dir, 'bad.mjs')]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/^prmem-bench: --workload: ".*bad\.mjs" export default lacks/);
  });

  it('refuses a workload name used twice', async () => {
    await expect(parseWorkloads('wr-assign,wr-assign')).rejects.toThrow(
      /repeats the workload name/,
    );
  });
});
