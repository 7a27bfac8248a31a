import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';

describe('README', () => {
  it('runs the example as written', async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code).toBeDefined();
    const dir = join(import.meta.dirname, '.readme');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'example.ts');
    writeFileSync(file, code!);
    const logs: unknown[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((...a) => void logs.push(a));
    try {
      await import(file);
    } finally {
      spy.mockRestore();
    }
    expect(String((logs[0] as unknown[])[0])).toMatch(/unable to handle page fault/);
    expect(Array.from((logs[1] as Uint8Array[])[0])).toEqual([1, 2, 3]);
    expect((logs[2] as unknown[][])[0]).toEqual([]);
    expect(logs.at(-1)).toEqual([true, true]);
  });
});
