/**
 * The schema of `results.json`. It is the contract with whoever reads the results
 * (the report, CI, a notebook): every field is documented here and validated before
 * the file is written.
 */
import { EVENT_NAMES } from '@prmem/core';
import { z } from 'zod';

/** Every counted event of the machine (core's EVENT_NAMES), per operation. */
export const eventsSchema = z.object(
  Object.fromEntries(EVENT_NAMES.map((n) => [n, z.number().nonnegative()])) as Record<
    (typeof EVENT_NAMES)[number],
    z.ZodNumber
  >,
);

export const costFigureSchema = z.object({
  cycles: z.number().nonnegative(),
  source: z.string(),
  estimate: z.boolean().optional(),
});

/** One backend × mechanism (× backend profile, e.g. arm64's hypervisor) that was run. */
export const variantSchema = z.object({
  /** `arch/mechanism`, or `arch[profile]/mechanism` for a profiled backend. */
  id: z.string(),
  /** The backend's config name (`x86-64`, `arm64`, `nommu-alias`, or a third party's). */
  arch: z.string(),
  mechanism: z.string(),
  /** A backend profile that changes costs (arm64: `kvm` or `thin` hypervisor). */
  profile: z.string().optional(),
  /** The package the backend came from. */
  package: z.string(),
  /** The mechanism's own one-line summary. */
  summary: z.string(),
  /** How remote TLBs are invalidated on this backend. */
  tlbMaintenance: z.enum(['ipi', 'broadcast']),
  /** The backend's cost table (cycles per event, and where each figure comes from). */
  costs: z.record(z.string(), costFigureSchema),
});

/** Figures computed from the machine's counters: deterministic for a seed. */
export const modeledSchema = z.object({
  /**
   * Cycles the calling CPU (CPU 0) spent per operation, including waiting for other CPUs
   * to acknowledge IPIs: the operation's modeled latency.
   */
  cyclesPerOp: z.number().nonnegative(),
  /** `cyclesPerOp` in nanoseconds at the run's `clockGHz`. */
  nsPerOp: z.number().nonnegative(),
  /**
   * Work on every CPU per operation: Σ over CPUs and events of count × cost. It grows with
   * the number of CPUs an operation disturbs (IPI handlers, remote flushes).
   */
  systemCyclesPerOp: z.number().nonnegative(),
  /** Every counted event (core's EVENT_NAMES), summed over CPUs, per operation. */
  events: eventsSchema,
});

/** Wall-clock figures of the simulator itself (vary from run to run and machine to machine). */
export const wallSchema = z.object({
  /**
   * Untimed runs of the whole workload on separate machines before the timed ones, so the
   * JIT has settled (full-size points; 0 in the sweep and with `--quick`).
   */
  warmupRuns: z.number().int().nonnegative(),
  /**
   * Timed runs of the phase. Without a warm-up the first of them also gives the modeled
   * figures; after one, the modeled run is an extra, untimed run before them.
   */
  repeats: z.number().int().positive(),
  /** Wall time of each run, ms. */
  samplesMs: z.array(z.number().nonnegative()),
  /** Median of `samplesMs`. */
  medianMs: z.number().nonnegative(),
  /** Simulated operations per second of wall time, from the median run. */
  opsPerSec: z.number().nonnegative(),
});

/**
 * The direct map's shape after a phase of a full-size point (its first run): large
 * translations left and the kernel mm's page-table pages, and the same at boot.
 */
export const fragmentationSchema = z.object({
  largeAtBoot: z.number().int().nonnegative(),
  large: z.number().int().nonnegative(),
  tablePagesAtBoot: z.number().int().nonnegative(),
  tablePages: z.number().int().nonnegative(),
});

/** One measured phase of one workload on one variant at one CPU count. */
export const rowSchema = z.object({
  /** `variants[].id`. */
  variant: z.string(),
  arch: z.string(),
  mechanism: z.string(),
  workload: z.string(),
  /** A phase of the workload (e.g. policydb: build, protect, update, swap, destroy-old). */
  phase: z.string(),
  /** What one operation is, for a reader (e.g. `wrAssign 8 B`). */
  op: z.string(),
  /**
   * `full`: the workload's full size, run at the reference CPU count; `sweep`: the
   * reduced size run at every CPU count (the cost-against-CPUs curves use these).
   */
  scale: z.enum(['full', 'sweep']),
  cpus: z.number().int().min(1).max(256),
  /** Operations in one run of the phase. */
  ops: z.number().int().positive(),
  /** Workload size parameters of this run (allocations, bytes, ...). */
  size: z.record(z.string(), z.number()),
  modeled: modeledSchema,
  wall: wallSchema,
  /** Direct-map fragmentation after the phase (full-size points only). */
  fragmentation: fragmentationSchema.optional(),
});

const lifecycleMemory = z.object({
  freeFrames: z.number().int().nonnegative(),
  tablePages: z.number().int().nonnegative(),
  liveAreas: z.number().int().nonnegative(),
  /** JS heap in use after a full GC, bytes. */
  heapBytes: z.number().nonnegative(),
});

/** The memory life cycle of one variant (lifecycle.ts): pool cycles and policy-DB reloads. */
export const lifecycleRowSchema = z.object({
  variant: z.string(),
  arch: z.string(),
  mechanism: z.string(),
  cycles: z.number().int().nonnegative(),
  reloads: z.number().int().nonnegative(),
  /** Objects per DB, and their bytes. */
  objects: z.number().int().nonnegative(),
  dbBytes: z.number().int().nonnegative(),
  memoryMiB: z.number().positive(),
  /** Wall time of all the pool cycles, ms. */
  cyclesMs: z.number().nonnegative(),
  /** Wall time of each reload (build the new DB, publish, destroy the old), ms. */
  reloadMs: z.array(z.number().nonnegative()),
  medianReloadMs: z.number().nonnegative(),
  before: lifecycleMemory,
  after: lifecycleMemory,
});
export type LifecycleRow = z.infer<typeof lifecycleRowSchema>;

/** The attack suite's outcome vocabulary (apps/attacks README). */
export const outcomeSchema = z.enum([
  'stopped',
  'detected',
  'window',
  'unprotected',
  'succeeded',
  'n/a',
  'error',
]);

/** One mechanism's security properties as the attack suite measured them (null: not applicable). */
export const securitySummarySchema = z.object({
  arch: z.string(),
  mechanism: z.string(),
  /** Can another CPU write the target while the window is open? */
  windowVisibleToOtherCpus: z.boolean().nullable(),
  /** Can an attacker reach a writable alias of protected memory? */
  writableAliasReachable: z.boolean().nullable(),
  /** Does protection hold against an attacker who can write kernel page tables? */
  survivesPageTableAttack: z.boolean().nullable(),
  /** Does the window make unrelated read-only data writable (on the writer CPU)? */
  windowOpensUnrelatedReadOnly: z.boolean().nullable(),
});

/**
 * What the attack suite writes (`attacks.json`, schema `prmem-attacks/1`, documented in
 * apps/attacks/README.md): one outcome per attack × combo and the properties derived
 * per combo. The bench only reads the fields below; the rest passes through.
 */
export const attacksFileSchema = z.looseObject({
  schema: z.literal('prmem-attacks/1'),
  generatedAt: z.string().optional(),
  combos: z.array(z.looseObject({ id: z.string(), backend: z.string(), mechanism: z.string() })),
  results: z.array(
    z.looseObject({
      attack: z.string(),
      combo: z.string(),
      outcome: outcomeSchema,
      detail: z.string().optional(),
    }),
  ),
  properties: z.record(z.string(), z.record(z.string(), z.boolean().nullable())),
  /** Per property, the attacks it is derived from (the evidence the report links to). */
  propertyDefinitions: z
    .record(z.string(), z.looseObject({ attacks: z.array(z.string()) }))
    .optional(),
});
export type AttacksFile = z.infer<typeof attacksFileSchema>;

/** Per variant, what the report states about its security. */
export const securitySchema = z.object({
  /** The attacks.json that was read, or null when none was found. */
  source: z.string().nullable(),
  /** Per reported property, the attacks whose outcomes decide it (from the suite). */
  evidence: z.record(z.string(), z.array(z.string())).optional(),
  /** `variants[].id` → the suite's summary and outcomes, or null: not measured. */
  byVariant: z.record(
    z.string(),
    z
      .object({
        summary: securitySummarySchema.nullable(),
        outcomes: z.array(
          z.object({ attack: z.string(), outcome: outcomeSchema, detail: z.string().optional() }),
        ),
      })
      .nullable(),
  ),
});

export const resultsSchema = z.object({
  schemaVersion: z.literal(1),
  tool: z.literal('prmem-bench'),
  /** When the run started (ISO 8601). Not part of the modeled figures. */
  createdAt: z.string(),
  /** Seed of every machine (same seed → identical `modeled` figures). */
  seed: z.number().int().nonnegative(),
  /** Modeled clock used to turn cycles into ns. */
  clockGHz: z.number().positive(),
  /** True when run with --quick (reduced sizes for CI and tests). */
  quick: z.boolean(),
  /** CPU counts swept. */
  cpus: z.array(z.number().int().min(1).max(256)),
  /** The CPU count the full-size runs used. */
  referenceCpus: z.number().int().min(1).max(256),
  /** Machine options every run shared (memory per workload is chosen by the workload). */
  machine: z.object({
    tlbEntries: z.number().int().optional(),
    costs: z.record(z.string(), z.number()).optional(),
  }),
  host: z.object({
    node: z.string(),
    platform: z.string(),
    arch: z.string(),
    hostCpus: z.number().int(),
    loadAverage: z.array(z.number()),
    /**
     * Worker threads that ran points at once (`--jobs`; 1: one after another). With more
     * than one, each wall-clock figure was timed while the other threads ran other points.
     */
    jobs: z.number().int().min(1).optional(),
  }),
  variants: z.array(variantSchema),
  workloads: z.array(z.object({ name: z.string(), description: z.string() })),
  /** Things that could not run and why (a backend without `backend`, no pool package, ...). */
  skipped: z.array(z.object({ what: z.string(), reason: z.string() })),
  /** Points that threw (a bug in a backend or a package): the rest of the run went on. */
  failures: z.array(
    z.object({
      variant: z.string(),
      workload: z.string(),
      cpus: z.number().int(),
      scale: z.enum(['full', 'sweep']),
      error: z.string(),
    }),
  ),
  rows: z.array(rowSchema),
  /** The memory life cycle per variant (absent in results written before it existed). */
  lifecycle: z
    .array(z.union([lifecycleRowSchema, z.object({ variant: z.string(), error: z.string() })]))
    .optional(),
  security: securitySchema,
  /** Wall time of the whole run, ms. */
  durationMs: z.number().nonnegative(),
});

export type BenchResults = z.infer<typeof resultsSchema>;
export type ResultRow = z.infer<typeof rowSchema>;
export type VariantInfo = z.infer<typeof variantSchema>;
export type Modeled = z.infer<typeof modeledSchema>;
export type SecurityInfo = z.infer<typeof securitySchema>;
