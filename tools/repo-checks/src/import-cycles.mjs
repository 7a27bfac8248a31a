#!/usr/bin/env node
// No value-import cycles inside a package. A hot module binds its imports once, at module
// evaluation (`const { X } = ns`, docs/decisions.md §10); inside a cycle the module may
// be evaluated before the one it binds from, and the binding throws a TDZ ReferenceError.
// Type-only imports (`import type`, `export type`) are erased and never count; an import
// whose every name is `type X` still evaluates its module (verbatimModuleSyntax keeps it)
// and does count. Dynamic `import()` runs later and does not count.
//
// Usage: node tools/repo-checks/src/import-cycles.mjs [root]   (default: the repository)
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { listPackages } from './layering.mjs';
import { sourceFiles } from './source-files.mjs';

/** The relative module specifiers a file imports for their values (evaluation order). */
export function valueImports(text, fileName = 'x.ts') {
  const sf = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false);
  const out = [];
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st)) {
      if (st.importClause?.isTypeOnly) continue;
      out.push(st.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier) {
      if (st.isTypeOnly) continue;
      out.push(st.moduleSpecifier.text);
    }
  }
  return out.filter((s) => s.startsWith('.'));
}

/** `./x.js` from `dir/a.ts` -> the key of the source file it names, if it is one. */
function resolveSpecifier(files, from, spec) {
  const base = posix.join(posix.dirname(from), spec);
  const stem = base.replace(/\.(?:[cm]?js|jsx)$/, '');
  for (const c of [base, `${stem}.ts`, `${stem}.tsx`, `${stem}.mts`, `${base}/index.ts`])
    if (files.has(c)) return c;
  return undefined;
}

/**
 * The value-import cycles among `files` (a Map of package-relative path -> source text):
 * each cycle as the list of files around it, first file repeated at the end.
 */
export function findCycles(files) {
  const graph = new Map();
  for (const [path, text] of files) {
    const deps = [];
    for (const spec of valueImports(text, path)) {
      const to = resolveSpecifier(files, path, spec);
      if (to !== undefined) deps.push(to);
    }
    graph.set(path, deps);
  }
  // Tarjan's strongly connected components; a component of two or more files (or a file
  // importing itself) is a cycle, reported along one closed path through it.
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const cycles = [];
  const strong = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v)) {
      if (!idx.has(w)) {
        strong(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) !== idx.get(v)) return;
    const comp = [];
    for (let w = stack.pop(); ; w = stack.pop()) {
      on.delete(w);
      comp.push(w);
      if (w === v) break;
    }
    if (comp.length > 1 || graph.get(v).includes(v)) cycles.push(closedPath(graph, new Set(comp)));
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) strong(v);
  return cycles;
}

/** A closed path through a strongly connected component, from its first file. */
function closedPath(graph, comp) {
  const start = [...comp].sort()[0];
  const prev = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift();
    for (const w of graph.get(v)) {
      if (!comp.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u = v; u !== start; u = prev.get(u)) path.splice(1, 0, u);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

/** Cycles in every workspace package's src/, as `package: a.ts -> b.ts -> a.ts`. */
export function checkImportCycles(root) {
  const found = [];
  for (const pkg of listPackages(root)) {
    const files = new Map();
    for (const f of sourceFiles(join(pkg.dir, 'src')))
      files.set(relative(pkg.dir, f).split(sep).join('/'), readFileSync(f, 'utf8'));
    for (const c of findCycles(files)) found.push(`${pkg.manifest.name}: ${c.join(' -> ')}`);
  }
  return found;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(
    process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '../../..'),
  );
  if (!existsSync(join(root, 'packages'))) throw new Error(`no packages/ under ${root}`);
  const cycles = checkImportCycles(root);
  for (const c of cycles) console.error(`value-import cycle: ${c}`);
  console.log(`import cycles: ${cycles.length === 0 ? 'none' : `${cycles.length} found`}`);
  process.exit(cycles.length === 0 ? 0 : 1);
}
