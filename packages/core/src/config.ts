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

/** The closest of `candidates` to a mistyped `word`, if one is close enough to suggest. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const d = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0];
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = d[j];
        d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
      }
    }
    return d[b.length];
  };
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = distance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

const suggest = (word: string, candidates: readonly string[]) => {
  const m = didYouMean(word, candidates);
  return m ? ` (did you mean "${m}"?)` : '';
};

const costOverrides = z.record(z.string(), z.unknown()).superRefine((o, ctx) => {
  for (const [k, v] of Object.entries(o)) {
    if (!(EVENT_NAMES as readonly string[]).includes(k))
      ctx.addIssue({
        code: 'custom',
        path: [k],
        message: `unknown event "${k}"${suggest(k, EVENT_NAMES)}; events: ${EVENT_NAMES.join(', ')}`,
      });
    else if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      ctx.addIssue({ code: 'custom', path: [k], message: 'must be a number of cycles, 0 or more' });
  }
});

/** What each field must be, as the error message says it. */
export const CONFIG_FIELDS: Readonly<Record<string, string>> = {
  arch: `a backend: a built-in name (${Object.keys(BUILTIN_ARCHES).join(', ')}), a package that exports one, or a backend object`,
  mechanism: 'a mechanism name of the backend (a non-empty string)',
  cpus: 'an integer from 1 to 256',
  memoryMiB: 'an integer number of MiB from 4 to 2048',
  tlbEntries: 'a power of two from 8 to 65536',
  seed: 'an integer from 0 to 4294967295',
  trace: 'true or false',
  costs: 'an object of event name → cycles (a number, 0 or more)',
  clockGHz: 'a number above 0, at most 10',
  sectionPages: 'an integer from 1 to 256',
  tracePid: 'an integer from 1 to 2147483647',
  configDir: 'a directory path (a string)',
};

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

const FIELD_NAMES = Object.keys(CONFIG_FIELDS);

/** Validates a config object; a bad one throws ConfigError naming every bad field. */
export function parseConfig(input: unknown): z.output<typeof configSchema> {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new ConfigError([
      {
        path: '',
        value: input,
        message: `must be an object with the keys ${FIELD_NAMES.join(', ')} (arch is required)`,
      },
    ]);
  const r = configSchema.safeParse(input);
  if (r.success) return r.data;
  const issues: { path: string; value: unknown; message: string }[] = [];
  for (const i of r.error.issues) {
    if (i.code === 'unrecognized_keys') {
      for (const k of i.keys)
        issues.push({
          path: [...i.path, k].map(String).join('.'),
          value: valueAt(input, [...i.path, k]),
          message: `unknown key${suggest(k, FIELD_NAMES)}; valid keys: ${FIELD_NAMES.join(', ')}`,
        });
      continue;
    }
    const field = String(i.path[0] ?? '');
    const nested = i.path.length > 1;
    const expected = CONFIG_FIELDS[field];
    issues.push({
      path: i.path.map(String).join('.'),
      value: valueAt(input, i.path),
      // A nested issue (a cost) has its own message; a field's says what it must be.
      message:
        nested || !expected
          ? i.message
          : valueAt(input, i.path) === undefined
            ? `is required: ${expected}`
            : `must be ${expected}`,
    });
  }
  throw new ConfigError(issues);
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

/** How a package becomes a backend, for error messages. */
export const BACKEND_HOWTO =
  'any other value must name an installed package that exports `backend` (or a default export) implementing @prmem/core\'s Backend contract (name, layout, costs, mechanisms, attach): install it (e.g. npm install prmem-backend-mine) and write "arch": "prmem-backend-mine"';

export class BackendNotFoundError extends PrmemError {
  constructor(
    readonly arch: string,
    readonly pkg: string,
    cause: string,
  ) {
    const builtin = Object.entries(BUILTIN_ARCHES)
      .map(([name, p]) => `${name} (${p})`)
      .join(', ');
    const known = Object.values(BUILTIN_ARCHES).includes(pkg);
    super(
      'ENOBACKEND',
      known
        ? `backend "${arch}" needs the package ${pkg}: install it (npm install ${pkg}). ${cause}`
        : `arch ${JSON.stringify(arch)} is not a known backend${suggest(arch, Object.keys(BUILTIN_ARCHES))}. Built-in backends: ${builtin}; ${BACKEND_HOWTO}. No package ${JSON.stringify(pkg)} was found: ${cause}`,
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
