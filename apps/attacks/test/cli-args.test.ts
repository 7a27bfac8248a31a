import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_USAGE, parseAttacksArgs, parseFuzzArgs } from '../src/cli-args.js';

const pkg = resolve(import.meta.dirname, '..');
const tsx = resolve(pkg, '../../node_modules/.bin/tsx');

describe('pnpm attacks / pnpm fuzz arguments', () => {
  it('parse flags into options, with a leading `--` from pnpm ignored', () => {
    const a = parseAttacksArgs([
      '--',
      '--json',
      '--attack',
      'a,b',
      '--combo',
      'arm64/',
      '--seed',
      '7',
    ]);
    expect(a).toEqual({
      kind: 'run',
      opts: { out: undefined, json: true, attacks: ['a', 'b'], combos: ['arm64/'], seed: 7 },
    });
    const f = parseFuzzArgs(['--seconds', '5', '--no-shrink', '--backend', 'arm64'], 40);
    expect(f).toMatchObject({
      kind: 'run',
      opts: { seconds: 5, shrink: false, backend: 'arm64', maxCommands: 40, injectBug: false },
    });
    expect(parseFuzzArgs([], 40, 4)).toMatchObject({ opts: { memory: 4 } });
    expect(parseFuzzArgs(['--memory', '16'], 40, 4)).toMatchObject({ opts: { memory: 16 } });
  });

  it.each([
    [['--frob'], /^prmem-fuzz: unknown option '--frob' \(see prmem-fuzz --help\)\n$/],
    [['--seconds', '0'], /--seconds <n>' argument '0' is invalid\. It must be an integer ≥ 1\./],
    [['--seed', '-1'], /argument '-1' is invalid/],
    [['--runs', '2.5'], /argument '2\.5' is invalid/],
    [['--memory', '3'], /--memory <MiB>' argument '3' is invalid\. It must be an integer ≥ 4\./],
    [['--memory', '4096'], /argument '4096' is invalid\. It must be an integer from 4 to 2048\./],
    [['extra'], /too many arguments/],
  ])('fuzz %j: one line, exit 2', (argv, message) => {
    const r = parseFuzzArgs(argv, 40);
    expect(r.kind).toBe('exit');
    if (r.kind !== 'exit') return;
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('--help documents every flag, the exit codes and examples', () => {
    for (const r of [parseAttacksArgs(['--help']), parseFuzzArgs(['--help'], 40)]) {
      expect(r).toMatchObject({ kind: 'exit', code: 0 });
      if (r.kind !== 'exit') continue;
      expect(r.stdout).toMatch(/Exit codes: 0 .* 2 a bad flag/);
      expect(r.stdout).toMatch(/Examples:/);
    }
    const a = parseAttacksArgs(['--help']);
    if (a.kind === 'exit')
      for (const f of ['--out', '--json', '--attack', '--combo', '--seed'])
        expect(a.stdout).toContain(f);
    const f = parseFuzzArgs(['--help'], 40);
    if (f.kind === 'exit')
      for (const flag of [
        '--seconds',
        '--seed',
        '--backend',
        '--mechanism',
        '--runs',
        '--max-commands',
        '--no-shrink',
        '--inject-bug',
      ])
        expect(f.stdout).toContain(flag);
  });

  it('a real `pnpm fuzz --frob` process prints one line, no stack, and exits 2', () => {
    const r = spawnSync(tsx, ['--conditions=@prmem/source', 'src/fuzz-cli.ts', '--frob'], {
      cwd: pkg,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(EXIT_USAGE);
    expect(r.stderr).toBe("prmem-fuzz: unknown option '--frob' (see prmem-fuzz --help)\n");
    expect(r.stdout).toBe('');
  });

  it('a real campaign reports commands/s for every backend/mechanism it fuzzed', () => {
    const r = spawnSync(
      tsx,
      [
        '--conditions=@prmem/source',
        'src/fuzz-cli.ts',
        '--seconds',
        '2',
        '--seed',
        '3',
        '--backend',
        'x86-64',
      ],
      { cwd: pkg, encoding: 'utf8', timeout: 120_000 },
    );
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    const fuzzed = lines.filter((l) => l.startsWith('  fuzz '));
    expect(fuzzed.length).toBeGreaterThan(1);
    const summary = lines.find((l) => l.startsWith('commands/s per backend/mechanism: '));
    if (!summary) throw new Error(`no commands/s summary in:\n${r.stdout}`);
    for (const l of fuzzed) {
      const [, label, commands, secs, rate] =
        /^ {2}fuzz +(\S+) +ok +\d+ programs +(\d+) commands ([\d.]+) s +(\d+) commands\/s \(\d+ per CPU-second\)$/.exec(
          l,
        ) ?? [];
      expect(label, l).toBeDefined();
      expect(Number(commands)).toBeGreaterThan(0);
      // The rate is the commands over the time, as printed (to the rounding of the seconds).
      expect(Number(rate)).toBeGreaterThan((Number(commands) / (Number(secs) + 0.05)) * 0.99);
      expect(summary).toContain(`${label} ${rate}`);
    }
    expect(summary).toMatch(/; slowest x86-64\/\S+ \d+$/);
  });
});
