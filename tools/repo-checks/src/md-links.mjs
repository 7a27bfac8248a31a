#!/usr/bin/env node
// Every relative link in every Markdown file of the repository resolves: the file (or
// folder) exists, and a `#anchor` names a heading of the target (GitHub's slugs). Links
// with a scheme (https:, mailto:) and pure `#anchor` links to the same file are checked
// too, the latter against the file's own headings.
//
// Usage: node tools/repo-checks/src/md-links.mjs [root]   (default: the repository)
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Markdown files tracked by git (or new and not ignored), fixtures excluded. */
export function markdownFiles(root) {
  return execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\n')
    .filter((f) => f && !f.includes('fixtures/') && existsSync(join(root, f)));
}

/** Text without fenced code blocks (lines kept, so line numbers hold). */
function withoutFences(md) {
  return md.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, (m) => m.replace(/[^\n]/g, ' '));
}

/** Text without code blocks and inline code spans (their brackets are not links). */
function prose(md) {
  return withoutFences(md).replace(/`[^`\n]*`/g, (m) => ' '.repeat(m.length));
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/<[^>]+>/g, '')
    .replace(/[`*_~]/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown text's headings (`## X` and setext), repeated ones numbered. */
export function anchorsOf(md) {
  const seen = new Map();
  const out = new Set();
  const lines = withoutFences(md).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const atx = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(lines[i]);
    const setext =
      !atx && lines[i].trim() && /^ {0,3}(=+|-+)\s*$/.test(lines[i + 1] ?? '') ? lines[i] : null;
    const text = atx ? atx[1] : setext;
    if (text === null || text === undefined) continue;
    const base = slug(text);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const m of md.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) out.add(m[1]);
  return out;
}

/** The link targets of a Markdown text (inline links and images, reference definitions). */
export function linksOf(md) {
  const text = prose(md);
  const out = [];
  const at = (i) => text.slice(0, i).split('\n').length;
  for (const m of text.matchAll(/!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g))
    out.push({ target: m[1], line: at(m.index) });
  for (const m of text.matchAll(/^ {0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/gm))
    out.push({ target: m[1], line: at(m.index) });
  return out;
}

/** Broken relative links of one Markdown file (`rel`, repository-relative) under `root`. */
export function brokenLinks(root, rel) {
  const md = readFileSync(join(root, rel), 'utf8');
  const out = [];
  for (const { target, line } of linksOf(md)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue;
    const hash = target.indexOf('#');
    const path = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
    const anchor = hash < 0 ? '' : decodeURIComponent(target.slice(hash + 1));
    const file = path === '' ? join(root, rel) : resolve(dirname(join(root, rel)), path);
    if (!file.startsWith(resolve(root))) {
      out.push(`${rel}:${line} links outside the repository: ${target}`);
      continue;
    }
    if (!existsSync(file)) {
      out.push(`${rel}:${line} links to a missing file: ${target}`);
      continue;
    }
    if (anchor === '') continue;
    if (statSync(file).isDirectory() || !file.endsWith('.md')) {
      out.push(`${rel}:${line} has an anchor into a file that is not Markdown: ${target}`);
      continue;
    }
    if (!anchorsOf(readFileSync(file, 'utf8')).has(anchor))
      out.push(`${rel}:${line} links to a missing heading: ${target}`);
  }
  return out;
}

export function checkMarkdownLinks(root) {
  return markdownFiles(root).flatMap((f) => brokenLinks(root, f));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(
    process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '../../..'),
  );
  const found = checkMarkdownLinks(root);
  for (const f of found) console.error(f);
  console.log(`markdown links: ${found.length === 0 ? 'ok' : `${found.length} broken`}`);
  process.exit(found.length === 0 ? 0 : 1);
}
