import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkLayering, formatViolations, importsOf, listPackages } from '../src/layering.mjs';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const badFixture = fileURLToPath(new URL('../fixtures/bad-layering', import.meta.url));

describe('layering rule (docs/architecture.md)', () => {
  it('holds on the real workspace', () => {
    expect(listPackages(repoRoot).map((p) => p.manifest.name)).toContain('@prmem/core');
    const violations = checkLayering(repoRoot);
    expect(violations, formatViolations(violations)).toEqual([]);
  });

  it('reports exactly the violations planted in the bad fixture', () => {
    const found = checkLayering(badFixture).map((v) => `${v.where} -> ${v.message}`);
    expect(found).toEqual([
      "packages/attacks/src/index.ts:4 -> @prmem/attacks must not use @prmem/bench (allowed: @prmem/core, @prmem/arch-*, @prmem/wr-ops, @prmem/pool) (imports '@prmem/bench')",
      'packages/core/package.json dependencies -> @prmem/core must not use @prmem/pool (it may use no package of ours)',
      "packages/core/test/backend.test.ts:2 -> @prmem/core must not use @prmem/arch-x86 (it may use no package of ours) (imports '@prmem/arch-x86')",
      'packages/mystery/package.json -> @prmem/mystery is not in the layering rule table: add it to RULES in tools/repo-checks/src/layering.mjs (and to docs/architecture.md) with the packages it may import',
      "packages/pool/src/index.ts:4 -> relative import '../../core/src/index.js' leaves the package: import other packages by name",
      "packages/pool/src/index.ts:8 -> @prmem/pool must not use @prmem/arch-arm64 (allowed: @prmem/core, @prmem/wr-ops; @prmem/arch-* in test/ and devDependencies only) (imports '@prmem/arch-arm64')",
      "packages/wr-ops/src/index.ts:3 -> @prmem/wr-ops must not use @prmem/arch-x86 (allowed: @prmem/core; @prmem/arch-* in test/ and devDependencies only) (imports '@prmem/arch-x86')",
    ]);
  });

  it('finds every import form and ignores comments and strings', () => {
    const text = [
      "// import a from '@prmem/comment';",
      'const s = "import b from \'@prmem/string\'";',
      "import type { T } from '@prmem/type';",
      "export * from '@prmem/reexport';",
      "const d = await import('@prmem/dynamic');",
      "import '@prmem/side-effect';",
    ].join('\n');
    expect(importsOf(text)).toEqual([
      { specifier: '@prmem/type', line: 3 },
      { specifier: '@prmem/reexport', line: 4 },
      { specifier: '@prmem/dynamic', line: 5 },
      { specifier: '@prmem/side-effect', line: 6 },
    ]);
  });
});
