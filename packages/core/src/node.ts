// Core's Node entry (`@prmem/core/node`, and what `@prmem/core` resolves to under Node):
// everything of the browser-safe main entry, plus reading a config file and resolving a
// backend package from the config file's folder or the cwd (as before the split), which
// need node: modules.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Backend } from './backend.js';
import { BackendNotFoundError, pickBackend } from './backend-module.js';
import {
  BUILTIN_ARCHES,
  checkPoolLayout,
  type PrmemConfig,
  parseConfig,
  resolveBackend as importBackend,
} from './config.js';
import { ConfigError } from './errors.js';
import { Machine } from './machine.js';

export * from './index.js';

/** Reads and validates `prmem.config.json` (or `path`); relative backends resolve from its folder. */
export async function loadConfig(path = 'prmem.config.json'): Promise<PrmemConfig> {
  if (typeof path !== 'string' || path.length === 0) {
    throw new ConfigError([
      { path: '', value: path, message: 'the config path must be a non-empty string' },
    ]);
  }
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError([
      { path: '', value: file, message: `cannot read config file: ${(e as Error).message}` },
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError([
      { path: '', value: file, message: `not valid JSON: ${(e as Error).message}` },
    ]);
  }
  const cfg = parseConfig(json);
  return { ...cfg, configDir: cfg.configDir ?? dirname(file) };
}

/**
 * Resolves an `arch` value to a backend: a backend object as is; a built-in name to its
 * `@prmem/arch-*` package; any other name to a package resolved from `baseDir` (the
 * config file's folder) or the cwd, as ESLint resolves plugins; last, a plain `import()`.
 */
export async function resolveBackend(
  arch: string | Backend,
  baseDir = process.cwd(),
): Promise<Backend> {
  if (typeof arch !== 'string') return arch;
  const pkg = BUILTIN_ARCHES[arch] ?? arch;
  for (const dir of [baseDir, process.cwd()]) {
    try {
      const req = createRequire(join(resolve(dir), 'noop.js'));
      const file = req.resolve(pkg);
      return pickBackend(await import(pathToFileURL(file).href), arch, pkg);
    } catch (e) {
      // Not installed there: try the next folder.
      if (e instanceof BackendNotFoundError) throw e;
    }
  }
  // Last, a bare import from core: finds workspace/hoisted packages (and, under the
  // `@prmem/source` condition in tests, their TypeScript sources).
  return importBackend(arch);
}

/** Builds a machine from a config (validated first), resolving `arch` as `resolveBackend` does. */
export async function createMachine(config: PrmemConfig): Promise<Machine> {
  const cfg = parseConfig(config);
  const backend = await resolveBackend(cfg.arch, cfg.configDir);
  checkPoolLayout(backend, cfg.wrRangeMiB);
  return new Machine({ ...cfg, backend });
}
