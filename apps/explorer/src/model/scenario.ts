import { backend as arm64 } from '@prmem/arch-arm64';
import { backend as nommu } from '@prmem/arch-nommu-alias';
import { backend as x86 } from '@prmem/arch-x86';
import type { Backend } from '@prmem/core';

/**
 * The backends the explorer offers, by config name. A browser bundle needs literal
 * imports, so these are written out; a test holds them to core's registry
 * (BUILTIN_ARCHES), so a new built-in backend cannot be missing here.
 */
export const BACKENDS: Readonly<Record<string, Backend>> = {
  [x86.name]: x86,
  [arm64.name]: arm64,
  [nommu.name]: nommu,
};

export const OPERATIONS = ['wrAssign', 'wrMemcpy', 'wrRcuAssignPointer', 'protect'] as const;
export type Operation = (typeof OPERATIONS)[number];

export const OPERATION_TITLES: Readonly<Record<Operation, string>> = {
  wrAssign: 'wrAssign (8 B) to a __wr_after_init variable',
  wrMemcpy: 'wrMemcpy of a page in the wr pool',
  wrRcuAssignPointer: 'wrRcuAssignPointer to a slot in the wr pool',
  protect: 'protect() of the ro pool',
};

export type AttackWhat = 'target' | 'alias' | 'direct' | 'ro';
export const ATTACK_WHATS: readonly AttackWhat[] = ['target', 'alias', 'direct', 'ro'];

/** A plain write another CPU tried, after `after` steps of the operation. */
export interface ScenarioAttack {
  readonly after: number;
  readonly cpu: number;
  readonly what: AttackWhat;
}

/** Everything that defines a run: a link with these fields reproduces it. */
export interface Scenario {
  readonly arch: string;
  readonly mechanism: string;
  readonly cpus: number;
  readonly seed: number;
  readonly op: Operation;
  /** Steps performed so far (the URL keeps the position too). */
  readonly step: number;
  /** Fill every CPU's TLB (all 1,024 slots) with direct-map reads before the operation. */
  readonly fill: boolean;
  /** Attacks made so far, in order (the URL's `at=step.cpu.what,…`). */
  readonly attacks: readonly ScenarioAttack[];
}

export const DEFAULT_SCENARIO: Scenario = {
  arch: x86.name,
  mechanism: x86.defaultMechanism,
  cpus: 2,
  seed: 1,
  op: 'wrAssign',
  step: 0,
  fill: false,
  attacks: [],
};

/** A scenario field that is not one the explorer can run; `value` is as written. */
export class ScenarioError extends Error {
  readonly code = 'ESCENARIO';
  constructor(
    readonly field: string,
    readonly value: unknown,
    why: string,
  ) {
    super(`scenario field ${field} = ${JSON.stringify(value)}: ${why}`);
    this.name = 'ScenarioError';
  }
}

function intIn(field: string, v: unknown, lo: number, hi: number): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < lo || n > hi)
    throw new ScenarioError(field, v, `must be an integer in [${lo}, ${hi}]`);
  return n;
}

function boolFrom(field: string, v: unknown): boolean {
  if (v === true || v === '1') return true;
  if (v === false || v === '0') return false;
  throw new ScenarioError(field, v, 'must be 0 or 1');
}

const ATTACK_RE = /^(\d+)\.(\d+)\.([a-z]+)$/;

/** Attacks as values, or as the URL writes them (`4.1.alias,6.1.target`). */
function attacksFrom(v: unknown, cpus: number, step: number): ScenarioAttack[] {
  const items = typeof v === 'string' ? (v === '' ? [] : v.split(',')) : v;
  if (!Array.isArray(items)) throw new ScenarioError('attacks', v, 'must be a list');
  const out: ScenarioAttack[] = [];
  for (const item of items) {
    let a: Record<string, unknown> | undefined;
    if (typeof item === 'string') {
      const m = ATTACK_RE.exec(item);
      if (m) a = { after: Number(m[1]), cpu: Number(m[2]), what: m[3] };
    } else if (typeof item === 'object' && item !== null) a = item as Record<string, unknown>;
    const ok =
      a !== undefined &&
      Number.isInteger(a.after) &&
      (a.after as number) >= 0 &&
      (a.after as number) <= step &&
      (out.length === 0 || (a.after as number) >= out[out.length - 1].after) &&
      Number.isInteger(a.cpu) &&
      (a.cpu as number) >= 0 &&
      (a.cpu as number) < cpus &&
      (ATTACK_WHATS as readonly unknown[]).includes(a.what);
    if (!ok || a === undefined)
      throw new ScenarioError(
        'attacks',
        item,
        `an attack is step.cpu.what: a step in [0, ${step}] (in order), a CPU below ${cpus}, what one of ${ATTACK_WHATS.join(', ')}`,
      );
    out.push({ after: a.after as number, cpu: a.cpu as number, what: a.what as AttackWhat });
  }
  return out;
}

/** Validates a scenario given field by field (strings from a URL, or values). */
export function parseScenario(input: Readonly<Record<string, unknown>>): Scenario {
  if (typeof input !== 'object' || input === null)
    throw new ScenarioError('', input, 'must be an object');
  const arch = input.arch ?? DEFAULT_SCENARIO.arch;
  const backend = typeof arch === 'string' ? BACKENDS[arch] : undefined;
  if (!backend)
    throw new ScenarioError('arch', arch, `must be one of ${Object.keys(BACKENDS).join(', ')}`);
  const mechanism = input.mechanism ?? backend.defaultMechanism;
  if (typeof mechanism !== 'string' || !backend.mechanisms.includes(mechanism))
    throw new ScenarioError(
      'mechanism',
      mechanism,
      `${backend.name} offers ${backend.mechanisms.join(', ')}`,
    );
  const op = input.op ?? DEFAULT_SCENARIO.op;
  if (typeof op !== 'string' || !(OPERATIONS as readonly string[]).includes(op))
    throw new ScenarioError('op', op, `must be one of ${OPERATIONS.join(', ')}`);
  const cpus = intIn('cpus', input.cpus ?? DEFAULT_SCENARIO.cpus, 1, 8);
  const step = intIn('step', input.step ?? 0, 0, 100_000);
  return {
    arch: backend.name,
    mechanism,
    cpus,
    seed: intIn('seed', input.seed ?? DEFAULT_SCENARIO.seed, 0, 0xffffffff),
    op: op as Operation,
    step,
    fill: boolFrom('fill', input.fill ?? false),
    attacks: attacksFrom(input.attacks ?? [], cpus, step),
  };
}

/** The scenario as a URL query (`?arch=…&mechanism=…`). */
export function scenarioToQuery(s: Scenario): string {
  const q = new URLSearchParams({
    arch: s.arch,
    mechanism: s.mechanism,
    cpus: String(s.cpus),
    seed: String(s.seed),
    op: s.op,
    step: String(s.step),
  });
  if (s.fill) q.set('fill', '1');
  if (s.attacks.length > 0)
    q.set('at', s.attacks.map((a) => `${a.after}.${a.cpu}.${a.what}`).join(','));
  return `?${q.toString()}`;
}

/** Reads a scenario from a URL query; fields it lacks take their defaults. */
export function scenarioFromQuery(query: string): Scenario {
  if (typeof query !== 'string') throw new ScenarioError('query', query, 'must be a string');
  const q = new URLSearchParams(query);
  const o: Record<string, string> = {};
  for (const k of ['arch', 'mechanism', 'cpus', 'seed', 'op', 'step', 'fill']) {
    const v = q.get(k);
    if (v !== null) o[k] = v;
  }
  const at = q.get('at');
  if (at !== null) o.attacks = at;
  // A mechanism left over from another arch falls back to the arch's default.
  return parseScenario(o);
}
