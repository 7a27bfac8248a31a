/**
 * The part of `@prmem/pool` the workloads use. The pool package is loaded
 * at run time and checked against this shape, so the bench keeps working (and says
 * which workloads it skipped) while the package is incomplete.
 */
import type { Machine } from '@prmem/core';

export type PoolMode = 'ro' | 'wr' | 'auto-ro' | 'auto-wr' | 'start-wr';

export interface PoolOptions {
  readonly mode: PoolMode;
  readonly refill?: number;
  readonly align?: number;
  readonly name?: string;
  readonly reclaimable?: boolean;
}

export interface Pool {
  alloc(size: number): number;
  protect(): void;
  destroy(): void;
}

export interface PoolApi {
  createPool(machine: Machine, opts: PoolOptions): Pool;
}

/** `@prmem/pool`, if it exports `createPool`; otherwise the reason it cannot be used. */
export async function loadPoolApi(): Promise<PoolApi | string> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import('@prmem/pool')) as Record<string, unknown>;
  } catch (e) {
    return `@prmem/pool cannot be imported: ${(e as Error).message}`;
  }
  const createPool = mod.createPool;
  if (typeof createPool !== 'function') return '@prmem/pool does not export createPool yet';
  return { createPool: createPool as PoolApi['createPool'] };
}
