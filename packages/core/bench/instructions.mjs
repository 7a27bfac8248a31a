// Instructions per TLB-hit read32 and per plain Uint32Array read, counted with cachegrind
// under `node --predictable` (deterministic, so other load on the machine does not move
// it): each loop runs at two call counts and the difference is divided by the extra loads,
// which cancels start-up and compilation. Run: `pnpm --filter @prmem/core bench:instructions`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const loop = fileURLToPath(new URL('./hit-loop.ts', import.meta.url));
if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.log('valgrind is not installed: nothing counted (apt-get install valgrind)');
  process.exit(0);
}
const LOADS_PER_CALL = 1024;
const [LOW, HIGH] = [2000, 6000];

function instructions(calls, mode) {
  const args = ['--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null'];
  args.push(process.execPath, '--predictable', '--import', 'tsx', '--conditions=@prmem/source');
  args.push(loop, String(calls), mode);
  const r = spawnSync('valgrind', args, { encoding: 'utf8' });
  const m = /I\s+refs:\s+([\d,]+)/.exec(r.stderr);
  if (!m) throw new Error(`no instruction count from cachegrind:\n${r.stderr}`);
  return Number(m[1].replaceAll(',', ''));
}

const per = {};
for (const mode of ['sim', 'plain']) {
  const d = instructions(HIGH, mode) - instructions(LOW, mode);
  per[mode] = d / ((HIGH - LOW) * LOADS_PER_CALL);
}
console.log(`TLB-hit read32: ${per.sim.toFixed(1)} instructions per load`);
console.log(`Uint32Array read: ${per.plain.toFixed(1)} instructions per load`);
console.log(`ratio ${(per.sim / per.plain).toFixed(2)}x`);
