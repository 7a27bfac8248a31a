/**
 * `pnpm fuzz`: long fuzzing campaigns with a time budget — model-based fuzzing on every
 * selected backend × mechanism, then interleaving exploration (seeded random schedules)
 * and differential programs across all of them — reporting how many commands and schedules
 * were tried, and the seed that replays a failure. Exits non-zero on any failure.
 *
 * `pnpm fuzz --help` lists the flags (src/cli-args.ts).
 */
import fc from 'fast-check';
import { EXIT_USAGE, parseFuzzArgs } from './cli-args.js';
import { type DiffCounters, differentialProperty } from './diff/differential.js';
import { exploreCombo, expectsWindow } from './explore/windows.js';
import { type Combo, injectedBugCombos, loadCombos, selectCombos } from './fuzz/combos.js';
import { DEFAULT_MAX_COMMANDS, formatFailure, runFuzz } from './fuzz/runner.js';
import { DEFAULT_MEMORY_MIB } from './fuzz/world.js';

const parsed = parseFuzzArgs(process.argv.slice(2), DEFAULT_MAX_COMMANDS, DEFAULT_MEMORY_MIB);
if (parsed.kind === 'exit') {
  process.stdout.write(parsed.stdout);
  process.stderr.write(parsed.stderr);
  process.exit(parsed.code);
}
const opts = parsed.opts;
const seconds = opts.seconds;
const seed = opts.seed ?? Math.floor(Math.random() * 2 ** 31);
const runs = opts.runs;
const maxCommands = opts.maxCommands;
const values = {
  backend: opts.backend,
  mechanism: opts.mechanism,
  'inject-bug': opts.injectBug,
  'no-shrink': !opts.shrink,
};
const all = [...(await loadCombos()), ...(values['inject-bug'] ? injectedBugCombos() : [])];
// --backend matches the backend's name, or the label's part before '/' (injected bugs).
const combos: Combo[] = selectCombos(all, undefined, values.mechanism).filter(
  (c) =>
    values.backend === undefined ||
    c.backend.name === values.backend ||
    c.label.split('/')[0] === values.backend,
);
if (combos.length === 0) {
  console.error(
    `prmem-fuzz: --backend/--mechanism match nothing (known: ${all.map((c) => c.label).join(', ')})`,
  );
  process.exit(EXIT_USAGE);
}

const budgetMs = seconds * 1000;
// Fuzzing gets 70% of the budget, exploration 20%, the differential runs 10%.
const fuzzMs = (budgetMs * 0.7) / combos.length;
const exploreMs = (budgetMs * 0.2) / combos.length;
const diffMs = budgetMs * 0.1;
let failures = 0;
let commands = 0;
let programs = 0;
let schedules = 0;
/** Commands per second of each combo's fuzzing (machines built, checks run: all in). */
const rates: { label: string; rate: number }[] = [];
const t0 = performance.now();
console.log(
  `prmem fuzz: seed ${seed}, ${seconds} s, ${combos.length} backend/mechanism(s), ${opts.memory} MiB machines`,
);

for (const combo of combos) {
  const cpu0 = process.cpuUsage();
  const r = await runFuzz(combo, {
    seed,
    numRuns: runs ?? 1_000_000,
    maxCommands,
    memoryMiB: opts.memory,
    timeLimitMs: runs === undefined ? fuzzMs : undefined,
    noShrink: values['no-shrink'],
  });
  commands += r.counters.commands;
  programs += r.counters.runs;
  const rate = r.ms > 0 ? Math.round((r.counters.commands * 1000) / r.ms) : 0;
  // On a shared host the wall rate says as much about the neighbours: CPU time says what
  // the fuzzer itself costs.
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const perCpu = cpuMs > 0 ? Math.round((r.counters.commands * 1000) / cpuMs) : 0;
  rates.push({ label: combo.label, rate });
  console.log(
    `  fuzz    ${combo.label.padEnd(34)} ${r.failed ? 'FAIL' : 'ok  '} ${String(r.counters.runs).padStart(6)} programs ${String(r.counters.commands).padStart(8)} commands ${(r.ms / 1000).toFixed(1)} s ${String(rate).padStart(6)} commands/s (${perCpu} per CPU-second)`,
  );
  if (r.failed) {
    failures++;
    console.log(formatFailure(r));
  }
}

for (const combo of combos) {
  const start = performance.now();
  let n = 0;
  let bad: string | undefined;
  // Rounds of seeded random schedules (and writes of both kinds) until the slice is used.
  for (let round = 0; performance.now() - start < exploreMs && !bad; round++) {
    for (const op of ['assign', 'memcpy', 'protect'] as const) {
      const s = seed + round;
      const r = exploreCombo(combo, {
        op,
        attempts: 2,
        reads: 2,
        mode: 'random',
        maxSchedules: 50,
        seed: s,
      });
      n += r.result.schedules;
      const windowOk = expectsWindow(combo) && op !== 'protect';
      const unexpected = r.result.violations.find(
        (v) => !(windowOk && v.violation?.message.endsWith('landed (writer in-session)')),
      );
      if (unexpected?.violation)
        bad = `${op}, explore seed ${s}: ${unexpected.violation.message}\n    schedule choices [${unexpected.choices.join(',')}]`;
    }
  }
  schedules += n;
  console.log(
    `  explore ${combo.label.padEnd(34)} ${bad ? 'FAIL' : 'ok  '} ${String(n).padStart(6)} schedules`,
  );
  if (bad) {
    failures++;
    console.log(`FAIL ${combo.label}: ${bad}`);
  }
}

if (combos.length > 1) {
  const counters: DiffCounters = { programs: 0, ops: 0 };
  const d = await fc.check(
    differentialProperty(combos, counters, { maxOps: maxCommands, memoryMiB: opts.memory }),
    {
      seed,
      numRuns: 1_000_000,
      interruptAfterTimeLimit: diffMs,
      markInterruptAsFailure: false,
      endOnFailure: true,
    },
  );
  commands += counters.ops;
  console.log(
    `  diff    ${'all selected'.padEnd(34)} ${d.failed ? 'FAIL' : 'ok  '} ${String(counters.programs).padStart(6)} programs ${String(counters.ops).padStart(8)} ops`,
  );
  if (d.failed) {
    failures++;
    console.log(`FAIL differential (seed ${d.seed}, run ${d.numRuns}): ${String(d.errorInstance)}`);
  }
}

const secs = (performance.now() - t0) / 1000;
const slowest = rates.reduce((a, b) => (b.rate < a.rate ? b : a), rates[0]);
console.log(
  `commands/s per backend/mechanism: ${rates.map((x) => `${x.label} ${x.rate}`).join(', ')}; slowest ${slowest.label} ${slowest.rate}`,
);
console.log(
  `${failures === 0 ? 'PASS' : 'FAIL'}: ${commands} commands in ${programs} fuzz programs, ${schedules} schedules, ${secs.toFixed(1)} s, seed ${seed}${failures ? `, ${failures} failure(s)` : ''}`,
);
process.exit(failures === 0 ? 0 : 1);
