/**
 * Security properties come from the attack suite's results (`attacks.json`), never from
 * this package: a mechanism the suite has not measured is reported as not measured.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { type AttacksFile, attacksFileSchema, type SecurityInfo } from './results.js';
import type { Variant } from './variants.js';

export const NOT_MEASURED = 'not measured';
const ATTACK_SUITE = '@prmem/attacks';

export class AttacksFileError extends Error {
  readonly code = 'EATTACKS';
  constructor(
    readonly file: string,
    why: string,
  ) {
    super(`bad attacks file ${file}: ${why}`);
    this.name = 'AttacksFileError';
  }
}

/** The workspace root (the folder holding pnpm-workspace.yaml), if `from` is inside one. */
function workspaceRoot(from: string): string | undefined {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Where the suite's results are looked for when no --attacks file is given. */
export function defaultAttackPaths(cwd = process.cwd()): string[] {
  const out = [join(cwd, 'attacks.json'), join(cwd, 'attacks-results', 'attacks.json')];
  const root = workspaceRoot(cwd);
  if (root) {
    out.push(join(root, 'attacks-results', 'attacks.json'));
    out.push(join(root, 'apps', 'attacks', 'attacks-results', 'attacks.json'));
    out.push(join(root, 'packages', 'attacks', 'attacks-results', 'attacks.json'));
  }
  return [...new Set(out)];
}

export async function readAttacksFile(file: string): Promise<AttacksFile> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (e) {
    throw new AttacksFileError(file, (e as Error).message);
  }
  const r = attacksFileSchema.safeParse(json);
  if (!r.success)
    throw new AttacksFileError(
      file,
      r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    );
  return r.data;
}

/** Per variant, the suite's summary and outcomes for its arch × mechanism, or null. */
export function securityFor(
  file: AttacksFile | undefined,
  source: string | null,
  variants: readonly Variant[],
): SecurityInfo {
  const byVariant: SecurityInfo['byVariant'] = {};
  for (const v of variants) {
    // Security does not depend on a cost profile: arm64[kvm] and arm64[thin] share a combo.
    const combo = file?.combos.find((c) => c.backend === v.arch && c.mechanism === v.mechanism);
    if (!file || !combo) {
      byVariant[v.id] = null;
      continue;
    }
    const outcomes = file.results
      .filter((r) => r.combo === combo.id)
      .map(({ attack, outcome, detail }) =>
        detail ? { attack, outcome, detail } : { attack, outcome },
      );
    const p = file.properties[combo.id];
    const summary = p
      ? {
          arch: v.arch,
          mechanism: v.mechanism,
          windowVisibleToOtherCpus: p.windowVisibleToOtherCpus ?? null,
          writableAliasReachable: p.writableAliasReachable ?? null,
          survivesPageTableAttack: p.survivesPageTableAttack ?? null,
          windowOpensUnrelatedReadOnly: p.windowOpensUnrelatedReadOnly ?? null,
        }
      : null;
    byVariant[v.id] = summary || outcomes.length > 0 ? { summary, outcomes } : null;
  }
  const defs = file?.propertyDefinitions;
  const evidence = defs
    ? Object.fromEntries(
        SUMMARY_PROPERTIES.filter((k) => defs[k]).map((k) => [k, [...defs[k].attacks]]),
      )
    : undefined;
  return { source, byVariant, ...(evidence ? { evidence } : {}) };
}

/** The properties the report shows, in its order. */
export const SUMMARY_PROPERTIES = [
  'windowVisibleToOtherCpus',
  'writableAliasReachable',
  'survivesPageTableAttack',
  'windowOpensUnrelatedReadOnly',
] as const;

/** Whether `loadSecurity` will run the suite (no file given or found): it can start early. */
export function suiteNeeded(explicit: string | false | undefined): boolean {
  return explicit === undefined && !defaultAttackPaths().some((p) => existsSync(p));
}

/**
 * Runs the attack suite in this thread; its report as plain JSON data (what a file holds,
 * and what a worker thread can send back).
 */
export async function runAttackSuite(): Promise<unknown> {
  // Loaded by name at run time: the suite is an app of TypeScript sources with no build
  // for tsc -b to reference; its output is validated by the caller like a file would be.
  const mod = (await import(ATTACK_SUITE)) as { runMatrix?: () => Promise<unknown> };
  if (!mod.runMatrix) throw new Error(`${ATTACK_SUITE} exports no runMatrix`);
  return JSON.parse(JSON.stringify(await mod.runMatrix())) as unknown;
}

/**
 * Loads the suite's results: an explicit file must exist and be valid; otherwise the
 * first default location that exists is used; with none, the suite is run here and now
 * (a few seconds), so the report always states measured properties. `false` skips it
 * (tests): every mechanism is then "not measured".
 */
export async function loadSecurity(
  explicit: string | false | undefined,
  variants: readonly Variant[],
  warn: (msg: string) => void,
  runSuite: () => Promise<unknown> = runAttackSuite,
): Promise<SecurityInfo> {
  if (explicit === false) return securityFor(undefined, null, variants);
  if (explicit) {
    const file = resolve(explicit);
    if (!existsSync(file)) throw new AttacksFileError(file, 'no such file');
    return securityFor(await readAttacksFile(file), file, variants);
  }
  for (const p of defaultAttackPaths()) {
    if (!existsSync(p)) continue;
    try {
      return securityFor(await readAttacksFile(p), p, variants);
    } catch (e) {
      warn(`${(e as Error).message}; running the attack suite instead`);
      break;
    }
  }
  try {
    const report = attacksFileSchema.parse(await runSuite());
    return securityFor(report, 'attack suite, run by prmem-bench', variants);
  } catch (e) {
    warn(`could not run the attack suite (${(e as Error).message}): security not measured`);
    return securityFor(undefined, null, variants);
  }
}
