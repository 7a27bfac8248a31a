import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkDeclareFields, declareFindings } from '../src/declare-fields.mjs';
import { checkImportCycles, findCycles, valueImports } from '../src/import-cycles.mjs';
import { anchorsOf, brokenLinks, checkMarkdownLinks } from '../src/md-links.mjs';
import { checkTempDirs, tempDirFindings } from '../src/temp-dirs.mjs';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

describe('value-import cycles inside a package', () => {
  it('there are none in the workspace', () => {
    expect(checkImportCycles(repoRoot)).toEqual([]);
  });

  it('finds a cycle through value imports, and only type-only imports break it', () => {
    const files = new Map([
      ['src/a.ts', "import * as b from './b.js';\nexport const A = 1;"],
      ['src/b.ts', "import { C } from './c.js';\nexport const B = C;"],
      ['src/c.ts', "import { A } from './a.js';\nexport const C = A;"],
      ['src/d.ts', "import type { A } from './a.js';\nexport type D = A;"],
      ['src/e.ts', "export type { D } from './d.js';\nexport * from './a.js';"],
    ]);
    expect(findCycles(files)).toEqual([['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/a.ts']]);
    files.set('src/c.ts', "import type { A } from './a.js';\nexport const C = 3;");
    expect(findCycles(files)).toEqual([]);
  });

  it('counts an import whose names are all `type` (it still evaluates the module), not import()', () => {
    expect(valueImports("import { type X } from './x.js';")).toEqual(['./x.js']);
    expect(valueImports("import type { X } from './x.js';")).toEqual([]);
    expect(valueImports("const m = await import('./x.js');")).toEqual([]);
    expect(valueImports("export * from './x.js';\nexport type { Y } from './y.js';")).toEqual([
      './x.js',
    ]);
    const self = new Map([['src/a.ts', "import './a.js';"]]);
    expect(findCycles(self)).toEqual([['src/a.ts', 'src/a.ts']]);
  });
});

describe('`declare` fields (docs/decisions.md §9)', () => {
  it('only hot classes have them, and their constructors assign every one', () => {
    expect(checkDeclareFields(repoRoot)).toEqual([]);
  });

  it('refuses a `declare` field in a class that is not listed, and one the constructor skips', () => {
    const src = [
      'export class Cold {',
      '  declare readonly x: number;',
      '  constructor() { this.x = 1; }',
      '}',
      'export class Hot {',
      '  declare readonly a: Float64Array;',
      '  declare b: number;',
      '  constructor(n: number) {',
      '    this.a = new Float64Array(n);',
      '    if (n > 0) this.b = n;',
      '  }',
      '}',
    ].join('\n');
    const found = declareFindings('packages/x/src/k.ts', src, { 'packages/x/src/k.ts#Hot': 'why' });
    expect(found).toEqual([
      'packages/x/src/k.ts:2 Cold has `declare` fields (x) but is not a hot class of docs/decisions.md §9 (HOT_CLASSES in tools/repo-checks/src/declare-fields.mjs)',
      'packages/x/src/k.ts:7 Hot.b is `declare`d but its constructor does not assign it (`this.b = ...` at its top level)',
    ]);
  });
});

describe('relative links in Markdown', () => {
  it('every one in the repository resolves, file and heading', () => {
    expect(checkMarkdownLinks(repoRoot)).toEqual([]);
  });

  it('reports a missing file, a missing heading and a link out of the repository', () => {
    const root = mkdtempSync(join(tmpdir(), 'md-links-'));
    try {
      mkdirSync(join(root, 'docs'));
      writeFileSync(join(root, 'docs', 'b.md'), '# Title\n\n## Two words\n\n## Two words\n');
      writeFileSync(
        join(root, 'a.md'),
        [
          '# A',
          '[ok](docs/b.md#two-words) [ok2](docs/b.md#two-words-1) [self](#a) [web](https://x.org/y)',
          '[gone](docs/missing.md) [bad anchor](docs/b.md#three)',
          '[out](../elsewhere/DESIGN.md)',
          '```',
          '[in code](nowhere.md)',
          '```',
        ].join('\n'),
      );
      expect(brokenLinks(root, 'a.md')).toEqual([
        'a.md:3 links to a missing file: docs/missing.md',
        'a.md:3 links to a missing heading: docs/b.md#three',
        'a.md:4 links outside the repository: ../elsewhere/DESIGN.md',
      ]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('slugs headings as GitHub does (punctuation dropped, repeats numbered)', () => {
    const a = anchorsOf('# 8. Write-rare sessions as `step` programs\n## Config\n## Config\n');
    expect([...a]).toEqual(['8-write-rare-sessions-as-step-programs', 'config', 'config-1']);
  });
});

describe('temporary folders are removed', () => {
  it('every one made in the repository is', () => {
    expect(checkTempDirs(repoRoot)).toEqual([]);
  });

  it('reports a folder never kept, and one kept but never removed', () => {
    // Built from parts so that this file does not itself contain the calls it describes.
    const make = 'mkdtemp' + 'Sync(';
    const src = [
      `const out = join(${make}join(tmpdir(), 'a-')), 'm.json');`,
      `const kept = ${make}'b-');`,
      `const gone = await ${make}'c-');`,
      'onTestFinished(() => rmSync(gone, { recursive: true, force: true }));',
    ].join('\n');
    expect(tempDirFindings('x/test/t.ts', src).map((f) => f.split(' ')[0])).toEqual([
      'x/test/t.ts:1',
      'x/test/t.ts:2',
    ]);
  });
});
