import { ALIAS } from './alias.js';
import { LKDTM } from './lkdtm.js';
import { PAGE_TABLE } from './pagetable.js';
import { POOL } from './pool.js';
import { RACE } from './race.js';
import { THREAT } from './threat.js';
import { TLB } from './tlb.js';
import type { Attack } from './types.js';
import { WR_TARGET } from './wrtarget.js';

export { classify, defineAttack, expect, expectationFor } from './define.js';
export * from './types.js';

/** Every attack of the catalogue, in the order the matrix prints them. */
export const CATALOGUE: readonly Attack[] = [
  ...LKDTM,
  ...ALIAS,
  ...PAGE_TABLE,
  ...TLB,
  ...RACE,
  ...POOL,
  ...WR_TARGET,
  ...THREAT,
];

export function attackById(id: string): Attack | undefined {
  return CATALOGUE.find((a) => a.id === id);
}
export { combosOf } from './combos.js';
