import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { EXIT_OK, EXIT_USAGE } from '../src/main.js';
import { resultsSchema } from '../src/results.js';
import { runCli, tempDir } from './helpers.js';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('prmem-bench flags', () => {
  it.each([
    [['--no-such-flag'], /unknown option '--no-such-flag'/],
    [['--cpus', '0'], /--cpus: "0" is not a CPU count/],
    [['--cpus', '1,abc'], /--cpus: "abc" is not a CPU count/],
    [['--cpus', '512'], /--cpus: "512" is not a CPU count/],
    [['--format', 'xml'], /--format.*xml.*table, json, md/],
    [['--workload', 'wr-assign,nope'], /--workload: "nope" is not a workload \(wr-assign, /],
    [['--seed', '-3'], /--seed: "-3" is not a seed/],
    [['--seed', '1.5'], /--seed: "1.5" is not a seed/],
    [['--jobs', '0'], /--jobs: "0" is not a thread count/],
    [['--jobs', 'two'], /--jobs: "two" is not a thread count/],
    [
      ['--arch', 'sparc'],
      /--arch: "sparc" matches no backend\/mechanism \(available: x86-64\/alias-mm/,
    ],
    [['--mechanism', 'magic'], /--mechanism: "magic" matches no backend/],
    [['extra-arg'], /too many arguments/],
  ])('%j is refused with a clear message and exit code 2', async (argv, message) => {
    const r = await runCli(argv);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('refuses a config that fails core’s schema, naming every bad field', async () => {
    const dir = tempDir();
    const file = join(dir, 'prmem.config.json');
    writeFileSync(
      file,
      JSON.stringify({ arch: 'x86-64', cpus: 1000, tlbEntries: 100, colour: 'red' }),
    );
    const r = await runCli(['--config', file]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/invalid prmem config/);
    expect(r.stderr).toMatch(/cpus: must be an integer from 1 to 256 \(got 1000\)/);
    expect(r.stderr).toMatch(/tlbEntries: must be a power of two from 8 to 65536 \(got 100\)/);
    expect(r.stderr).toMatch(/colour: unknown key; valid keys: arch, mechanism, cpus/);
    expect(r.stderr).toMatch(/colour/);
  });

  it('refuses a missing config file, a config that is not JSON, and an unknown mechanism', async () => {
    const dir = tempDir();
    expect((await runCli(['--config', join(dir, 'none.json')])).stderr).toMatch(
      /cannot read config file/,
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "arch": ');
    expect((await runCli(['--config', bad])).stderr).toMatch(/not valid JSON/);
    const mech = join(dir, 'mech.json');
    writeFileSync(mech, JSON.stringify({ arch: 'arm64', mechanism: 'cr0-wp' }));
    const r = await runCli(['--config', mech]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/"cr0-wp" is not a mechanism of arm64 \(hyp-assist, alias-mm\)/);
  });

  it('exits non-zero from a real process on a bad flag', () => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', '--conditions=@prmem/source', 'src/cli.ts', '--cpus', 'many'],
      { cwd: pkgDir, encoding: 'utf8' },
    );
    expect(r.status).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/--cpus: "many" is not a CPU count/);
  });
});

describe('a prmem-bench run', () => {
  it('writes results.json (valid against its schema), report.md, report.html with SVG charts, and a trace', async () => {
    const out = tempDir();
    const r = await runCli([
      '--quick',
      '--arch',
      'x86-64,nommu-alias',
      '--mechanism',
      'alias-mm,direct-remap',
      '--cpus',
      '1,2',
      '--workload',
      'wr-assign,wr-batch',
      '--out',
      out,
      '--format',
      'json',
      '--trace',
    ]);
    expect(r.stderr).not.toMatch(/warning|FAILED/);
    expect(r.code).toBe(EXIT_OK);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    const results = resultsSchema.parse(json);
    // --format json prints the same document
    expect(JSON.parse(r.stdout)).toEqual(json);
    expect(results.variants.map((v) => v.id)).toEqual([
      'x86-64/alias-mm',
      'nommu-alias/direct-remap',
    ]);
    // Each variant × workload phase: one full row at the reference CPU count + one per swept count.
    const phases = ['wr-assign/assign', 'wr-batch/batched', 'wr-batch/one-by-one'];
    expect(results.rows).toHaveLength(2 * phases.length * 3);
    for (const row of results.rows) {
      expect(row.modeled.cyclesPerOp).toBeGreaterThan(0);
      expect(row.modeled.nsPerOp).toBeCloseTo(row.modeled.cyclesPerOp / results.clockGHz, 9);
      expect(row.wall.samplesMs.length).toBe(row.wall.repeats);
    }

    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/^# prmem-bench/m);
    expect(md).toMatch(/## Cost against CPU count/);
    // From attacks-results/attacks.json if a run left one, else the suite run by the bench.
    expect(md).toMatch(/Every attack of the suite against every mechanism \(/);
    // The verdict opens the report: cost, growth with CPUs, measured properties.
    expect(md.indexOf('| mechanism | cycles per `wrAssign`')).toBeLessThan(md.indexOf('## '));
    expect(md).toMatch(/\| `x86-64\/alias-mm` \| [\d,]+ \| — \| flat \| 0 \| 0 \| 0 \| \[no ✓\]/);
    expect(md).toMatch(
      /\| `nommu-alias\/direct-remap` \| [\d,]+ \| — \| linear, \+[\d,]+ cycles\/CPU \| 0 \| 0 \| 0 \| \[yes ✗\]/, // no IPI at 1 CPU
    );
    expect(md).toMatch(/^- \[Attack matrix\]\(#attack-matrix\)$/m);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    // The wrAssign bars, and one sweep per phase (assign, batched, one-by-one).
    expect(html.match(/<svg/g)?.length).toBe(4);
    // Values on hover: marks carry a <title> (a static SVG has no tooltips).
    expect(html).toMatch(/<title>x86-64\/alias-mm: [\d,]+ cycles per operation<\/title>/);
    expect(html).toMatch(/<title>nommu-alias\/direct-remap at 2 CPUs: [\d,]+ cycles<\/title>/);
    // A table of contents, and verdict cells linking to their evidence in the matrix.
    expect(html).toMatch(/<nav class="toc"/);
    const link = /<td [^>]*class="t-bad"><a href="#(a-[^"]+)">yes/.exec(html)?.[1];
    expect(link).toBeDefined();
    expect(html).toContain(`id="${link}"`);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org|vega\.github\.io)/);

    expect(existsSync(join(out, 'trace.json'))).toBe(true);
    const trace = JSON.parse(readFileSync(join(out, 'trace.json'), 'utf8'));
    const names = trace.traceEvents.filter((e: { name: string }) => e.name === 'process_name');
    expect(names.map((e: { pid: number }) => e.pid)).toEqual([1, 2]);
    expect(names[1].args.name).toMatch(/nommu-alias\/direct-remap/);
    // The direct remap of a 2-CPU machine sends IPIs: flows appear in its process only.
    const flows = trace.traceEvents.filter((e: { ph: string }) => e.ph === 's');
    expect(flows.length).toBeGreaterThan(0);
    expect(new Set(flows.map((e: { pid: number }) => e.pid))).toEqual(new Set([2]));
  });
});

describe('the end of a run', () => {
  it('takes flags after a literal `--` (pnpm bench -- …) and ends with the verdict and absolute paths', async () => {
    const out = tempDir();
    const r = await runCli([
      '--',
      '--quick',
      '--arch',
      'x86-64',
      '--mechanism',
      'alias-mm,cr0-wp',
      '--workload',
      'wr-assign',
      '--cpus',
      '1,2',
      '--attacks',
      join(out, 'none.json'),
    ]);
    // A missing --attacks file is refused before anything runs.
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/--attacks: ".*none\.json" is not a file/);
    const ok = await runCli([
      '--',
      '--quick',
      '--arch',
      'x86-64',
      '--mechanism',
      'alias-mm,cr0-wp',
      '--workload',
      'wr-assign',
      '--cpus',
      '1,2',
      '--out',
      out,
    ]);
    expect(ok.code).toBe(EXIT_OK);
    const lines = ok.stdout.trimEnd().split('\n');
    const wrote = lines.findIndex((l) => /^wrote \(in [\d.]+ s\):$/.test(l));
    expect(wrote).toBeGreaterThan(0);
    // The verdict table comes right before the paths; nothing follows them.
    expect(
      lines
        .slice(0, wrote)
        .reverse()
        .find((l) => l.startsWith('Verdict:')),
    ).toMatch(/^Verdict: modeled cycles at 1 CPUs/);
    const paths = lines.slice(wrote + 1).map((l) => l.trim());
    expect(paths).toEqual(['results.json', 'report.md', 'report.html'].map((f) => join(out, f)));
    for (const p of paths) expect(existsSync(p)).toBe(true);
    expect(ok.stderr).not.toMatch(/wrote/);
  });
});
