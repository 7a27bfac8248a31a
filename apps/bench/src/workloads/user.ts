/**
 * User-defined workloads: `--workload ./my-workload.ts` imports a module that exports a
 * workload of the same shape as the built-in ones (`Workload`), so a researcher can cost
 * their own write pattern on every mechanism.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Workload } from './types.js';

/** A `--workload` item names a file (not a built-in workload) when it looks like a path. */
export function isWorkloadPath(item: string): boolean {
  return /[\\/]/.test(item) || /\.(?:[cm]?[jt]s)$/.test(item);
}

/** Why `value` is not a `Workload`, or undefined when it is one. */
export function workloadShapeError(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'is not an object';
  const w = value as Record<string, unknown>;
  const missing: string[] = [];
  if (typeof w.name !== 'string' || w.name.length === 0) missing.push('name (a non-empty string)');
  if (typeof w.description !== 'string') missing.push('description (a string)');
  if (typeof w.needsPool !== 'boolean') missing.push('needsPool (a boolean)');
  for (const f of ['size', 'memoryMiB', 'repeats', 'setup'])
    if (typeof w[f] !== 'function') missing.push(`${f}() (a function)`);
  if (w.freshMachinePerRepeat !== undefined && typeof w.freshMachinePerRepeat !== 'boolean')
    missing.push('freshMachinePerRepeat (a boolean, if given)');
  return missing.length > 0 ? `lacks ${missing.join(', ')}` : undefined;
}

export class WorkloadModuleError extends Error {
  readonly code = 'EWORKLOAD';
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(`--workload: ${JSON.stringify(file)} ${why}`);
    this.name = 'WorkloadModuleError';
  }
}

/** The file each loaded workload came from: a worker thread imports it again from there. */
const modulePaths = new WeakMap<Workload, string>();

/** The absolute path of the module a workload was loaded from (undefined: built-in). */
export function workloadModulePath(w: Workload): string | undefined {
  return modulePaths.get(w);
}

/**
 * Imports `file` (relative to `cwd`) and returns the workload it exports: the default
 * export, else an export named `workload`, else the only export that is a workload.
 * A `.ts` file needs a TypeScript-aware loader (`pnpm bench` runs under tsx).
 */
export async function loadWorkloadModule(file: string, cwd = process.cwd()): Promise<Workload> {
  const path = resolve(cwd, file);
  if (!existsSync(path)) throw new WorkloadModuleError(file, `is not a file (looked at ${path})`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (e) {
    throw new WorkloadModuleError(file, `cannot be imported: ${(e as Error).message}`);
  }
  const candidates =
    mod.default !== undefined
      ? [['default', mod.default] as const]
      : mod.workload !== undefined
        ? [['workload', mod.workload] as const]
        : Object.entries(mod).filter(([, v]) => workloadShapeError(v) === undefined);
  if (candidates.length !== 1)
    throw new WorkloadModuleError(
      file,
      candidates.length === 0
        ? 'exports no workload (export default { name, description, needsPool, size, memoryMiB, repeats, setup })'
        : `exports ${candidates.length} workloads (${candidates.map(([k]) => k).join(', ')}): export one as default`,
    );
  const [key, value] = candidates[0];
  const why = workloadShapeError(value);
  if (why) throw new WorkloadModuleError(file, `export ${key} ${why}`);
  modulePaths.set(value as Workload, path);
  return value as Workload;
}
