import { Machine } from '@prmem/core';
import { PerformanceObserver } from 'node:perf_hooks';
const gcs: { start: number; dur: number; kind: number }[] = [];
new PerformanceObserver((l) => { for (const e of l.getEntries()) gcs.push({ start: e.startTime, dur: e.duration, kind: (e as unknown as { detail: { kind: number } }).detail?.kind }); }).observe({ entryTypes: ['gc'] });
import { loadCombos } from './fuzz/combos.js';
import { runFuzz } from './fuzz/runner.js';
const combos = await loadCombos();
const only = process.argv[2];
for (const c of combos) {
  if (only && !c.label.startsWith(only)) continue;
  const orig = Machine.prototype.auditProtections;
  await runFuzz(c, { seed: 7, numRuns: 40, noShrink: true });
  const ts: number[] = []; const spans: [number, number][] = []; const seen = new WeakMap<Machine, number>(); const idx: number[] = [];
  Machine.prototype.auditProtections = function (this: Machine) {
    const t0 = performance.now(); const r = orig.call(this); const t1 = performance.now();
    ts.push((t1 - t0) * 1000); spans.push([t0, t1]); const k = (seen.get(this) ?? 0) + 1; seen.set(this, k); idx.push(k);
    return r;
  };
  await runFuzz(c, { seed: 7, numRuns: 40, noShrink: true });
  Machine.prototype.auditProtections = orig;
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  const order = ts.map((t, i) => i).sort((a, b) => ts[b] - ts[a]).slice(0, 10);
  await new Promise((r) => setTimeout(r, 100));
  const slow = ts.map((t, i) => i).filter((i) => ts[i] > 1000);
  let gcIn = 0, gcMs = 0; for (const i of slow) { const [a, b] = spans[i]; const g = gcs.filter((x) => x.start < b && x.start + x.dur > a); if (g.length) gcIn++; gcMs += g.reduce((s, x) => s + x.dur, 0); }
  console.log('slow audits', slow.length, 'with a GC inside', gcIn, 'GC ms inside', gcMs.toFixed(0), 'slow audits ms', slow.reduce((s, i) => s + ts[i] / 1000, 0).toFixed(0));
  const firsts = ts.filter((t, i) => idx[i] === 1);
  console.log(c.label.padEnd(28), 'n', ts.length, 'median', med(ts).toFixed(1), 'mean', (sum(ts) / ts.length).toFixed(1), 'first-audit mean', (sum(firsts) / firsts.length).toFixed(0), 'top:', order.map((i) => `${ts[i].toFixed(0)}#${idx[i]}`).join(' '));
}
