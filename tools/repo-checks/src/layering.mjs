#!/usr/bin/env node
// The layering rule of docs/architecture.md, checked on every workspace
// package under packages/* and apps/*:
//
//   core       imports no package of ours
//   arch-*     import only core
//   wr-ops     imports only core
//   pool       imports core and wr-ops (never an arch-* package)
//   attacks    (the security suite) may import every library package
//   apps/*     may import everything
//
// "Imports" means both the package.json manifests (dependencies, devDependencies,
// peerDependencies, optionalDependencies) and the module specifiers in src/ and test/
// (static and type imports, `export ... from`, literal dynamic `import()`, `require()`),
// found with TypeScript's own pre-processor, so comments and strings never count.
// A relative import that leaves its package directory is a violation too: it would
// bypass the rule.
//
// Usage: node tools/repo-checks/src/layering.mjs [root ...]   (default: the repository)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SCOPE = '@prmem/';
const RULE_FILE = 'tools/repo-checks/src/layering.mjs';

/**
 * The rule table: library package name (or `@prmem/arch-*`) -> the packages of ours it
 * may use from src/ and `dependencies`/`peerDependencies`. `LIBRARY` means every library
 * package in this table. Anything else under packages/ is rejected until it is added here.
 */
export const RULES = {
  '@prmem/core': [],
  '@prmem/arch-*': ['@prmem/core'],
  '@prmem/wr-ops': ['@prmem/core'],
  '@prmem/pool': ['@prmem/core', '@prmem/wr-ops'],
  '@prmem/attacks': ['LIBRARY'],
};

/**
 * Extra packages a library package may use only from test/ and `devDependencies`.
 * wr-ops and pool work "with whichever backend the machine was built with", so their
 * tests need a concrete backend to build a machine on; their published code still never
 * sees an arch package. core gets no such exception: every arch package depends on core,
 * so core's tests importing one would be a dependency cycle.
 */
export const TEST_ONLY = {
  '@prmem/wr-ops': ['@prmem/arch-*'],
  '@prmem/pool': ['@prmem/arch-*'],
};

const LIBRARY_NAMES = Object.keys(RULES).filter((n) => n !== '@prmem/attacks');
const SOURCE_EXT = /\.(?:[cm]?ts|tsx|[cm]?js|jsx)$/;
const SOURCE_DIRS = ['src', 'test'];
const DEP_FIELDS = ['dependencies', 'peerDependencies', 'optionalDependencies', 'devDependencies'];

/** `@prmem/arch-x86` matches the pattern `@prmem/arch-*`. */
function matches(pattern, name) {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name;
}

function ruleKey(name) {
  return Object.keys(RULES).find((k) => matches(k, name));
}

function expand(list) {
  return list.flatMap((p) => (p === 'LIBRARY' ? LIBRARY_NAMES : [p]));
}

/** The package name of a specifier: `@prmem/core/x` -> `@prmem/core`. */
export function packageOf(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Workspace packages (directories with a package.json) under `root`/packages and /apps. */
export function listPackages(root) {
  const out = [];
  for (const group of ['packages', 'apps']) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir).sort()) {
      const pkgDir = join(dir, entry);
      const manifest = join(pkgDir, 'package.json');
      if (!existsSync(manifest)) continue;
      out.push({
        dir: pkgDir,
        rel: relative(root, pkgDir).split(sep).join('/'),
        group,
        folder: entry,
        manifest: JSON.parse(readFileSync(manifest, 'utf8')),
      });
    }
  }
  return out;
}

function walk(dir, files = []) {
  if (!existsSync(dir)) return files;
  for (const entry of readdirSync(dir).sort()) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) walk(p, files);
    else if (SOURCE_EXT.test(entry) && !entry.endsWith('.d.ts')) files.push(p);
  }
  return files;
}

/** Every module specifier in a source file, with its 1-based line. */
export function importsOf(text) {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => ({
    specifier: f.fileName,
    line: text.slice(0, f.pos).split('\n').length,
  }));
}

/**
 * Decide whether package `pkg` may use `target` (a package of ours) in the given
 * context ('src' for src/, dependencies and peerDependencies; 'test' for test/ and
 * devDependencies). Returns null when allowed, else the reason.
 */
function verdict(pkg, target, context) {
  const name = pkg.manifest.name;
  if (target === name) return null; // self-reference through the exports map
  if (pkg.group === 'apps') return null;
  const key = ruleKey(name);
  if (!key) return null; // reported once per package, not per import
  const allowed = expand(RULES[key]);
  if (context === 'test') allowed.push(...expand(TEST_ONLY[key] ?? []));
  if (allowed.some((p) => matches(p, target))) return null;
  const testOnly = context === 'src' ? expand(TEST_ONLY[key] ?? []) : [];
  const what = allowed.length ? `allowed: ${allowed.join(', ')}` : 'it may use no package of ours';
  const note = testOnly.length ? `; ${testOnly.join(', ')} in test/ and devDependencies only` : '';
  return `${name} must not use ${target} (${what}${note})`;
}

/** Check one root. Returns a list of violations (empty when the layering holds). */
export function checkLayering(root) {
  root = resolve(root);
  const violations = [];
  const add = (pkg, where, message) =>
    violations.push({ package: pkg.manifest.name ?? pkg.rel, where, message });

  for (const pkg of listPackages(root)) {
    const name = pkg.manifest.name;
    if (typeof name !== 'string' || !name.startsWith(SCOPE)) {
      add(pkg, `${pkg.rel}/package.json`, `package name must be @prmem/<dir>, got ${name}`);
      continue;
    }
    if (name !== `${SCOPE}${pkg.folder}`) {
      add(
        pkg,
        `${pkg.rel}/package.json`,
        `package name ${name} does not match its directory (expected ${SCOPE}${pkg.folder})`,
      );
    }
    if (pkg.group === 'packages' && !ruleKey(name)) {
      add(
        pkg,
        `${pkg.rel}/package.json`,
        `${name} is not in the layering rule table: add it to RULES in ${RULE_FILE} ` +
          '(and to docs/architecture.md) with the packages it may import',
      );
      continue;
    }

    for (const field of DEP_FIELDS) {
      const context = field === 'devDependencies' ? 'test' : 'src';
      for (const dep of Object.keys(pkg.manifest[field] ?? {})) {
        if (!dep.startsWith(SCOPE)) continue;
        const why = verdict(pkg, dep, context);
        if (why) add(pkg, `${pkg.rel}/package.json ${field}`, why);
      }
    }

    for (const sub of SOURCE_DIRS) {
      const context = sub === 'test' ? 'test' : 'src';
      for (const file of walk(join(pkg.dir, sub))) {
        const relFile = relative(root, file).split(sep).join('/');
        for (const { specifier, line } of importsOf(readFileSync(file, 'utf8'))) {
          if (specifier.startsWith('.') || specifier.startsWith('/')) {
            const target = resolve(dirname(file), specifier);
            const inside = target === pkg.dir || target.startsWith(pkg.dir + sep);
            if (!inside) {
              add(
                pkg,
                `${relFile}:${line}`,
                `relative import '${specifier}' leaves the package: import other packages by name`,
              );
            }
            continue;
          }
          const target = packageOf(specifier);
          if (!target.startsWith(SCOPE)) continue;
          const why = verdict(pkg, target, context);
          if (why) add(pkg, `${relFile}:${line}`, `${why} (imports '${specifier}')`);
        }
      }
    }
  }
  return violations;
}

export function formatViolations(violations) {
  return violations.map((v) => `  ${v.where}: ${v.message}`).join('\n');
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const here = dirname(fileURLToPath(import.meta.url));
  const roots = process.argv.slice(2);
  if (roots.length === 0) roots.push(resolve(here, '../../..'));
  let total = 0;
  for (const root of roots) {
    const found = checkLayering(root);
    total += found.length;
    const count = listPackages(root).length;
    if (found.length === 0) console.log(`layering: ok (${count} packages in ${root})`);
    else
      console.error(
        `layering: ${found.length} violation(s) in ${root}\n${formatViolations(found)}`,
      );
  }
  process.exit(total > 0 ? 1 : 0);
}
