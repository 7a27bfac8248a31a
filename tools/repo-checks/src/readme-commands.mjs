// The commands of every README: each ```sh block is a script a reader runs from the
// repository root. A line ending in `# ci: <command>` is not run by the README test:
// `<command>` names what .ci/run runs instead (and the test checks that it does). A line
// ending in `# test: <file>` is a command that does not end by itself (a server): the
// test file named runs it, waits for it to serve, and stops it.
// Benchmark runs get `--quick` in the test (the README's own commands are unchanged).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** READMEs tracked by git (not fixtures, not node_modules). */
export function readmes(root) {
  return execFileSync(
    'git',
    ['ls-files', '--cached', '--others', '--exclude-standard', '*README.md'],
    {
      cwd: root,
      encoding: 'utf8',
    },
  )
    .split('\n')
    .filter((f) => f && !f.includes('fixtures/') && !f.startsWith('.changeset/'));
}

const CI_MARK = /\s+#\s*ci:\s*(.+?)\s*$/;
const TEST_MARK = /\s+#\s*test:\s*(.+?)\s*$/;

/**
 * The ```sh (or bash, shell) blocks of a Markdown text: the script as written, the lines
 * the test runs, and the CI-marked lines with the `.ci/run` command that covers each.
 */
export function shellBlocks(markdown) {
  const out = [];
  const re = /^```(?:sh|bash|shell)\s*\n([\s\S]*?)^```/gm;
  for (let m = re.exec(markdown); m; m = re.exec(markdown)) {
    const script = m[1];
    const run = [];
    const ci = [];
    const tested = [];
    for (const line of script.split('\n')) {
      const mark = CI_MARK.exec(line);
      const test = TEST_MARK.exec(line);
      if (mark) ci.push({ line: line.slice(0, mark.index).trim(), by: mark[1] });
      else if (test) tested.push({ line: line.slice(0, test.index).trim(), by: test[1] });
      else run.push(line);
    }
    const line = markdown.slice(0, m.index).split('\n').length;
    out.push({ line, script, run: run.join('\n'), ci, tested });
  }
  return out;
}

/** A bench invocation without `--quick` gets it (the test's only rewrite). */
export function quickened(script) {
  return script
    .split('\n')
    .map((l) => {
      const code = l.replace(/\s+#.*$/, '');
      if (!/^\s*pnpm\s+(?:prmem-bench\b|bench\s+--(?:\s|$)|bench:speed\b)/.test(code)) return l;
      if (/\s--quick\b/.test(code)) return l;
      return `${code} --quick`;
    })
    .join('\n');
}

/** Whether .ci/run runs `command` (a line that starts with it, flags after it allowed). */
export function ciRuns(root, command) {
  const ci = readFileSync(join(root, '.ci', 'run'), 'utf8');
  return ci
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => !l.startsWith('#'))
    .some((l) => l === command || l.startsWith(`${command} `));
}
