/** Turns CLI flags (and an optional prmem.config.json) into a validated bench plan. */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { type EventName, loadConfig } from '@prmem/core';
import { type PoolApi, loadPoolApi } from './pool-api.js';
import type { BenchPlan } from './runner.js';
import {
  type Discovery,
  discoverVariants,
  filterVariants,
  type Variant,
  variantsForArch,
} from './variants.js';
import { WORKLOAD_NAMES, type Workload, workloadByName } from './workloads/index.js';
import { isWorkloadPath, loadWorkloadModule } from './workloads/user.js';

/** A bad flag value: the message says which flag, what was given and what is allowed. */
export class BenchUsageError extends Error {
  readonly code = 'EUSAGE';
  constructor(
    readonly flag: string,
    readonly value: unknown,
    why: string,
  ) {
    super(`${flag}: ${JSON.stringify(value)} ${why}`);
    this.name = 'BenchUsageError';
  }
}

export const DEFAULT_CPUS = [1, 2, 4, 8, 16, 32, 64, 128, 256] as const;
/** `--quick`'s sweep: three points still tell a flat line from a slope. */
export const QUICK_CPUS = [1, 16, 256] as const;
export const FORMATS = ['table', 'json', 'md'] as const;
export type Format = (typeof FORMATS)[number];

export interface CliFlags {
  readonly config?: string;
  readonly arch?: string;
  readonly mechanism?: string;
  readonly cpus?: string;
  readonly workload?: string;
  readonly seed?: string;
  readonly out?: string;
  readonly format?: string;
  readonly trace?: boolean;
  readonly quick?: boolean;
  readonly attacks?: string;
  readonly jobs?: string;
}

export interface ResolvedOptions {
  readonly plan: BenchPlan;
  readonly out: string;
  readonly format: Format;
}

function list(flag: string, value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new BenchUsageError(flag, value, 'is empty');
  return items;
}

export function parseCpus(value: string): number[] {
  const out = list('--cpus', value).map((s) => {
    const n = Number(s);
    if (!/^\d+$/.test(s) || n < 1 || n > 256)
      throw new BenchUsageError(
        '--cpus',
        s,
        'is not a CPU count (integers 1–256, comma-separated)',
      );
    return n;
  });
  return [...new Set(out)].sort((a, b) => a - b);
}

export function parseSeed(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n > 0xffffffff)
    throw new BenchUsageError('--seed', value, 'is not a seed (an integer 0 … 4294967295)');
  return n;
}

export function parseFormat(value: string): Format {
  if (!(FORMATS as readonly string[]).includes(value))
    throw new BenchUsageError('--format', value, `is not one of ${FORMATS.join(', ')}`);
  return value as Format;
}

/** `--jobs`: worker threads (1 = serial, in this thread). */
export function parseJobs(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || n < 1 || n > 256)
    throw new BenchUsageError('--jobs', value, 'is not a thread count (an integer 1 … 256)');
  return n;
}

/**
 * The default of `--jobs`: one worker thread per core the host offers, at most
 * `MAX_DEFAULT_JOBS` (each thread holds machines of up to 64 MiB and its own heap).
 */
export const MAX_DEFAULT_JOBS = 8;
export function defaultJobs(): number {
  return Math.min(availableParallelism(), MAX_DEFAULT_JOBS);
}

/** Built-in workload names, checked at once (a typo fails before anything is imported). */
export function parseWorkloadNames(value: string): string[] {
  const items = list('--workload', value);
  for (const n of items)
    if (!isWorkloadPath(n) && !workloadByName(n))
      throw new BenchUsageError(
        '--workload',
        n,
        `is not a workload (${WORKLOAD_NAMES.join(', ')}, or a path to a module that exports one, e.g. ./my-workload.ts)`,
      );
  return items;
}

/** Built-in names and user workload modules (`./my-workload.ts`), in the order given. */
export async function parseWorkloads(value: string, cwd = process.cwd()): Promise<Workload[]> {
  const out: Workload[] = [];
  for (const n of parseWorkloadNames(value)) {
    const w = isWorkloadPath(n) ? await loadWorkloadModule(n, cwd) : workloadByName(n);
    if (!w) throw new BenchUsageError('--workload', n, 'is not a workload');
    if (out.some((x) => x.name === w.name))
      throw new BenchUsageError(
        '--workload',
        n,
        `repeats the workload name ${JSON.stringify(w.name)}`,
      );
    out.push(w);
  }
  return out;
}

/** The reference CPU count for full-size runs: 4 when swept (a small SMP box), else the smallest. */
export function referenceCpus(cpus: readonly number[]): number {
  return cpus.includes(4) ? 4 : cpus[0];
}

export interface ResolveDeps {
  readonly discover?: () => Promise<Discovery>;
  readonly loadPool?: () => Promise<PoolApi | string>;
}

export async function resolveOptions(
  flags: CliFlags,
  deps: ResolveDeps = {},
): Promise<ResolvedOptions> {
  // Cheap checks first, so a typo fails before any backend is imported.
  const format = parseFormat(flags.format ?? 'table');
  const flagCpus = flags.cpus !== undefined ? parseCpus(flags.cpus) : undefined;
  const flagSeed = flags.seed !== undefined ? parseSeed(flags.seed) : undefined;
  const jobs = flags.jobs !== undefined ? parseJobs(flags.jobs) : defaultJobs();
  const workloadNames =
    flags.workload !== undefined ? parseWorkloadNames(flags.workload) : undefined;
  const arches = flags.arch !== undefined ? list('--arch', flags.arch) : undefined;
  const mechanisms =
    flags.mechanism !== undefined ? list('--mechanism', flags.mechanism) : undefined;
  if (flags.out !== undefined && flags.out.trim() === '')
    throw new BenchUsageError('--out', flags.out, 'is empty');
  if (flags.attacks !== undefined && !existsSync(flags.attacks))
    throw new BenchUsageError(
      '--attacks',
      flags.attacks,
      `is not a file (looked at ${resolve(flags.attacks)}; pnpm attacks writes attacks-results/attacks.json)`,
    );

  const workloads =
    workloadNames !== undefined ? await parseWorkloads(workloadNames.join(',')) : undefined;

  // The config is core's prmem.config.json, validated by core's schema (ConfigError).
  const config = flags.config !== undefined ? await loadConfig(flags.config) : undefined;
  const discovery = await (deps.discover ?? discoverVariants)();
  let variants: Variant[] = discovery.variants;
  if (config) {
    variants = await variantsForArch(config.arch, discovery.variants, config.configDir);
    if (config.mechanism !== undefined) {
      const mech = config.mechanism;
      const matching = variants.filter((v) => v.mechanism === mech);
      if (matching.length === 0)
        throw new BenchUsageError(
          `${flags.config}: mechanism`,
          mech,
          `is not a mechanism of ${variants[0]?.arch ?? 'the backend'} (${[...new Set(variants.map((v) => v.mechanism))].join(', ')})`,
        );
      variants = matching;
    }
  }
  const available = variants;
  variants = filterVariants(variants, arches, mechanisms);
  if (variants.length === 0) {
    const what = arches ? '--arch' : '--mechanism';
    throw new BenchUsageError(
      what,
      (arches ?? mechanisms ?? []).join(','),
      `matches no backend/mechanism (available: ${available.map((v) => v.id).join(', ') || 'none'})`,
    );
  }

  const cpus =
    flagCpus ??
    (config?.cpus !== undefined
      ? [config.cpus]
      : flags.quick === true
        ? [...QUICK_CPUS]
        : [...DEFAULT_CPUS]);
  const pool = await (deps.loadPool ?? loadPoolApi)();
  const plan: BenchPlan = {
    variants,
    workloads: workloads ?? WORKLOAD_NAMES.map((n) => workloadByName(n) as Workload),
    cpus,
    referenceCpus: referenceCpus(cpus),
    quick: flags.quick === true,
    base: {
      seed: flagSeed ?? config?.seed ?? 1,
      clockGHz: config?.clockGHz ?? 3,
      tlbEntries: config?.tlbEntries,
      memoryMiB: config?.memoryMiB,
      sectionPages: config?.sectionPages,
      costs: config?.costs as Partial<Record<EventName, number>> | undefined,
    },
    ...(typeof pool === 'string' ? { poolMissing: pool } : { pool }),
    skipped: discovery.skipped,
    trace: flags.trace === true || config?.trace === true,
    attacks: flags.attacks,
    jobs,
  };
  return { plan, out: flags.out ?? 'bench-results', format };
}
