/** Runs the commands the README gives: the static build and `pnpm explorer`. */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_DIR } from './browser.js';

const ROOT = join(APP_DIR, '..', '..');
const readme = readFileSync(join(APP_DIR, 'README.md'), 'utf8');
const commands = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1].trim());

function stop(p: ChildProcess): void {
  // The process group started below: pnpm, vite, and nothing else.
  if (p.pid !== undefined && p.exitCode === null) process.kill(-p.pid, 'SIGTERM');
}

describe('README commands', () => {
  it('lists the commands tested here', () => {
    expect(commands).toEqual(['pnpm explorer', 'pnpm --filter @prmem/explorer build']);
  });

  it('pnpm --filter @prmem/explorer build writes a static site with relative paths', () => {
    const r = spawnSync('sh', ['-c', commands[1]], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(join(APP_DIR, 'dist', 'index.html'), 'utf8');
    const assets = readdirSync(join(APP_DIR, 'dist', 'assets'));
    expect(assets.filter((f) => f.endsWith('.js'))).toHaveLength(1);
    for (const f of assets) expect(html).toContain(`./assets/${f}`);
  });

  it('pnpm explorer serves the app on 127.0.0.1:5178', async () => {
    const p = spawn('sh', ['-c', commands[0]], { cwd: ROOT, detached: true, stdio: 'pipe' });
    let out = '';
    p.stdout?.on('data', (d) => {
      out += String(d);
    });
    p.stderr?.on('data', (d) => {
      out += String(d);
    });
    try {
      const deadline = Date.now() + 90_000;
      while (!/127\.0\.0\.1:5178/.test(out) && Date.now() < deadline && p.exitCode === null)
        await new Promise((r) => setTimeout(r, 200));
      expect(out).toMatch(/127\.0\.0\.1:5178/);
      const html = await (await fetch('http://127.0.0.1:5178/')).text();
      expect(html).toContain('prmem explorer');
      const js = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
      expect(js).toBeDefined();
      const bundle = await (await fetch(`http://127.0.0.1:5178/${js}`)).text();
      // The real model is in the bundle, not a copy of its results.
      expect(bundle).toContain('WriteRareViolation');
      expect(existsSync(join(APP_DIR, 'dist', 'index.html'))).toBe(true);
    } finally {
      stop(p);
    }
  }, 120_000);
});
