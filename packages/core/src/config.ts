import { z } from 'zod';
import { type Backend, isBackend } from './backend.js';
import { EVENT_NAMES } from './costs.js';
import { BackendNotFoundError, pickBackend } from './backend-module.js';
import { ConfigError } from './errors.js';
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
  return new Machine({ ...cfg, backend });
}
