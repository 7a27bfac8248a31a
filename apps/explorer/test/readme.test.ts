/** Runs the commands the README gives: the static build and `pnpm explorer`. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_DIR } from './browser.js';

const ROOT = join(APP_DIR, '..', '..');
const readme = readFileSync(join(APP_DIR, 'README.md'), 'utf8');
// A server command carries `# test: <this file>` (the repository's README test leaves it
// to this one): the mark is a shell comment, stripped here for the comparison.
const commands = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
  m[1].replace(/\s+#\s*test:.*$/gm, '').trim(),
);

/** Starts a README command in its own process group and waits for `re` in its output. */
async function startServer(
  cmd: string,
  re: RegExp,
): Promise<{ p: ChildProcess; match: RegExpExecArray }> {
  // No colours in Vite's banner: the URL is read from plain text.
  const env = { ...process.env, NO_COLOR: '1' };
  const p = spawn('sh', ['-c', cmd], { cwd: ROOT, detached: true, stdio: 'pipe', env });
  let out = '';
  const add = (d: unknown) => {
    out += String(d);
  };
  p.stdout?.on('data', add);
  p.stderr?.on('data', add);
  const deadline = Date.now() + 90_000;
  while (!re.test(out) && Date.now() < deadline && p.exitCode === null)
    await new Promise((r) => setTimeout(r, 200));
  const match = re.exec(out);
  if (!match) {
    stop(p);
    throw new Error(`${cmd} never printed ${re}:\n${out}`);
  }
  return { p, match };
}

function stop(p: ChildProcess): void {
  // The process group started below: pnpm, vite, and nothing else.
  if (p.pid !== undefined && p.exitCode === null) process.kill(-p.pid, 'SIGTERM');
}

describe('README commands', () => {
  it('lists the commands tested here', () => {
    expect(commands).toEqual([
      'pnpm explorer',
      'pnpm --filter @prmem/explorer dev',
      'pnpm --filter @prmem/explorer build',
    ]);
  });

  it('pnpm --filter @prmem/explorer build writes a static site with relative paths', () => {
    const r = spawnSync('sh', ['-c', commands[2]], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(join(APP_DIR, 'dist', 'index.html'), 'utf8');
    const assets = readdirSync(join(APP_DIR, 'dist', 'assets'));
    expect(assets.filter((f) => f.endsWith('.js'))).toHaveLength(1);
    for (const f of assets) expect(html).toContain(`./assets/${f}`);
  });

  it('pnpm explorer serves the app on 127.0.0.1:5178', async () => {
    const { p } = await startServer(commands[0], /127\.0\.0\.1:5178/);
    try {
      const html = await (await fetch('http://127.0.0.1:5178/')).text();
      expect(html).toContain('prmem explorer');
      const js = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
      expect(js).toBeDefined();
      const bundle = await (await fetch(`http://127.0.0.1:5178/${js}`)).text();
      // The real model is in the bundle, not a copy of its results.
      expect(bundle).toContain('WriteRareViolation');
    } finally {
      stop(p);
    }
  }, 120_000);

  it('pnpm --filter @prmem/explorer dev serves the sources, transformed on request', async () => {
    const { p, match } = await startServer(commands[1], /(http:\/\/127\.0\.0\.1:\d+)\//);
    try {
      const base = match[1];
      expect(await (await fetch(`${base}/`)).text()).toContain('src/main.tsx');
      const main = await (await fetch(`${base}/src/main.tsx`)).text();
      expect(main).toMatch(/import .*ui\/app/);
      // A workspace package resolves to its TypeScript source (the @prmem/source condition).
      const world = await (await fetch(`${base}/src/model/world.ts`)).text();
      expect(world).toMatch(/packages\/wr-ops\/src\/index\.ts/);
    } finally {
      stop(p);
    }
  }, 120_000);
});
