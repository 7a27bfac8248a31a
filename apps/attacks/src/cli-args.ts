/**
 * Argument parsing of `pnpm attacks` and `pnpm fuzz`, with the same library as
 * prmem-bench (commander): a full `--help`, and a bad flag is one clear line and exit 2.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';

export const EXIT_USAGE = 2;

/** What a command line asks for: options to run with, or an exit (help, a bad flag). */
export type Parsed<T> =
  | { readonly kind: 'run'; readonly opts: T }
  | {
      readonly kind: 'exit';
      readonly code: number;
      readonly stdout: string;
      readonly stderr: string;
    };

/** An integer option value of at least `min`. */
export function intAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min)
      throw new InvalidArgumentError(`It must be an integer ≥ ${min}.`);
    return n;
  };
}

/** An integer option in [min, max]. */
export function intInRange(min: number, max: number): (value: string) => number {
  const atLeast = intAtLeast(min);
  return (value) => {
    const n = atLeast(value);
    if (n > max) throw new InvalidArgumentError(`It must be an integer from ${min} to ${max}.`);
    return n;
  };
}

/** A comma-separated list option. */
export function csv(value: string): string[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (items.length === 0) throw new InvalidArgumentError('It is empty.');
  return items;
}

function parse<T>(cmd: Command, argv: readonly string[], pick: (c: Command) => T): Parsed<T> {
  let stdout = '';
  let stderr = '';
  cmd
    .exitOverride()
    .allowExcessArguments(false)
    .configureOutput({
      writeOut: (s) => {
        stdout += s;
      },
      writeErr: (s) => {
        stderr += s;
      },
      outputError: () => {},
    });
  // `pnpm attacks -- --json` hands the script a literal `--` first (pnpm 10 passes it on).
  const args = argv[0] === '--' ? argv.slice(1) : [...argv];
  try {
    cmd.parse(args, { from: 'user' });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version')
      return { kind: 'exit', code: 0, stdout, stderr };
    const msg = e.message.replace(/^error: /, '').replace(/\n/g, ' ');
    return {
      kind: 'exit',
      code: EXIT_USAGE,
      stdout: '',
      stderr: `${cmd.name()}: ${msg} (see ${cmd.name()} --help)\n`,
    };
  }
  return { kind: 'run', opts: pick(cmd) };
}

export interface AttacksOptions {
  readonly out?: string;
  readonly json: boolean;
  readonly attacks?: readonly string[];
  readonly combos?: readonly string[];
  readonly seed: number;
}

export function parseAttacksArgs(argv: readonly string[]): Parsed<AttacksOptions> {
  const cmd = new Command('prmem-attacks')
    .description(
      'Runs the attack catalogue against every backend × mechanism, prints the matrix (attack × combo → outcome), writes it as JSON (prmem-attacks/1) and exits 1 if any outcome differs from what the catalogue documents.',
    )
    .option(
      '--out <path>',
      'where to write the JSON (default: <repo>/attacks-results/attacks.json)',
    )
    .option('--json', 'print the JSON instead of the table', false)
    .option('--attack <ids>', 'run only these attacks (comma-separated ids)', csv)
    .option(
      '--combo <substrings>',
      'run only combos whose id (backend/mechanism) contains one of these (comma-separated)',
      csv,
    )
    .option('--seed <n>', 'seed of every machine', intAtLeast(0), 1)
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      `
Exit codes: 0 every outcome as documented; 1 some outcome differs (listed as MISMATCH); 2 a bad flag.
Examples:
  pnpm attacks
  pnpm attacks --combo arm64/ --attack pte-rewrite-wr-pool,hvc-readonly
  pnpm attacks --json --out /tmp/attacks.json`,
    );
  return parse(cmd, argv, (c) => {
    const o = c.opts<{
      out?: string;
      json: boolean;
      attack?: string[];
      combo?: string[];
      seed: number;
    }>();
    return { out: o.out, json: o.json, attacks: o.attack, combos: o.combo, seed: o.seed };
  });
}

export interface FuzzOptions {
  readonly seconds: number;
  readonly seed?: number;
  readonly backend?: string;
  readonly mechanism?: string;
  readonly runs?: number;
  readonly maxCommands: number;
  /** Physical memory of each fuzz machine, MiB. */
  readonly memory: number;
  readonly shrink: boolean;
  readonly injectBug: boolean;
}

export function parseFuzzArgs(
  argv: readonly string[],
  defaultMaxCommands: number,
  defaultMemoryMiB = 4,
): Parsed<FuzzOptions> {
  const cmd = new Command('prmem-fuzz')
    .description(
      'A fuzzing campaign with a time budget: model-based fuzzing of every selected backend × mechanism (70 % of the budget), interleaving exploration with seeded random schedules (20 %), and differential programs across them (10 %). Prints the seed that replays a failure; exits 1 on any failure.',
    )
    .option('--seconds <n>', 'time budget of the whole campaign', intAtLeast(1), 60)
    .option('--seed <n>', 'seed (default: random, printed)', intAtLeast(0))
    .option('--backend <name>', 'only this backend (x86-64, arm64, nommu-alias, …)')
    .option('--mechanism <name>', 'only this mechanism (alias-mm, hyp-assist, direct-remap, …)')
    .option('--runs <n>', 'fuzz programs per combo instead of a time budget', intAtLeast(1))
    .option('--max-commands <n>', 'commands per fuzz program', intAtLeast(1), defaultMaxCommands)
    .option(
      '--memory <MiB>',
      'physical memory of each fuzz machine (4 to 2048)',
      intInRange(4, 2048),
      defaultMemoryMiB,
    )
    .option('--no-shrink', 'report a failure without shrinking it')
    .option(
      '--inject-bug',
      'also fuzz deliberately broken mechanisms (the fuzzer must catch them)',
      false,
    )
    .helpOption('-h, --help', 'show this help')
    .addHelpText(
      'after',
      `
Exit codes: 0 no failure; 1 a failure (with its seed); 2 a bad flag.
Examples:
  pnpm fuzz --seconds 60
  pnpm fuzz --backend arm64 --mechanism hyp-assist --seconds 30 --seed 42`,
    );
  return parse(cmd, argv, (c) => {
    const o = c.opts<{
      seconds: number;
      seed?: number;
      backend?: string;
      mechanism?: string;
      runs?: number;
      maxCommands: number;
      memory: number;
      shrink: boolean;
      injectBug: boolean;
    }>();
    return { ...o };
  });
}
