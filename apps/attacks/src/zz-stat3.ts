import { loadCombos } from './fuzz/combos.js';
import { createWorld } from './fuzz/world.js';
const combos = await loadCombos();
const c = combos.find((x) => x.label === (process.argv[2] ?? 'toy/toy-remap'))!;
const w = await createWorld(c, { cpus: 3 });
const m = w.m;
const t0 = performance.now(); let n = 0;
while (performance.now() - t0 < 3000) { m.auditProtections(); n++; }
console.log('audit µs', (3000e3 / n).toFixed(1));
