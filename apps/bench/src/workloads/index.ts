import { imaAppendWorkload } from './ima-append.js';
import { policydbWorkload } from './policydb.js';
import { protectPoolWorkload } from './protect-pool.js';
import type { Workload } from './types.js';
import { wrAssignWorkload } from './wr-assign.js';
import { wrBatchWorkload } from './wr-batch.js';
import { wrMemcpyPageWorkload } from './wr-memcpy-page.js';

export * from './types.js';
export * from './user.js';
export {
  imaAppendWorkload,
  policydbWorkload,
  protectPoolWorkload,
  wrAssignWorkload,
  wrBatchWorkload,
  wrMemcpyPageWorkload,
};

/** Every workload, in report order. */
export const WORKLOADS: readonly Workload[] = [
  wrAssignWorkload,
  wrMemcpyPageWorkload,
  wrBatchWorkload,
  policydbWorkload,
  imaAppendWorkload,
  protectPoolWorkload,
];

export const WORKLOAD_NAMES = WORKLOADS.map((w) => w.name);

export function workloadByName(name: string): Workload | undefined {
  return WORKLOADS.find((w) => w.name === name);
}
