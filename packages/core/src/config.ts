import { z } from 'zod';
import { type Backend, isBackend } from './backend.js';
import { EVENT_NAMES } from './costs.js';
import { BackendNotFoundError, BUILTIN_ARCHES, pickBackend, suggest } from './backend-module.js';

export { BUILTIN_ARCHES };
import { ConfigError } from './errors.js';
import { Machine, poolLayout } from './machine.js';
import { InvalidArgumentError } from './errors.js';

/** wrRangeMiB against the backend's VA layout: a ConfigError naming the field and the limit. */
export function checkPoolLayout(backend: Backend, wrRangeMiB: number | undefined): void {
  try {
    poolLayout(backend, wrRangeMiB);
  } catch (e) {
    if (!(e instanceof InvalidArgumentError)) throw e;
    throw new ConfigError([
      { path: 'wrRangeMiB', value: wrRangeMiB, message: e.message.replace(/^.*?: /, '') },
    ]);
  }
}

/** Built-in backend names and the packages that provide them. */

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
  wrRangeMiB:
    "an integer number of MiB from 1 to half the room the backend's layout leaves for the pool ranges",
  vaQuarantine: 'an integer from 0 to 65536 (freed virtual ranges held back before reuse)',
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
    /** Size of the write-rare range in MiB (the read-only pool range has the same). */
    wrRangeMiB: z.number().int().min(1).optional(),
    /** Freed virtual ranges held back before reuse. */
    vaQuarantine: z.number().int().min(0).max(65536).optional(),
    /** Where `@prmem/core/node` resolves a backend package from (loadConfig sets the file's folder). */
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

export { BackendNotFoundError };

/**
 * Resolves an `arch` value to a backend: a backend object as is; a built-in name to its
 * `@prmem/arch-*` package; any other name to a package, both by a plain `import()` (so it
 * runs in a browser bundle too). In Node, `@prmem/core/node` also resolves a package from
 * the config file's folder.
 */
export async function resolveBackend(arch: string | Backend): Promise<Backend> {
  if (typeof arch !== 'string') return arch;
  const pkg = BUILTIN_ARCHES[arch] ?? arch;
  try {
    return pickBackend(
      (await import(/* @vite-ignore */ pkg)) as Record<string, unknown>,
      arch,
      pkg,
    );
  } catch (e) {
    if (e instanceof BackendNotFoundError) throw e;
    throw new BackendNotFoundError(arch, pkg, (e as Error).message.split('\n')[0]);
  }
}

/** Builds a machine from a config (validated first). */
export async function createMachine(config: PrmemConfig): Promise<Machine> {
  const cfg = parseConfig(config);
  const backend = await resolveBackend(cfg.arch);
  checkPoolLayout(backend, cfg.wrRangeMiB);
  return new Machine({ ...cfg, backend });
}
