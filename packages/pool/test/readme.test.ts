import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

describe('README', () => {
  it('runs the example (x86-64 resolved from the workspace)', async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    let code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(code).toContain("arch: 'x86-64'");
    // In the workspace the backend is imported from source; users get it by name.
    code = code.replace("arch: 'x86-64'", "arch: (await import('@prmem/arch-x86')).backend");
    code += '\nexport { m, db, counters, c, table };\n';
    const dir = join(import.meta.dirname, '.readme');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'example.ts'), code);
    const ex = await import(join(dir, 'example.ts'));
    expect(ex.db.destroyed).toBe(true);
    expect(ex.m.cpu(2).read64(ex.c)).toBe(1n);
    expect(() => ex.counters.makeReadOnly()).toThrow(/never be made read-only/);
    expect(ex.m.auditProtections()).toEqual([]);
  });
});
