import { loadCombos } from './fuzz/combos.js';
import { createWorld } from './fuzz/world.js';
const combos = await loadCombos();
const c = combos.find((x) => x.label === (process.argv[2] ?? 'toy/toy-remap'))!;
const out: string[] = [];
for (let k = 0; k < 15; k++) {
  const w = await createWorld(c, { cpus: 3 });
  let t0 = performance.now();
  for (let i = 0; i < 30; i++) w.m.auditProtections();
  const first = (performance.now() - t0) / 30 * 1000;
  t0 = performance.now();
  for (let i = 0; i < 300; i++) w.m.auditProtections();
  const rest = (performance.now() - t0) / 300 * 1000;
  out.push(`${first.toFixed(0)}/${rest.toFixed(0)}`);
}
console.log(c.label, 'µs per audit, first 30 / next 300, per fresh machine:', out.join(' '));
