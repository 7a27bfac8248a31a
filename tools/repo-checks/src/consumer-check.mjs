#!/usr/bin/env node
// Consumer check: do the published packages work for someone who is not us?
//
// Builds nothing (CI builds first). For every non-private package under packages/ it
// runs `pnpm pack` (which rewrites `workspace:*` ranges to real versions), installs all
// the tarballs together with plain `npm install` into a throwaway project outside the
// workspace (os.tmpdir()), then, with plain `node` — no `@prmem/source` condition, no
// TypeScript — imports every entry point of every package and checks that
//   - each entry point loads and exposes at least one export;
//   - every `types` file the package declares (top-level `types`/`typings` and every
//     `types` condition in `exports`) is present in the installed tarball;
//   - the manifest has license, repository, homepage, bugs and keywords, and the tarball
//     a LICENSE file;
//   - every source a source map names is in the tarball (or embedded in the map);
//   - publint (strict) and arethetypeswrong (ESM-only profile) find nothing in the tarball;
//   - a backend written outside the repository (fixtures/outside-backend) passes
//     @prmem/core/testing's conformance kit from the tarball, and the same backend with
//     an injected bug fails it.
// Prints one line per package; exits non-zero on any failure.
//
// Usage: node tools/repo-checks/src/consumer-check.mjs [--keep]
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Non-private packages under `root`/packages: what we publish. */
export function publishablePackages(root) {
  const dir = join(root, 'packages');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((entry) => join(dir, entry))
    .filter((p) => existsSync(join(p, 'package.json')))
    .map((p) => ({ dir: p, manifest: JSON.parse(readFileSync(join(p, 'package.json'), 'utf8')) }))
    .filter((p) => !p.manifest.private);
}

/** Every `types` path a manifest declares (top-level fields and `exports` conditions). */
export function declaredTypes(manifest) {
  const out = new Set();
  for (const field of ['types', 'typings'])
    if (typeof manifest[field] === 'string') out.add(manifest[field]);
  const visit = (node) => {
    if (!node || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === 'types' && typeof value === 'string') out.add(value);
      else visit(value);
    }
  };
  visit(manifest.exports);
  return [...out];
}

/** The import specifiers of a package's entry points: `name` and `name/sub` per export. */
export function entryPoints(manifest) {
  const { name, exports } = manifest;
  if (exports === undefined || typeof exports === 'string' || Array.isArray(exports)) return [name];
  const keys = Object.keys(exports);
  if (!keys.some((k) => k.startsWith('.'))) return [name]; // a bare conditions object
  return keys
    .filter((k) => k.startsWith('.') && !k.includes('*') && !k.endsWith('.json'))
    .map((k) => (k === '.' ? name : `${name}${k.slice(1)}`));
}

const PROBE = `// written by tools/repo-checks/src/consumer-check.mjs
const spec = process.argv[2];
try {
  const mod = await import(spec);
  console.log(JSON.stringify({ ok: true, names: Object.keys(mod) }));
} catch (err) {
  console.log(JSON.stringify({ ok: false, error: String(err && err.message ? err.message : err).split('\\n')[0] }));
}
`;

/**
 * Import and verify installed packages in a consumer project (a directory with
 * node_modules). Runs each import in a fresh plain `node` process. Returns one result
 * per package: { name, ok, problems: string[], entries: [{ spec, names }] }.
 */
export function verifyInstalled(projectDir, names) {
  const probe = join(projectDir, 'consumer-probe.mjs');
  writeFileSync(probe, PROBE);
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // no --conditions=@prmem/source, no loaders
  const results = [];
  for (const name of names) {
    const problems = [];
    const entries = [];
    const pkgDir = join(projectDir, 'node_modules', ...name.split('/'));
    if (!existsSync(join(pkgDir, 'package.json'))) {
      results.push({ name, ok: false, problems: ['not installed'], entries });
      continue;
    }
    const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
    problems.push(...hygieneProblems(pkgDir, manifest), ...sourceMapProblems(pkgDir));
    const types = declaredTypes(manifest);
    if (types.length === 0) problems.push('declares no types');
    for (const t of types) {
      if (!existsSync(join(pkgDir, t)))
        problems.push(`types file ${t} is missing from the tarball`);
    }
    for (const spec of entryPoints(manifest)) {
      const run = spawnSync(process.execPath, [probe, spec], {
        cwd: projectDir,
        env,
        encoding: 'utf8',
      });
      let report;
      try {
        report = JSON.parse(run.stdout.trim().split('\n').pop() ?? '');
      } catch {
        report = { ok: false, error: `probe crashed: ${run.stderr.trim().split('\n')[0]}` };
      }
      if (!report.ok) problems.push(`import('${spec}') failed: ${report.error}`);
      else if (report.names.length === 0) problems.push(`import('${spec}') exposes no export`);
      else entries.push({ spec, names: report.names });
    }
    results.push({ name, ok: problems.length === 0, problems, entries });
  }
  rmSync(probe, { force: true });
  return results;
}

/** Manifest fields every published package carries (npm shows them; tools link them). */
export const REQUIRED_FIELDS = ['license', 'repository', 'homepage', 'bugs', 'keywords'];

/** Missing or empty required manifest fields, and a missing LICENSE file. */
export function hygieneProblems(pkgDir, manifest) {
  const problems = [];
  for (const f of REQUIRED_FIELDS) {
    const v = manifest[f];
    if (v === undefined || v === '' || (Array.isArray(v) && v.length === 0))
      problems.push(`package.json has no ${f}`);
  }
  if (!readdirSync(pkgDir).some((f) => /^licen[cs]e(\.|$)/i.test(f)))
    problems.push('no LICENSE file in the tarball');
  return problems;
}

/** Every source a source map (.js.map, .d.ts.map) names must be in the tarball. */
export function sourceMapProblems(pkgDir) {
  const problems = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(p);
      } else if (entry.name.endsWith('.map')) {
        let map;
        try {
          map = JSON.parse(readFileSync(p, 'utf8'));
        } catch {
          problems.push(`${relative(pkgDir, p)} is not JSON`);
          continue;
        }
        const root = resolve(dirname(p), map.sourceRoot ?? '');
        (map.sources ?? []).forEach((src, i) => {
          if (map.sourcesContent?.[i] != null) return; // embedded
          if (!existsSync(resolve(root, src)))
            problems.push(`${relative(pkgDir, p)} names ${src}, which is not in the tarball`);
        });
      }
    }
  };
  walk(pkgDir);
  return problems.slice(0, 5).concat(problems.length > 5 ? [`… ${problems.length - 5} more`] : []);
}

/** publint and attw (ESM-only profile) on each tarball; problems by package name. */
export async function lintTarballs(tarballs) {
  const { publint } = await import('publint');
  const { formatMessage } = await import('publint/utils');
  const req = createRequire(import.meta.url);
  const attwPkg = req.resolve('@arethetypeswrong/cli/package.json');
  const attwBin = join(dirname(attwPkg), JSON.parse(readFileSync(attwPkg, 'utf8')).bin.attw);
  const out = new Map();
  for (const file of tarballs) {
    const buf = readFileSync(file);
    const tarball = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    const r = await publint({ pack: { tarball }, level: 'suggestion', strict: true });
    const name = r.pkg?.name ?? file;
    const problems = r.messages.map((m) => `publint ${m.type}: ${formatMessage(m, r.pkg)}`);
    // ESM-only packages: CommonJS resolution (node10, require from node16) does not apply.
    const a = spawnSync(
      process.execPath,
      [attwBin, file, '--profile', 'esm-only', '--format', 'ascii'],
      {
        encoding: 'utf8',
      },
    );
    if (a.status !== 0)
      problems.push(`attw: ${(a.stdout + a.stderr).trim().split('\n').slice(-8).join(' | ')}`);
    out.set(name, problems);
  }
  return out;
}

const OUTSIDE = fileURLToPath(new URL('../fixtures/outside-backend/', import.meta.url));

/**
 * Copies the outside backend into the consumer project and runs the conformance kit on
 * it with plain node, once as written (every rule must pass) and once with its injected
 * bug (some rule must fail). Returns the problems found.
 */
export function outsideBackendProblems(projectDir, fixture = OUTSIDE) {
  for (const f of readdirSync(fixture))
    writeFileSync(join(projectDir, f), readFileSync(join(fixture, f)));
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const kit = (args) => {
    const r = spawnSync(process.execPath, ['conformance.test.mjs', ...args], {
      cwd: projectDir,
      env,
      encoding: 'utf8',
    });
    try {
      return JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
    } catch {
      return { crashed: `${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}` };
    }
  };
  const problems = [];
  const good = kit([]);
  if (good.crashed) problems.push(`the kit crashed: ${good.crashed}`);
  else if (good.failed > 0 || good.passed === 0)
    problems.push(
      `the outside backend fails the kit (${good.passed} passed): ${good.failures.slice(0, 3).join('; ')}`,
    );
  const bad = kit(['--broken']);
  if (bad.crashed) problems.push(`the kit crashed on the injected bug: ${bad.crashed}`);
  else if (!bad.failures?.some((f) => f.includes('switchMm')))
    problems.push('the kit did not report the injected switchMm bug');
  return { problems, passed: good.passed ?? 0 };
}

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} (in ${cwd}) exited ${r.status}\n${r.stdout}${r.stderr}`,
    );
  }
  return r.stdout;
}

export function formatResults(results) {
  const lines = [];
  for (const r of results) {
    if (r.ok) {
      const detail =
        r.detail ?? r.entries.map((e) => `${e.spec}: ${e.names.length} exports`).join(', ');
      lines.push(`  ok    ${r.name} (${detail})`);
    } else {
      lines.push(`  FAIL  ${r.name}`);
      for (const p of r.problems) lines.push(`          ${p}`);
    }
  }
  return lines.join('\n');
}

async function main() {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const keep = process.argv.includes('--keep');
  const pkgs = publishablePackages(root);
  if (pkgs.length === 0) {
    console.error('consumer check: no publishable package under packages/');
    return 1;
  }
  const work = mkdtempSync(join(tmpdir(), 'prmem-consumer-'));
  const tarballs = join(work, 'tarballs');
  const project = join(work, 'project');
  mkdirSync(tarballs);
  mkdirSync(project);
  try {
    for (const p of pkgs) {
      const main = join(p.dir, 'dist');
      if (!existsSync(main))
        console.warn(`  note: ${p.manifest.name} has no dist/ (run pnpm build first)`);
      run('pnpm', ['pack', '--pack-destination', tarballs], p.dir);
    }
    const files = readdirSync(tarballs)
      .filter((f) => f.endsWith('.tgz'))
      .map((f) => join(tarballs, f));
    writeFileSync(
      join(project, 'package.json'),
      `${JSON.stringify({ name: 'prmem-consumer-check', private: true, type: 'module' }, null, 2)}\n`,
    );
    // All tarballs in one install: inter-package dependencies resolve to each other.
    // fast-check: the conformance kit's optional peer, which the outside backend uses.
    run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--no-package-lock',
        '--loglevel=error',
        ...files,
        'fast-check@^4',
      ],
      project,
    );
    const results = verifyInstalled(
      project,
      pkgs.map((p) => p.manifest.name),
    );
    // The tarballs as a registry would serve them: publint and arethetypeswrong.
    const lint = await lintTarballs(files);
    for (const r of results) {
      const extra = lint.get(r.name) ?? [];
      r.problems.push(...extra);
      r.ok = r.problems.length === 0;
    }
    const outside = outsideBackendProblems(project);
    results.push({
      name: 'outside backend (conformance kit)',
      ok: outside.problems.length === 0,
      problems: outside.problems,
      entries: [],
      detail: `${outside.passed} rules passed; the injected bug is reported`,
    });
    const failed = results.filter((r) => !r.ok).length;
    console.log(`consumer check (${files.length} tarballs installed with npm in ${project}):`);
    console.log(formatResults(results));
    console.log(
      failed === 0
        ? `consumer check: all ${results.length} packages ok`
        : `consumer check: ${failed} package(s) failed`,
    );
    return failed === 0 ? 0 : 1;
  } finally {
    if (keep) console.log(`consumer check: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(`consumer check: ${err.message}`);
      process.exit(1);
    },
  );
}
