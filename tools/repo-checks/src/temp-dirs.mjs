#!/usr/bin/env node
// Every temporary folder a source or test file makes (`mkdtemp`, `mkdtempSync`) is kept in
// a variable that the same file removes (`rm(name, …)` / `rmSync(name, …)`), e.g. in
// onTestFinished, afterAll or a finally block. Tests run on every push and by every
// engineer: a folder left per run fills the shared machine's /tmp (hundreds were found).
// A textual check, not a proof of every path: it catches the forgotten clean-up, the
// mistake that happened, and says where the folder is made.
//
// Usage: node tools/repo-checks/src/temp-dirs.mjs [root]   (default: the repository)
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceFiles } from './source-files.mjs';

// `name = mkdtemp(` / `name = await mkdtempSync(`: the folder's variable, if it has one.
const MAKES = /(?:\b([A-Za-z_$][\w$]*)\s*=\s*(?:await\s+)?)?\bmkdtemp(?:Sync)?\s*\(/g;

/** Findings for one file: `rel:line` of each temporary folder it never removes. */
export function tempDirFindings(rel, text) {
  const out = [];
  for (const m of text.matchAll(MAKES)) {
    const name = m[1];
    const removed =
      name !== undefined &&
      new RegExp(`\\brm(?:Sync)?\\s*\\(\\s*${name.replace(/\$/g, '\\$')}\\b`).test(text);
    if (removed) continue;
    const line = text.slice(0, m.index).split('\n').length;
    out.push(
      `${rel}:${line} makes a temporary folder it never removes (keep it in a variable and rm/rmSync it, e.g. in onTestFinished or afterAll)`,
    );
  }
  return out;
}

/** Findings in every package, app and tool of the repository (sources and tests). */
export function checkTempDirs(root) {
  const out = [];
  for (const group of ['packages', 'apps', 'tools']) {
    const dir = join(root, group);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir).sort())
      for (const f of sourceFiles(join(dir, entry)))
        if (!f.includes(`${sep}fixtures${sep}`))
          out.push(
            ...tempDirFindings(relative(root, f).split(sep).join('/'), readFileSync(f, 'utf8')),
          );
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(
    process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '../../..'),
  );
  if (!existsSync(join(root, 'packages'))) throw new Error(`no packages/ under ${root}`);
  const found = checkTempDirs(root);
  for (const f of found) console.error(f);
  console.log(`temp folders: ${found.length === 0 ? 'ok' : `${found.length} findings`}`);
  process.exit(found.length === 0 ? 0 : 1);
}
