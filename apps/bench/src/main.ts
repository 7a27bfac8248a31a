/** `prmem-bench`: parses flags, runs the plan, writes the outputs. Returns the exit code. */
import { resolve } from 'node:path';
import { PrmemError } from '@prmem/core';
import { Command, CommanderError, Option } from 'commander';
import { AttacksFileError } from './attacks.js';
import {
  type CliFlags,
  BenchUsageError,
  DEFAULT_CPUS,
  QUICK_CPUS,
  FORMATS,
  resolveOptions,
  type ResolveDeps,
} from './options.js';
import { terminalTable, verdictTable } from './report/table.js';
import { writeOutputs } from './report/write.js';
import { type Progress, runBench } from './runner.js';
import { WORKLOAD_NAMES } from './workloads/index.js';
import { WorkloadModuleError } from './workloads/user.js';

export interface Io {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
  /** Draw a live progress bar (a TTY); otherwise print a line per workload. */
  readonly tty: boolean;
}

export const EXIT_OK = 0;
/** Some points failed; the outputs were still written. */
export const EXIT_FAILURES = 1;
/** A bad flag or config: nothing ran. */
export const EXIT_USAGE = 2;

function program(io: Io): Command {
  return new Command('prmem-bench')
    .description(
      'Runs write-rare workloads on every backend and mechanism of prmem; writes results.json, report.md, report.html',
    )
    .option(
      '--config <file>',
      'a prmem.config.json (arch, mechanism, cpus, seed, costs, clockGHz, …)',
    )
    .option(
      '--arch <names>',
      'backends to run, comma-separated (x86-64, arm64, arm64[thin], nommu-alias)',
    )
    .option('--mechanism <names>', 'mechanisms to run, comma-separated (alias-mm, hyp-assist, …)')
    .option(
      '--cpus <list>',
      `CPU counts to sweep (default ${DEFAULT_CPUS.join(',')}; with --quick ${QUICK_CPUS.join(',')})`,
    )
    .option(
      '--workload <names>',
      `workloads, comma-separated: ${WORKLOAD_NAMES.join(', ')}, or a module path (./my-workload.ts) that exports one`,
    )
    .option('--seed <n>', 'seed of every machine (default 1, or the config’s)')
    .option('--out <dir>', 'output directory', 'bench-results')
    .addOption(
      new Option('--format <fmt>', 'what to print at the end')
        .choices([...FORMATS])
        .default('table'),
    )
    .option('--trace', 'also write trace.json (Perfetto): one run per mechanism')
    .option('--quick', 'small sizes (CI, tests)')
    .option(
      '--attacks <file>',
      'the attack suite’s attacks.json (default: attacks-results/attacks.json if present, else the suite is run)',
    )
    .option(
      '--jobs <n>',
      'worker threads running points at once (default: the host’s available parallelism, at most 8; 1: serial)',
    )
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr, outputError: () => {} });
}

function makeProgress(io: Io): Progress {
  let total = 0;
  let done = 0;
  let last = '';
  const t0 = performance.now();
  return {
    start(n) {
      total = n;
      io.stderr(`prmem-bench: ${n} runs\n`);
    },
    tick(label) {
      done++;
      const head = label.split(' ×')[0];
      const pct = total ? Math.floor((done * 100) / total) : 100;
      const secs = ((performance.now() - t0) / 1000).toFixed(1);
      if (io.tty) {
        const width = 28;
        const fill = Math.round((pct * width) / 100);
        io.stderr(
          `\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct}% ${done}/${total} ${secs}s ${label}\u001b[K`,
        );
      } else if (head !== last || done === total) {
        io.stderr(`[${done}/${total} ${secs}s] ${label}\n`);
      }
      last = head;
    },
    stop() {
      if (io.tty) io.stderr('\n');
    },
    warn(msg) {
      io.stderr(`${io.tty ? '\n' : ''}warning: ${msg}\n`);
    },
  };
}

export async function main(
  argv: readonly string[],
  io: Io,
  deps: ResolveDeps = {},
): Promise<number> {
  const cmd = program(io);
  let flags: CliFlags;
  try {
    // `pnpm bench -- --quick` hands the script a literal `--` first (pnpm 10 passes it
    // through); it separates pnpm's flags from ours and is not an operand.
    const args = argv[0] === '--' ? argv.slice(1) : [...argv];
    cmd.parse(args, { from: 'user' });
    flags = cmd.opts<CliFlags>();
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return EXIT_OK;
      io.stderr(`prmem-bench: ${e.message.replace(/^error: /, '')}\n(see prmem-bench --help)\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
  let resolved: Awaited<ReturnType<typeof resolveOptions>>;
  try {
    resolved = await resolveOptions(flags, deps);
  } catch (e) {
    if (
      e instanceof BenchUsageError ||
      e instanceof PrmemError ||
      e instanceof AttacksFileError ||
      e instanceof WorkloadModuleError
    ) {
      io.stderr(`prmem-bench: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
  const { plan, out, format } = resolved;
  for (const s of plan.skipped) io.stderr(`note: skipping ${s.what}: ${s.reason}\n`);
  if (plan.poolMissing) io.stderr(`note: ${plan.poolMissing}: pool workloads are skipped\n`);
  let output: Awaited<ReturnType<typeof runBench>>;
  try {
    output = await runBench(plan, makeProgress(io));
  } catch (e) {
    if (e instanceof AttacksFileError) {
      io.stderr(`prmem-bench: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
  const files = await writeOutputs(output, out);
  const { results } = output;
  // The summary comes last, in one write, on the stream the tables went to: under turbo
  // or a pipe, stderr and stdout interleave, and a line written between them lands in
  // the middle of a table.
  const written = [files.results, files.markdown, files.html, files.trace]
    .filter((f): f is string => f !== undefined)
    .map((f) => `  ${resolve(f)}`);
  const summary = [
    verdictTable(results),
    `wrote (in ${(results.durationMs / 1000).toFixed(1)} s):`,
    ...written,
    '',
  ].join('\n');
  if (format === 'json') {
    io.stdout(`${JSON.stringify(results, null, 2)}\n`);
    io.stderr(summary);
  } else if (format === 'md') {
    io.stdout(files.markdownText);
    io.stderr(summary);
  } else io.stdout(`${terminalTable(results)}\n${summary}`);
  if (results.failures.length > 0) {
    io.stderr(
      `prmem-bench: ${results.failures.length} run(s) failed (listed above and in the report)\n`,
    );
    return EXIT_FAILURES;
  }
  return EXIT_OK;
}
