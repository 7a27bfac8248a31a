/**
 * The backend conformance kit: every rule of the backend contract as a check, runnable
 * under any test runner that has `describe` and `it` (vitest, jest, mocha, node:test's
 * wrappers), so a backend written outside this repository runs the same suite as ours.
 */
import { type Backend, InvalidArgumentError, isBackend } from '../../index.js';
import { differentialRule } from './differential.js';
import { mechanismRules } from './mechanism.js';
import { protectionRules } from './protection.js';
import type { ConformanceOptions, ConformanceRule } from './rule.js';
import { tlbRules } from './tlb.js';
import { walkRules } from './walk.js';

export type { ConformanceOptions, ConformanceRule } from './rule.js';
export { ConformanceViolation } from './world.js';
export { sessionSteps } from './mechanism.js';

/** The two functions of a test runner the kit registers its rules with. */
export interface TestRunner {
  describe(name: string, body: () => void): unknown;
  it(name: string, body: () => Promise<void>, timeoutMs?: number): unknown;
}

function checkOptions(backend: Backend, opts: ConformanceOptions): readonly string[] {
  if (!isBackend(backend))
    throw new InvalidArgumentError(
      'backend',
      backend,
      'is not a Backend (name, layout, mechanisms, attach)',
    );
  if (typeof opts !== 'object' || opts === null)
    throw new InvalidArgumentError('options', opts, 'must be an object');
  const mechanisms = opts.mechanisms ?? backend.mechanisms;
  if (!Array.isArray(mechanisms))
    throw new InvalidArgumentError(
      'options.mechanisms',
      mechanisms,
      'must be an array of mechanism names',
    );
  for (const name of mechanisms)
    if (!backend.mechanisms.includes(name))
      throw new InvalidArgumentError(
        'options.mechanisms',
        name,
        `is not a mechanism of ${backend.name} (${backend.mechanisms.join(', ')})`,
      );
  const { numRuns } = opts;
  if (numRuns !== undefined && !(Number.isInteger(numRuns) && numRuns >= 1))
    throw new InvalidArgumentError('options.numRuns', numRuns, 'must be a positive integer');
  const { timeoutMs } = opts;
  if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0))
    throw new InvalidArgumentError('options.timeoutMs', timeoutMs, 'must be a positive number');
  if (opts.seed !== undefined && !Number.isInteger(opts.seed))
    throw new InvalidArgumentError('options.seed', opts.seed, 'must be an integer');
  return mechanisms;
}

/** Every rule for `backend`, in order: page tables, TLB, protection, then each mechanism. */
export function conformanceRules(
  backend: Backend,
  opts: ConformanceOptions = {},
): ConformanceRule[] {
  const mechanisms = checkOptions(backend, opts);
  return [
    ...walkRules(backend),
    ...tlbRules(backend),
    ...protectionRules(backend),
    ...mechanisms.flatMap((name) => [
      ...mechanismRules(backend, name),
      differentialRule(backend, name, opts),
    ]),
  ];
}

/**
 * Registers the kit's rules as tests: one `describe` per group, one `it` per rule.
 *
 * ```ts
 * import { describe, it } from 'vitest';
 * import { backendConformance } from '@prmem/core/testing';
 * backendConformance(backend, { describe, it });
 * ```
 */
export function backendConformance(
  backend: Backend,
  runner: TestRunner,
  opts: ConformanceOptions = {},
): void {
  if (
    typeof runner !== 'object' ||
    runner === null ||
    typeof runner.describe !== 'function' ||
    typeof runner.it !== 'function'
  )
    throw new InvalidArgumentError(
      'runner',
      runner,
      'must have describe(name, fn) and it(name, fn), e.g. { describe, it } from vitest',
    );
  const rules = conformanceRules(backend, opts);
  runner.describe(`${backend.name} conforms to the backend contract`, () => {
    const groups = [...new Set(rules.map((r) => r.group))];
    for (const group of groups)
      runner.describe(group, () => {
        for (const rule of rules) {
          if (rule.group !== group) continue;
          if (opts.timeoutMs === undefined) runner.it(rule.name, () => rule.run());
          else runner.it(rule.name, () => rule.run(), opts.timeoutMs);
        }
      });
  });
}

export interface ConformanceReport {
  readonly passed: readonly string[];
  readonly failed: readonly { readonly rule: string; readonly error: unknown }[];
}

/** Runs every rule without a test runner and reports which ones fail. */
export async function checkConformance(
  backend: Backend,
  opts: ConformanceOptions = {},
): Promise<ConformanceReport> {
  const passed: string[] = [];
  const failed: { rule: string; error: unknown }[] = [];
  for (const rule of conformanceRules(backend, opts)) {
    try {
      await rule.run();
      passed.push(rule.name);
    } catch (error) {
      failed.push({ rule: rule.name, error });
    }
  }
  return { passed, failed };
}
