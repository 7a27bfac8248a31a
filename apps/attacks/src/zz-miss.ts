import { LeafMemo, Machine } from '@prmem/core';
import { loadCombos } from './fuzz/combos.js';
import { runFuzz } from './fuzz/runner.js';
const combos = await loadCombos();
const P = LeafMemo.prototype as unknown as { slotsOf: (...a: number[]) => unknown };
const so = P.slotsOf; let hit = 0, miss = 0, leaves = 0;
P.slotsOf = function (this: unknown, ...a: number[]) { const r = so.apply(this, a); if (r) hit++; else miss++; return r; };
for (const c of combos) {
  if (!['toy/toy-remap', 'x86-64/alias-mm', 'arm64/alias-mm', 'nommu-alias/direct-remap'].includes(c.label)) continue;
  hit = miss = leaves = 0; let audits = 0;
  const orig = Machine.prototype.auditProtections;
  Machine.prototype.auditProtections = function (this: Machine) { audits++; for (const mm of this.mms) this.arch.pt.forEachLeaf(mm, () => { leaves++; }, 0x30); return orig.call(this); };
  await runFuzz(c, { seed: 7, numRuns: 40, noShrink: true });
  Machine.prototype.auditProtections = orig;
  console.log(c.label.padEnd(28), 'per audit: table hits', (hit / audits).toFixed(1), 'misses', (miss / audits).toFixed(1), 'masked leaves (all mms)', (leaves / audits).toFixed(0));
}
