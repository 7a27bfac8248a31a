import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { type Backend, isBackend } from './backend.js';
import { EVENT_NAMES } from './costs.js';
import { ConfigError, PrmemError } from './errors.js';
import { Machine } from './machine.js';

/** Built-in backend names and the packages that provide them. */
export const BUILTIN_ARCHES: Readonly<Record<string, string>> = {
  'x86-64': '@prmem/arch-x86',
  arm64: '@prmem/arch-arm64',
  'nommu-alias': '@prmem/arch-nommu-alias',
};

const costOverrides = z
  .record(z.string(), z.number().nonnegative().finite())
  .refine((o) => Object.keys(o).every((k) => (EVENT_NAMES as readonly string[]).includes(k)), {
    message: `keys must be event names: ${EVENT_NAMES.join(', ')}`,
  });

export const configSchema = z
  .object({
    arch: z.union([
      z.string().min(1, 'must name a backend'),
      z.custom<Backend>(isBackend, 'must be a backend name or a backend object'),
    ]),
    mechanism: z.string().min(1).optional(),
    cpus: z.number().int().min(1).max(256).optional(),
    memoryMiB: z.number().int().min(4).max(2048).optional(),
    tlbEntries: z
      .number()
      .int()
      .min(8)
      .max(65536)
      .refine((n) => (n & (n - 1)) === 0, 'must be a power of two')
      .optional(),
    seed: z.number().int().min(0).max(0xffffffff).optional(),
    trace: z.boolean().optional(),
    costs: costOverrides.optional(),
    clockGHz: z.number().positive().max(10).optional(),
    sectionPages: z.number().int().min(1).max(256).optional(),
    /** Trace process id: one per run when several machines' traces are merged. */
    tracePid: z
      .number()
      .int()
      .min(1)
      .max(2 ** 31 - 1)
      .optional(),
    /** Where to resolve a backend package from (set by loadConfig to the file's folder). */
    configDir: z.string().optional(),
  })
  .strict();

export type PrmemConfig = z.input<typeof configSchema>;

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** Validates a config object; a bad one throws ConfigError naming every bad field. */
export function parseConfig(input: unknown): z.output<typeof configSchema> {
  const r = configSchema.safeParse(input);
  if (r.success) return r.data;
  throw new ConfigError(
    r.error.issues.map((i) => {
      const keys = i.code === 'unrecognized_keys' ? i.keys : [];
      const path = [...i.path, ...(keys.length === 1 ? keys : [])];
      return {
        path: path.map(String).join('.') || (keys.length ? keys.join(', ') : ''),
        value: valueAt(input, path),
        message: i.message,
      };
    }),
  );
}

/** Reads and validates `prmem.config.json` (or `path`); relative backends resolve from its folder. */
export async function loadConfig(path = 'prmem.config.json'): Promise<PrmemConfig> {
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

export class BackendNotFoundError extends PrmemError {
  constructor(
    readonly arch: string,
    readonly pkg: string,
    cause: string,
  ) {
    super(
      'ENOBACKEND',
      `backend "${arch}" needs the package ${pkg}: install it (npm install ${pkg}). ${cause}`,
      { arch, pkg },
    );
  }
}

function pickBackend(mod: Record<string, unknown>, arch: string, pkg: string): Backend {
  for (const cand of [
    mod.backend,
    mod.default,
    (mod.default as Record<string, unknown> | undefined)?.backend,
  ]) {
    if (isBackend(cand)) return cand;
  }
  throw new BackendNotFoundError(
    arch,
    pkg,
    'The package exports no backend (export `backend` or a default).',
  );
}

/**
 * Resolves an `arch` value to a backend: a backend object as is; a built-in name to its
 * `@prmem/arch-*` package; any other name to a package resolved from `baseDir` (the
 * config file's folder) or the cwd, as ESLint resolves plugins.
 */
export async function resolveBackend(
  arch: string | Backend,
  baseDir = process.cwd(),
): Promise<Backend> {
  if (typeof arch !== 'string') return arch;
  const pkg = BUILTIN_ARCHES[arch] ?? arch;
  const errors: string[] = [];
  for (const dir of [baseDir, process.cwd()]) {
    try {
      const req = createRequire(join(resolve(dir), 'noop.js'));
      const file = req.resolve(pkg);
      return pickBackend(
        (await import(pathToFileURL(file).href)) as Record<string, unknown>,
        arch,
        pkg,
      );
    } catch (e) {
      if (e instanceof BackendNotFoundError) throw e;
      errors.push((e as Error).message.split('\n')[0]);
    }
  }
  try {
    // Last, a bare import from here: finds workspace/hoisted packages (and, under the
    // `@prmem/source` condition in tests, their TypeScript sources).
    return pickBackend(
      (await import(/* @vite-ignore */ pkg)) as Record<string, unknown>,
      arch,
      pkg,
    );
  } catch (e) {
    if (e instanceof BackendNotFoundError) throw e;
    errors.push((e as Error).message.split('\n')[0]);
  }
  throw new BackendNotFoundError(arch, pkg, errors[errors.length - 1] ?? '');
}

/** Builds a machine from a config (validated first). */
export async function createMachine(config: PrmemConfig): Promise<Machine> {
  const cfg = parseConfig(config);
  const backend = await resolveBackend(cfg.arch, cfg.configDir);
  return new Machine({ ...cfg, backend });
}
