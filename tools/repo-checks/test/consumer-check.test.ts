import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import {
  declaredTypes,
  entryPoints,
  publishablePackages,
  verifyInstalled,
} from '../src/consumer-check.mjs';

const fixtures = fileURLToPath(new URL('../fixtures/consumer', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** A fresh temp folder, removed when the calling test finishes. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// A consumer project outside the workspace, with the fixture packages "installed" by
// copying them into node_modules (the same layout npm gives after extracting tarballs).
let project: string;
beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'prmem-consumer-test-'));
  writeFileSync(join(project, 'package.json'), '{ "private": true, "type": "module" }\n');
  mkdirSync(join(project, 'node_modules', '@prmem'), { recursive: true });
  for (const name of ['good', 'broken', 'empty']) {
    cpSync(join(fixtures, name), join(project, 'node_modules', '@prmem', name), {
      recursive: true,
    });
  }
});
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe('consumer check', () => {
  it('passes a package whose entry points load with plain node and whose types exist', () => {
    const [good] = verifyInstalled(project, ['@prmem/good']);
    expect(good.problems).toEqual([]);
    expect(good.ok).toBe(true);
    expect(good.entries).toEqual([
      { spec: '@prmem/good', names: ['good'] },
      { spec: '@prmem/good/extra', names: ['extra'] },
    ]);
  });

  it('fails a package whose exports point to a missing file and whose types are missing', () => {
    const [broken] = verifyInstalled(project, ['@prmem/broken']);
    expect(broken.ok).toBe(false);
    expect(broken.problems).toHaveLength(2);
    expect(broken.problems[0]).toBe('types file ./lib/index.d.ts is missing from the tarball');
    expect(broken.problems[1]).toMatch(/^import\('@prmem\/broken'\) failed: .*missing\.js/);
  });

  it('fails a package that loads but exposes no export, and one that is not installed', () => {
    const [empty, absent] = verifyInstalled(project, ['@prmem/empty', '@prmem/absent']);
    expect(empty.problems).toEqual(["import('@prmem/empty') exposes no export"]);
    expect(absent.problems).toEqual(['not installed']);
  });

  it('reads entry points and types from a manifest', () => {
    const manifest = {
      name: '@prmem/x',
      types: './dist/index.d.ts',
      exports: {
        '.': { '@prmem/source': './src/index.ts', types: './dist/index.d.ts', default: './d.js' },
        './sub': { types: './dist/sub.d.ts', default: './dist/sub.js' },
        './wild/*': './dist/wild/*.js',
        './package.json': './package.json',
      },
    };
    expect(entryPoints(manifest)).toEqual(['@prmem/x', '@prmem/x/sub']);
    expect(declaredTypes(manifest)).toEqual(['./dist/index.d.ts', './dist/sub.d.ts']);
  });

  it('packs every non-private package under packages/ of the real workspace', () => {
    const names = publishablePackages(repoRoot).map((p) => p.manifest.name);
    expect(names).toContain('@prmem/core');
    expect(names).not.toContain('@prmem/repo-checks');
  });
});

describe('package hygiene in the consumer check', () => {
  it('names missing manifest fields and a missing LICENSE', async () => {
    const { hygieneProblems } = await import('../src/consumer-check.mjs');
    const dir = tempDir('prmem-hygiene-');
    expect(hygieneProblems(dir, { name: 'x', license: 'MIT', keywords: [] })).toEqual([
      'package.json has no repository',
      'package.json has no homepage',
      'package.json has no bugs',
      'package.json has no keywords',
      'no LICENSE file in the tarball',
    ]);
    writeFileSync(join(dir, 'LICENSE'), 'MIT\n');
    expect(
      hygieneProblems(dir, {
        license: 'MIT',
        repository: 'r',
        homepage: 'h',
        bugs: 'b',
        keywords: ['k'],
      }),
    ).toEqual([]);
  });

  it('finds source maps whose sources are not shipped, and accepts embedded ones', async () => {
    const { sourceMapProblems } = await import('../src/consumer-check.mjs');
    const dir = tempDir('prmem-maps-');
    mkdirSync(join(dir, 'dist'));
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'dist', 'a.js.map'), JSON.stringify({ sources: ['../src/a.ts'] }));
    writeFileSync(
      join(dir, 'dist', 'b.js.map'),
      JSON.stringify({ sources: ['../src/b.ts'], sourcesContent: ['export {}'] }),
    );
    expect(sourceMapProblems(dir)).toEqual([
      'dist/a.js.map names ../src/a.ts, which is not in the tarball',
    ]);
    writeFileSync(join(dir, 'src', 'a.ts'), 'export {}\n');
    expect(sourceMapProblems(dir)).toEqual([]);
  });

  it('runs publint and attw on a tarball and reports what they find', async () => {
    const { lintTarballs } = await import('../src/consumer-check.mjs');
    const dir = tempDir('prmem-lint-');
    const pkg = join(dir, 'package');
    mkdirSync(pkg);
    // `main` names a file the tarball lacks (publint); the ESM entry is typed by a .d.cts,
    // so TypeScript would treat it as CommonJS (attw: "masquerading as CJS").
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({
        name: 'bad-pkg',
        version: '1.0.0',
        type: 'module',
        main: './gone.js',
        exports: { '.': { types: './index.d.cts', default: './index.js' } },
      }),
    );
    writeFileSync(join(pkg, 'index.js'), 'export const a = 1;\n');
    writeFileSync(join(pkg, 'index.d.cts'), 'export declare const a: number;\n');
    const tgz = join(dir, 'bad-pkg-1.0.0.tgz');
    const tar = spawnSync('tar', ['czf', tgz, '-C', dir, 'package']);
    expect(tar.status).toBe(0);
    const problems: string[] = (await lintTarballs([tgz])).get('bad-pkg') ?? [];
    expect(problems.some((p) => p.startsWith('publint error:'))).toBe(true);
    expect(problems.some((p) => p.startsWith('attw:') && p.includes('Masquerading as CJS'))).toBe(
      true,
    );
  }, 60_000);
});
