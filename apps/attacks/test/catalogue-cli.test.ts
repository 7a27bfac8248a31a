import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { MatrixReport } from '../src/index.js';

const pkg = resolve(import.meta.dirname, '..');
const tsx = resolve(pkg, '../../node_modules/.bin/tsx');

/** A fresh temp folder, removed when the calling test finishes. */
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'attacks-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function cli(args: string[]) {
  return spawnSync(tsx, ['--conditions=@prmem/source', 'src/cli.ts', ...args], {
    cwd: pkg,
    encoding: 'utf8',
    timeout: 60_000,
  });
}

describe('pnpm attacks', () => {
  it('writes the documented JSON and exits 0 when every outcome matches', () => {
    const out = join(tempDir(), 'm.json');
    const r = cli([
      '--attack',
      'plain-write-rodata,pte-rewrite-wr-pool',
      '--combo',
      'arm64/',
      '--out',
      out,
    ]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/pte-rewrite-wr-pool/);
    const report = JSON.parse(readFileSync(out, 'utf8')) as MatrixReport;
    expect(report.schema).toBe('prmem-attacks/1');
    expect(report.combos.map((c) => c.id)).toEqual(['arm64/hyp-assist', 'arm64/alias-mm']);
    expect(report.results).toHaveLength(4);
    expect(report.mismatches).toEqual([]);
    expect(report.properties['arm64/hyp-assist'].survivesPageTableAttack).toBe(true);
    expect(report.properties['arm64/alias-mm'].survivesPageTableAttack).toBe(false);
  });

  it('--json prints the report; a bad option exits 2', () => {
    const out = join(tempDir(), 'm.json');
    const r = cli(['--attack', 'wr-to-rodata', '--combo', 'toy', '--json', '--out', out]);
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as MatrixReport).results[0].outcome).toBe('detected');
    expect(cli(['--bogus']).status).toBe(2);
  });
});
