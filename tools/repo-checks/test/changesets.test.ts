import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import parse from '@changesets/parse';
import { describe, expect, it } from 'vitest';
import { listPackages } from '../src/layering.mjs';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const dir = join(repoRoot, '.changeset');
const files = readdirSync(dir).filter((f) => f.endsWith('.md') && f !== 'README.md');
const names = new Set(listPackages(repoRoot).map((p) => p.manifest.name));

// A Markdown formatter once rewrote `---\n"pkg": minor\n---` into a `## "pkg": minor`
// heading, which `changeset version` refuses: every file is parsed as changesets does.
describe('changesets', () => {
  it('there are some', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s parses and names workspace packages with a bump', (file) => {
    const { releases, summary } = parse(readFileSync(join(dir, file), 'utf8'));
    expect(releases.length).toBeGreaterThan(0);
    for (const r of releases) {
      expect(names, `${file}: ${r.name}`).toContain(r.name);
      expect(['patch', 'minor', 'major']).toContain(r.type);
    }
    expect(summary.trim().length).toBeGreaterThan(0);
  });

  it('the parser rejects the formatter-mangled form', () => {
    expect(() => parse('---\n\n## "@prmem/core": minor\n\nSomething.\n')).toThrow();
  });
});
