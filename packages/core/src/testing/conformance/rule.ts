import type { Backend } from '../../index.js';

/** One rule of the backend contract, stated as a check that throws when it is broken. */
export interface ConformanceRule {
  /** The rule as a claim, used as the test title. */
  readonly name: string;
  /** The group it belongs to (`page tables`, `TLB`, `protection`, `mechanism <name>`). */
  readonly group: string;
  run(): Promise<void>;
}

export interface ConformanceOptions {
  /** The mechanisms to check (default: every one the backend declares). */
  readonly mechanisms?: readonly string[];
  /** fast-check runs of the write-rare differential, per mechanism (default 30). */
  readonly numRuns?: number;
  /** fast-check seed of the differential (default: fast-check's own). */
  readonly seed?: number;
  /** Passed to the runner's `it` as its third argument (a per-test timeout), when set. */
  readonly timeoutMs?: number;
}

export type RuleFactory = (backend: Backend, opts: ConformanceOptions) => ConformanceRule[];
