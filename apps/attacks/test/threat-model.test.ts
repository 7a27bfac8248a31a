import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CATALOGUE } from '../src/catalogue/index.js';

const doc = readFileSync(new URL('../../../docs/threat-model.md', import.meta.url), 'utf8');

/** The attack ids (or `prefix-*` globs) a table row of the threat model names. */
function namedIn(row: string): string[] {
  return [...row.matchAll(/`([a-z0-9]+(?:-[a-z0-9*]+)+)`/g)]
    .map((m) => m[1])
    .filter((id) => /^[a-z0-9-]+\*?$/.test(id));
}

const matches = (pattern: string, id: string) =>
  pattern.endsWith('*') ? id.startsWith(pattern.slice(0, -1)) : id === pattern;

describe('docs/threat-model.md and the attack catalogue', () => {
  const rows = doc
    .split('\n')
    .filter((l) => l.startsWith('| ') && !l.startsWith('| guarantee') && !/^\| *-/.test(l));
  const guaranteeRows = rows.filter((r) => r.split('|').length === 6);

  it('every attack a guarantee names exists in the catalogue', () => {
    const ids = CATALOGUE.map((a) => a.id);
    const named = guaranteeRows.flatMap((r) => namedIn(r.split('|')[4]));
    expect(named.length).toBeGreaterThan(20);
    for (const n of named)
      expect(
        ids.some((id) => matches(n, id)),
        n,
      ).toBe(true);
  });

  it('every attack of the catalogue proves a guarantee or shows a documented residual risk', () => {
    const named = namedIn(doc);
    for (const a of CATALOGUE)
      expect(
        named.some((n) => matches(n, a.id)),
        a.id,
      ).toBe(true);
  });
});
