/**
 * `pnpm attacks`: runs the attack catalogue against every backend × mechanism, prints the
 * matrix, writes it as JSON, exits 1 if any outcome differs from the catalogue.
 *
 * `pnpm attacks --help` lists the flags (src/cli-args.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultCombos } from './catalogue/default-combos.js';
import { CATALOGUE } from './catalogue/index.js';
import { EXIT_USAGE, parseAttacksArgs } from './cli-args.js';
import { renderMatrix, runMatrix } from './matrix.js';

async function main(): Promise<number> {
  const parsed = parseAttacksArgs(process.argv.slice(2));
  if (parsed.kind === 'exit') {
    process.stdout.write(parsed.stdout);
    process.stderr.write(parsed.stderr);
    return parsed.code;
  }
  const opts = parsed.opts;
  const attacks = opts.attacks
    ? opts.attacks.map((id) => {
        const a = CATALOGUE.find((x) => x.id === id);
        if (!a)
          throw new UsageError(
            `--attack: unknown attack "${id}" (known: ${CATALOGUE.map((x) => x.id).join(', ')})`,
          );
        return a;
      })
    : CATALOGUE;
  const combos = defaultCombos().filter(
    (c) => !opts.combos || opts.combos.some((s) => c.id.includes(s)),
  );
  if (combos.length === 0)
    throw new UsageError(
      `--combo: nothing matches ${opts.combos?.join(',')} (combos: ${defaultCombos()
        .map((c) => c.id)
        .join(', ')})`,
    );
  const total = attacks.length * combos.length;
  let done = 0;
  const report = await runMatrix({
    attacks,
    combos,
    seed: opts.seed,
    onResult: () => {
      done++;
      if (!opts.json && process.stderr.isTTY) process.stderr.write(`\r${done}/${total}`);
    },
  });
  if (!opts.json && process.stderr.isTTY) process.stderr.write('\r');
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const out = resolve(opts.out ?? resolve(root, 'attacks-results/attacks.json'));
  mkdirSync(dirname(out), { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(out, json);
  if (opts.json) process.stdout.write(json);
  else {
    process.stdout.write(renderMatrix(report, process.stdout.isTTY));
    for (const r of report.mismatches)
      console.log(
        `MISMATCH ${r.attack} on ${r.combo}: ${r.outcome}, expected ${r.expected} — ${r.detail}`,
      );
    console.log(`JSON: ${out}`);
  }
  return report.mismatches.length > 0 ? 1 : 0;
}

/** A bad flag value found after parsing (an unknown attack id, a combo filter matching nothing). */
class UsageError extends Error {}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`prmem-attacks: ${e.message}\n`);
      process.exit(EXIT_USAGE);
    }
    // Anything else is a bug in the suite: keep its stack.
    console.error(e);
    process.exit(EXIT_USAGE);
  },
);
