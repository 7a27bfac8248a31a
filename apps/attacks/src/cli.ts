/**
 * `pnpm attacks`: runs the attack catalogue against every backend × mechanism, prints the
 * matrix, writes it as JSON, exits 1 if any outcome differs from the catalogue.
 *
 *   --out <path>        where to write the JSON (default: <repo>/attacks-results/attacks.json)
 *   --json              print the JSON instead of the table
 *   --attack <id,...>   run only these attacks
 *   --combo <substr>    run only combos whose id contains one of these (comma-separated)
 *   --seed <n>          machine seed (default 1)
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CATALOGUE, defaultCombos } from './catalogue/index.js';
import { renderMatrix, runMatrix } from './matrix.js';

function parseArgs(argv: readonly string[]) {
  const opts: { out?: string; json: boolean; attacks?: string[]; combos?: string[]; seed: number } =
    {
      json: false,
      seed: 1,
    };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--json') opts.json = true;
    else if (a === '--out') opts.out = value();
    else if (a === '--attack') opts.attacks = value().split(',');
    else if (a === '--combo') opts.combos = value().split(',');
    else if (a === '--seed') opts.seed = Number(value());
    else if (a === '--help' || a === '-h') {
      console.log(
        'usage: pnpm attacks [--out path] [--json] [--attack id,...] [--combo substr,...] [--seed n]',
      );
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  if (!Number.isInteger(opts.seed) || opts.seed < 0)
    throw new Error('--seed must be a non-negative integer');
  return opts;
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const attacks = opts.attacks
    ? opts.attacks.map((id) => {
        const a = CATALOGUE.find((x) => x.id === id);
        if (!a)
          throw new Error(`unknown attack ${id} (known: ${CATALOGUE.map((x) => x.id).join(', ')})`);
        return a;
      })
    : CATALOGUE;
  const combos = defaultCombos().filter(
    (c) => !opts.combos || opts.combos.some((s) => c.id.includes(s)),
  );
  if (combos.length === 0) throw new Error('no combo matches --combo');
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

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(2);
  },
);
