import { createMachine } from '@prmem/core';
import Table from 'cli-table3';
import { CATALOGUE } from './catalogue/index.js';
import { defaultCombos } from './catalogue/default-combos.js';
import type { Attack, AttackResult, Combo, Outcome } from './catalogue/types.js';

/** Outcomes where the attacker's write did not land. */
const REFUSED: ReadonlySet<Outcome> = new Set(['stopped', 'detected']);
/** Outcomes where it did. */
const LANDED: ReadonlySet<Outcome> = new Set(['window', 'unprotected', 'succeeded']);

/** A security property of a mechanism, derived from the outcomes of some attacks. */
export interface PropertyDefinition {
  readonly description: string;
  readonly attacks: readonly string[];
  /** 'all-refused': true iff every applicable attack was refused; 'any-landed': iff one landed; 'all-detected'. */
  readonly rule: 'all-refused' | 'any-landed' | 'all-detected';
}

export const PROPERTIES = {
  plainWritesStopped: {
    description: 'plain writes to protected statics and to every pool mode fault',
    attacks: [
      'plain-write-rodata',
      'plain-write-ro-after-init',
      'plain-write-wr-after-init',
      'plain-write-ro-pool',
      'plain-write-wr-pool',
      'plain-write-auto-ro-pool',
      'plain-write-auto-wr-pool',
      'plain-write-start-wr-pool',
    ],
    rule: 'all-refused',
  },
  refusesWriteRareToReadOnly: {
    description: 'write-rare to .rodata, __ro_after_init or an ro pool is refused',
    attacks: ['wr-to-rodata', 'wr-to-ro-after-init', 'wr-to-ro-pool'],
    rule: 'all-refused',
  },
  writableAliasReachable: {
    description:
      'a writable alias of a protected frame (direct map, write-rare alias) can be written',
    attacks: [
      'directmap-alias-wr-pool',
      'directmap-alias-ro-after-init',
      'wr-alias-from-other-cpu',
      'wr-alias-from-kernel-mm',
    ],
    rule: 'any-landed',
  },
  survivesPageTableAttack: {
    description:
      'rewriting the PTE of a protected page through the direct map does not let a write land',
    attacks: ['pte-rewrite-wr-pool', 'pte-rewrite-ro-after-init'],
    rule: 'all-refused',
  },
  detectsPageTableAttack: {
    description: 'the page-table attack is refused and recorded (EL2 log)',
    attacks: ['pte-rewrite-wr-pool', 'pte-rewrite-ro-after-init'],
    rule: 'all-detected',
  },
  staleTlbSafe: {
    description: 'no remote CPU keeps a writable TLB entry after protection (shootdown)',
    attacks: ['stale-tlb-remote-pool', 'stale-tlb-remote-static'],
    rule: 'all-refused',
  },
  windowVisibleToOtherCpus: {
    description: 'another CPU can plain-write the target page while a write-rare window is open',
    attacks: ['race-plain-write-other-cpu'],
    rule: 'any-landed',
  },
  windowOpensUnrelatedReadOnly: {
    description: 'during a window the writer CPU can write unrelated read-only data',
    attacks: ['window-unrelated-ro'],
    rule: 'any-landed',
  },
  windowOpensUnrelatedWriteRare: {
    description: "during a window the writer CPU can plain-write another pool's write-rare data",
    attacks: ['window-unrelated-wr'],
    rule: 'any-landed',
  },
  poolLevelsMonotonic: {
    description: 'pool protection never moves back (ro → wr, wr → rw) nor past its limit (wr → ro)',
    attacks: ['pool-downgrade-ro-to-wr', 'pool-downgrade-wr-to-writable', 'pool-wr-to-ro'],
    rule: 'all-refused',
  },
  poolMetadataProtected: {
    description: 'the pool table cannot be changed by plain writes',
    attacks: ['pool-metadata-tamper'],
    rule: 'all-refused',
  },
  useAfterDestroyContained: {
    description:
      'a stale pointer into a destroyed pool cannot change the protected pool that reuses its range (it can reach one still being built: use-after-destroy)',
    attacks: ['use-after-destroy-protected'],
    rule: 'all-refused',
  },
  validatesWriteRareTargets: {
    description:
      'write-rare targets spanning areas, past an area or with overflowing sizes are refused and recorded',
    attacks: ['wr-spans-areas', 'wr-past-allocation', 'wr-overflowing-size'],
    rule: 'all-detected',
  },
  hypervisorChecksTargets: {
    description:
      'EL2 refuses and logs hypercalls to unregistered, read-only, spanning or overflowing targets (null: no hypervisor)',
    attacks: ['hvc-unregistered', 'hvc-readonly', 'hvc-spans-ranges', 'hvc-overflowing-size'],
    rule: 'all-detected',
  },
} as const satisfies Record<string, PropertyDefinition>;

export type PropertyName = keyof typeof PROPERTIES;
/** true / false, or null when every attack behind the property was n/a (or not run). */
export type MechanismProperties = Record<PropertyName, boolean | null>;

export interface ComboInfo {
  readonly id: string;
  readonly backend: string;
  readonly mechanism: string;
  /** The mechanism's one-line summary, from the backend. */
  readonly summary: string;
}

export interface AttackInfo {
  readonly id: string;
  readonly title: string;
  readonly category: string;
  readonly description: string;
}

/** The JSON the runner writes (`schema` names this shape; see README). */
export interface MatrixReport {
  readonly schema: 'prmem-attacks/1';
  readonly generatedAt: string;
  readonly seed: number;
  readonly combos: readonly ComboInfo[];
  readonly attacks: readonly AttackInfo[];
  readonly results: readonly AttackResult[];
  readonly mismatches: readonly AttackResult[];
  readonly properties: Readonly<Record<string, MechanismProperties>>;
  readonly propertyDefinitions: Readonly<Record<PropertyName, PropertyDefinition>>;
  readonly totalMs: number;
}

export interface MatrixOptions {
  readonly combos?: readonly Combo[];
  readonly attacks?: readonly Attack[];
  readonly seed?: number;
  /** Called after every result (progress). */
  readonly onResult?: (r: AttackResult) => void;
}

/** Derives a combo's properties from its results. */
export function deriveProperties(results: readonly AttackResult[]): MechanismProperties {
  const byAttack = new Map(results.map((r) => [r.attack, r.outcome]));
  const out = {} as Record<PropertyName, boolean | null>;
  for (const [name, def] of Object.entries(PROPERTIES) as [PropertyName, PropertyDefinition][]) {
    const outcomes = def.attacks
      .map((a) => byAttack.get(a))
      .filter((o): o is Outcome => o !== undefined && o !== 'n/a');
    if (outcomes.length === 0) out[name] = null;
    else if (def.rule === 'any-landed') out[name] = outcomes.some((o) => LANDED.has(o));
    else if (def.rule === 'all-refused') out[name] = outcomes.every((o) => REFUSED.has(o));
    else out[name] = outcomes.every((o) => o === 'detected');
  }
  return out;
}

async function comboSummary(c: Combo): Promise<string> {
  const m = await createMachine({
    arch: c.backend,
    mechanism: c.mechanism,
    cpus: 1,
    memoryMiB: 16,
  });
  return m.mechanism.summary;
}

/** Runs every attack against every combo and derives each combo's properties. */
export async function runMatrix(opts: MatrixOptions = {}): Promise<MatrixReport> {
  const t0 = performance.now();
  const combos = opts.combos ?? defaultCombos();
  const attacks = opts.attacks ?? CATALOGUE;
  const seed = opts.seed ?? 1;
  const results: AttackResult[] = [];
  const properties: Record<string, MechanismProperties> = {};
  const comboInfo: ComboInfo[] = [];
  for (const c of combos) {
    comboInfo.push({
      id: c.id,
      backend: c.backend.name,
      mechanism: c.mechanism,
      summary: await comboSummary(c),
    });
    const mine: AttackResult[] = [];
    for (const a of attacks) {
      const r = await a.run(c, seed);
      mine.push(r);
      results.push(r);
      opts.onResult?.(r);
    }
    properties[c.id] = deriveProperties(mine);
  }
  return {
    schema: 'prmem-attacks/1',
    generatedAt: new Date().toISOString(),
    seed,
    combos: comboInfo,
    attacks: attacks.map(({ id, title, category, description }) => ({
      id,
      title,
      category,
      description,
    })),
    results,
    mismatches: results.filter((r) => !r.match),
    properties,
    propertyDefinitions: PROPERTIES,
    totalMs: Math.round(performance.now() - t0),
  };
}

const SHORT: Readonly<Record<Outcome, string>> = {
  stopped: 'stopped',
  detected: 'DETECTED',
  window: 'window',
  unprotected: 'OPEN',
  succeeded: 'SUCCEEDED',
  'n/a': '-',
  error: 'ERROR',
};

const red = (s: string, color: boolean) => (color ? `\u001b[31;1m${s}\u001b[0m` : s);

/** The matrix as a terminal table: attacks down, combos across; mismatches marked `!`. */
export function renderMatrix(report: MatrixReport, color = false): string {
  const head = ['attack', ...report.combos.map((c) => c.id.replace('/', '\n'))];
  const table = new Table({ head, style: { head: [], border: [] } });
  const cell = new Map(report.results.map((r) => [`${r.attack}|${r.combo}`, r]));
  for (const a of report.attacks) {
    table.push([
      a.id,
      ...report.combos.map((c) => {
        const r = cell.get(`${a.id}|${c.id}`);
        if (!r) return '';
        const s = SHORT[r.outcome];
        return r.match ? s : red(`!${s} (want ${SHORT[r.expected]})`, color);
      }),
    ]);
  }
  const props = new Table({
    head: ['property', ...report.combos.map((c) => c.id.replace('/', '\n'))],
    style: { head: [], border: [] },
  });
  for (const p of Object.keys(report.propertyDefinitions) as PropertyName[])
    props.push([p, ...report.combos.map((c) => String(report.properties[c.id]?.[p] ?? ''))]);
  const legend =
    'stopped: refused, unchanged · DETECTED: refused and recorded as a security event · window: landed in a documented window · OPEN: landed, documented as not defended · SUCCEEDED: landed, a protection failure · -: n/a · !: differs from the catalogue';
  const summary = `${report.results.length} runs, ${report.mismatches.length} mismatches, ${report.totalMs} ms`;
  return `${table.toString()}\n${legend}\n\n${props.toString()}\n${summary}\n`;
}
