import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ciRuns, quickened, readmes, shellBlocks } from '../src/readme-commands.mjs';

const root = fileURLToPath(new URL('../../..', import.meta.url));

// Every ```sh block of every README, run as written from the repository root (benchmark
// runs with --quick). Lines marked `# ci: <command>` are covered by .ci/run instead.
const blocks = readmes(root).flatMap((file) =>
  shellBlocks(readFileSync(join(root, file), 'utf8')).map((b) => ({ file, ...b })),
);

describe('README commands', () => {
  it('finds the READMEs’ command blocks', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    expect(blocks.some((b) => b.file === 'README.md')).toBe(true);
  });

  it.each(blocks.filter((b) => b.run.replace(/#.*$/gm, '').trim() !== ''))(
    '$file:$line runs as written',
    (b) => {
      const r = spawnSync('bash', ['-e', '-c', quickened(b.run)], {
        cwd: root,
        encoding: 'utf8',
        timeout: 240_000,
        env: { ...process.env, FORCE_COLOR: '0' },
      });
      expect(r.status, `${b.file}:${b.line}\n${b.run}\n--- stderr\n${r.stderr.slice(-3000)}`).toBe(
        0,
      );
    },
    300_000,
  );

  it.each(blocks.flatMap((b) => b.ci.map((c) => ({ file: b.file, ...c }))))(
    '$file: "$line" is run by .ci/run ($by)',
    (c) => {
      expect(ciRuns(root, c.by), `.ci/run does not run ${c.by}`).toBe(true);
    },
  );

  it.each(blocks.flatMap((b) => b.tested.map((t) => ({ file: b.file, ...t }))))(
    '$file: "$line" is run by $by',
    (t) => {
      const test = join(root, t.by);
      expect(existsSync(test), `${t.by} does not exist`).toBe(true);
      // The test reads the README's commands, so what it runs is what the README says.
      expect(readFileSync(test, 'utf8')).toContain('README.md');
    },
  );
});

describe('shellBlocks / quickened', () => {
  const md = [
    '# x',
    '```sh',
    'cd apps/bench',
    'pnpm bench -- --arch x86-64   # a comment',
    'npm i -g pnpm@10.34.9 && pnpm install && pnpm test  # ci: pnpm test',
    '```',
    '```ts',
    'not(shell)',
    '```',
  ].join('\n');

  it('splits a block into the lines to run and the CI-marked ones', () => {
    const [b, ...rest] = shellBlocks(md);
    expect(rest).toEqual([]);
    expect(b.line).toBe(2);
    expect(b.run).toBe('cd apps/bench\npnpm bench -- --arch x86-64   # a comment\n');
    expect(b.ci).toEqual([
      { line: 'npm i -g pnpm@10.34.9 && pnpm install && pnpm test', by: 'pnpm test' },
    ]);
  });

  it('adds --quick to benchmark runs only, once', () => {
    expect(quickened('pnpm bench -- --arch x86-64   # c')).toBe(
      'pnpm bench -- --arch x86-64 --quick',
    );
    expect(quickened('pnpm prmem-bench --quick')).toBe('pnpm prmem-bench --quick');
    expect(quickened('pnpm attacks --json')).toBe('pnpm attacks --json');
  });

  it('checks a CI-marked command against .ci/run', () => {
    expect(ciRuns(root, 'pnpm test')).toBe(true);
    expect(ciRuns(root, 'pnpm no-such-command')).toBe(false);
  });
});
