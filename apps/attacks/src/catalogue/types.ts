import type { Backend, Machine } from '@prmem/core';

/**
 * What an attack did, in the catalogue's vocabulary:
 * - `stopped`: the attempt was refused (a page fault or a typed error) and the target is
 *   unchanged;
 * - `detected`: refused and unchanged, AND the machine recorded a security event (a
 *   refused write-rare target, a stage-2 fault logged at EL2, a refused hypercall);
 * - `window`: the attacker's bytes landed while a write-rare window was open, and the
 *   mechanism is documented to have that window;
 * - `unprotected`: the attacker's bytes landed, and the mechanism documents that it does
 *   not claim to stop this attack (e.g. a page-table attack on a stage-1-only design);
 * - `succeeded`: the bytes landed where nothing documents an opening: a protection failure;
 * - `n/a`: the attack does not apply (e.g. no alias mm, no hypervisor);
 * - `error`: the attack could not run (an exception from its set-up): always a mismatch.
 */
export type Outcome =
  | 'stopped'
  | 'detected'
  | 'window'
  | 'unprotected'
  | 'succeeded'
  | 'n/a'
  | 'error';
export const OUTCOMES: readonly Outcome[] = [
  'stopped',
  'detected',
  'window',
  'unprotected',
  'succeeded',
  'n/a',
  'error',
];

/** Outcomes a catalogue entry may declare as expected (`succeeded` never is). */
export type ExpectedOutcome = Exclude<Outcome, 'succeeded' | 'error'>;

export type Category =
  | 'lkdtm'
  | 'alias'
  | 'page-table'
  | 'tlb'
  | 'race'
  | 'pool'
  | 'wr-target'
  | 'hypervisor';

/** One backend × mechanism an attack runs against. */
export interface Combo {
  /** `<backend name>/<mechanism>`: the key of expectations and results. */
  readonly id: string;
  readonly backend: Backend;
  readonly mechanism: string;
}

/** What the attack saw, before classification. */
export interface Observation {
  /** The attacker's bytes (or level change) reached the target. */
  readonly landed: boolean;
  /** The refusal that stopped the attempt: `PageFault(write-protect)`, `WriteRareViolation(read-only)`, ... */
  readonly refusal?: string;
  /** Kinds of the security events the machine recorded during the attempt. */
  readonly events: readonly string[];
  /** One line: what was tried and what happened. */
  readonly detail: string;
  /** Set when the attack does not apply to this combo, with the reason. */
  readonly notApplicable?: string;
}

export interface Expectation {
  readonly outcome: ExpectedOutcome;
  /** Why this combo differs from the attack's default (required for every override). */
  readonly reason?: string;
}

/**
 * The expected outcome per combo: a default, and overrides keyed by combo id
 * (`x86-64/cr0-wp`) or backend name (`arm64`); the combo id wins.
 */
export interface ExpectationTable {
  readonly default: ExpectedOutcome;
  /** Why, when the default itself is an opening (`window`, `unprotected`). */
  readonly defaultReason?: string;
  readonly overrides: Readonly<Record<string, readonly [ExpectedOutcome, string]>>;
}

/** The context an attack runs in: its own fresh machine. */
export interface AttackWorld {
  readonly combo: Combo;
  readonly machine: Machine;
}

export interface AttackSpec {
  readonly id: string;
  readonly title: string;
  readonly category: Category;
  /** What the attack does, for the README and the JSON. */
  readonly description: string;
  /** CPUs of the attack's machine (2–4: the matrix runs in CI). */
  readonly cpus?: number;
  readonly expect: ExpectationTable;
  /** Performs the attack for real on a machine built for the combo. */
  perform(world: AttackWorld): Observation | Promise<Observation>;
}

/** One attack run against one combo. */
export interface AttackResult {
  readonly attack: string;
  readonly combo: string;
  readonly outcome: Outcome;
  readonly expected: ExpectedOutcome;
  /** Why the expectation differs from the default, if it does. */
  readonly reason?: string;
  readonly match: boolean;
  readonly detail: string;
  readonly refusal?: string;
  readonly events: readonly string[];
  /** An unexpected exception from the attack itself (a harness or backend bug). */
  readonly error?: string;
  readonly ms: number;
}

export interface Attack extends AttackSpec {
  expected(combo: Combo): Expectation;
  /** Builds a machine for the combo, performs the attack, classifies what happened. */
  run(combo: Combo, seed?: number): Promise<AttackResult>;
}
