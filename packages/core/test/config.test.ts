import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  BackendNotFoundError,
  ConfigError,
  createMachine,
  parseConfig,
  resolveBackend as importBackend,
  UnknownMechanismError,
} from '../src/index.js';
import { loadConfig, createMachine as nodeCreateMachine, resolveBackend } from '../src/node.js';
import { toyBackend } from '../src/testing/index.js';

function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

/** A fresh temp folder, removed when the calling test finishes. */
async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('config', () => {
  it('accepts a good config and fills nothing in it silently', () => {
    const c = parseConfig({
      arch: 'x86-64',
      cpus: 4,
      memoryMiB: 64,
      seed: 1,
      tlbEntries: 512,
      trace: true,
      costs: { ipiSent: 100 },
    });
    expect(c).toMatchObject({ arch: 'x86-64', cpus: 4, memoryMiB: 64, seed: 1 });
  });

  it('names every bad field and its value in one ConfigError', () => {
    const e = configError(() =>
      parseConfig({
        arch: '',
        cpus: 0,
        memoryMiB: 1.5,
        tlbEntries: 100,
        seed: -1,
        trace: 'yes',
        costs: { warpDrive: 3 },
        colour: 'red',
      }),
    );
    expect(e.code).toBe('ECONFIG');
    const byPath = Object.fromEntries(e.issues.map((i) => [i.path, i.value]));
    expect(byPath).toMatchObject({
      arch: '',
      cpus: 0,
      memoryMiB: 1.5,
      tlbEntries: 100,
      seed: -1,
      trace: 'yes',
      'costs.warpDrive': 3,
      colour: 'red',
    });
    expect(e.message).toContain('cpus');
    expect(e.message).toContain('colour');
  });

  it('prints values as written, what was expected, and the valid keys', () => {
    const e = configError(() =>
      parseConfig({
        arch: 'x86-64',
        cpus: 999,
        memoryMiB: { size: 64 },
        tlbEntries: 100,
        cpu: 4,
        costs: { ipiSnt: 3, tlbMiss: -1 },
      }),
    );
    const line = (path: string) => e.message.split('\n').find((l) => l.startsWith(`  - ${path}:`));
    // Decimal, as in the file (not 0x3e7), with the range.
    expect(line('cpus')).toBe('  - cpus: must be an integer from 1 to 256 (got 999)');
    // An object as JSON, not [object Object].
    expect(line('memoryMiB')).toMatch(
      /must be an integer number of MiB from 4 to 2048 \(got \{"size":64\}\)$/,
    );
    expect(line('tlbEntries')).toMatch(/a power of two from 8 to 65536 \(got 100\)$/);
    expect(line('cpu')).toMatch(
      /unknown key \(did you mean "cpus"\?\); valid keys: arch, mechanism, cpus,/,
    );
    expect(line('costs.ipiSnt')).toMatch(
      /unknown event "ipiSnt" \(did you mean "ipiSent"\?\); events: memAccess,/,
    );
    expect(line('costs.tlbMiss')).toMatch(/a number of cycles, 0 or more \(got -1\)$/);
    expect(e.message).not.toMatch(/0x|\[object Object\]/);
  });

  it('names the known backends and how a package becomes one for an unknown arch', async () => {
    const err = await resolveBackend('x86_64').catch((x: unknown) => x);
    expect(err).toBeInstanceOf(BackendNotFoundError);
    const msg = (err as Error).message;
    expect(msg).toMatch(/arch "x86_64" is not a known backend \(did you mean "x86-64"\?\)/);
    expect(msg).toMatch(/x86-64 \(@prmem\/arch-x86\), arm64 \(@prmem\/arch-arm64\), nommu-alias/);
    expect(msg).toMatch(/exports `backend`/);
    expect(msg).not.toMatch(/npm install x86_64/);
  });

  it('rejects a config with no arch and non-objects', () => {
    expect(configError(() => parseConfig({})).issues[0].path).toBe('arch');
    expect(configError(() => parseConfig(42)).issues).toHaveLength(1);
  });

  it('loads prmem.config.json and reports unreadable or invalid files', async () => {
    const dir = await tempDir('prmem-cfg-');
    await writeFile(join(dir, 'prmem.config.json'), JSON.stringify({ arch: 'arm64', cpus: 2 }));
    const c = await loadConfig(join(dir, 'prmem.config.json'));
    expect(c).toMatchObject({ arch: 'arm64', cpus: 2, configDir: dir });
    await writeFile(join(dir, 'bad.json'), '{ "arch": ');
    await expect(loadConfig(join(dir, 'bad.json'))).rejects.toBeInstanceOf(ConfigError);
    await expect(loadConfig(join(dir, 'missing.json'))).rejects.toBeInstanceOf(ConfigError);
    await writeFile(join(dir, 'wrong.json'), JSON.stringify({ arch: 'arm64', cpus: 300 }));
    await expect(loadConfig(join(dir, 'wrong.json'))).rejects.toMatchObject({
      issues: [expect.objectContaining({ path: 'cpus', value: 300 })],
    });
  });

  it("resolves a third party's backend package from the config file's folder", async () => {
    const dir = await tempDir('prmem-plugin-');
    const pkg = join(dir, 'node_modules', 'prmem-backend-fake');
    await mkdir(pkg, { recursive: true });
    await writeFile(
      join(pkg, 'package.json'),
      JSON.stringify({ name: 'prmem-backend-fake', type: 'module', exports: './index.js' }),
    );
    await writeFile(
      join(pkg, 'index.js'),
      `export const backend = { name: 'fake', description: 'x', layout: {}, tlbMaintenance: 'ipi', costs: {}, mechanisms: ['m'], defaultMechanism: 'm', attach() { throw new Error('not a real backend'); } };`,
    );
    const b = await resolveBackend('prmem-backend-fake', dir);
    expect(b.name).toBe('fake');
    await expect(resolveBackend('prmem-backend-missing', dir)).rejects.toBeInstanceOf(
      BackendNotFoundError,
    );
    await expect(resolveBackend('prmem-backend-missing', dir)).rejects.toThrow(
      /No package "prmem-backend-missing" was found/,
    );
    const empty = join(dir, 'node_modules', 'prmem-backend-empty');
    await mkdir(empty, { recursive: true });
    await writeFile(
      join(empty, 'package.json'),
      JSON.stringify({ name: 'prmem-backend-empty', type: 'module', exports: './index.js' }),
    );
    await writeFile(join(empty, 'index.js'), 'export const nothing = 1;');
    await expect(resolveBackend('prmem-backend-empty', dir)).rejects.toThrow(/exports no backend/);
  });

  it('refuses an unknown mechanism by name', async () => {
    await expect(
      createMachine({ arch: toyBackend(), mechanism: 'teleport' }),
    ).rejects.toBeInstanceOf(UnknownMechanismError);
    await expect(
      createMachine({ arch: toyBackend(), mechanism: 'teleport' }),
    ).rejects.toMatchObject({ available: ['toy-remap'] });
  });

  it('applies cost overrides from the config', async () => {
    const m = await createMachine({
      arch: toyBackend(),
      cpus: 2,
      memoryMiB: 4,
      costs: { ipiSent: 1000 },
    });
    m.resetStats();
    const a = m.vmalloc(4096);
    m.protect(a.start, a.size, 'ro');
    const s = m.stats();
    expect(s.events.ipiSent).toBeGreaterThan(0);
    const cpu0 = s.perCpu[0];
    expect(cpu0.cycles).toBeGreaterThanOrEqual(s.events.ipiSent * 1000);
  });
});

describe('the browser-safe main entry and the Node entry', () => {
  it('the main entry reaches no node: module; only node.ts imports one', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const srcDir = join(import.meta.dirname, '..', 'src');
    const seen = new Set<string>();
    const nodeImports: string[] = [];
    const visit = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = await readFile(join(srcDir, file), 'utf8');
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'([^']+)'/g)) {
        const spec = m[1];
        if (spec.startsWith('node:')) nodeImports.push(`${file}: ${spec}`);
        else if (spec.startsWith('./')) await visit(spec.slice(2).replace(/\.js$/, '.ts'));
      }
    };
    await visit('index.ts');
    expect(seen.size).toBeGreaterThan(10);
    expect(seen.has('node.ts')).toBe(false);
    expect(nodeImports).toEqual([]);
    const all = await readdir(srcDir);
    expect(all).toContain('node.ts');
    expect(await readFile(join(srcDir, 'node.ts'), 'utf8')).toMatch(/from 'node:fs\/promises'/);
  });

  it('the main entry resolves a backend object as is and refuses an unknown package by name', async () => {
    const toy = toyBackend();
    expect(await importBackend(toy)).toBe(toy);
    await expect(importBackend('prmem-backend-nowhere')).rejects.toMatchObject({
      code: 'ENOBACKEND',
      arch: 'prmem-backend-nowhere',
    });
  });

  it("the Node entry's createMachine resolves a package from the config file's folder", async () => {
    const dir = await tempDir('prmem-node-');
    const pkg = join(dir, 'node_modules', 'prmem-backend-toyish');
    await mkdir(pkg, { recursive: true });
    await writeFile(
      join(pkg, 'package.json'),
      JSON.stringify({ name: 'prmem-backend-toyish', type: 'module', exports: './index.js' }),
    );
    await writeFile(join(pkg, 'index.js'), 'export const nothing = 1;');
    await writeFile(
      join(dir, 'prmem.config.json'),
      JSON.stringify({ arch: 'prmem-backend-toyish' }),
    );
    const cfg = await loadConfig(join(dir, 'prmem.config.json'));
    // Found in the config's folder (it exports no backend), not "not installed".
    await expect(nodeCreateMachine(cfg)).rejects.toThrow(/exports no backend/);
    await expect(createMachine(cfg)).rejects.toMatchObject({ code: 'ENOBACKEND' });
    await expect(loadConfig('')).rejects.toBeInstanceOf(ConfigError);
  });
});
