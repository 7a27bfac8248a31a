import { Machine } from '@prmem/core';
const orig = Machine.prototype.auditProtections;
const per = new WeakMap<Machine, number>();
let calls = 0, machines = 0, t = 0;
Machine.prototype.auditProtections = function (this: Machine) {
  calls++; const k = per.get(this) ?? 0; if (k === 0) machines++; per.set(this, k + 1);
  const t0 = performance.now(); const r = orig.call(this); t += performance.now() - t0; return r;
};
const t0 = performance.now();
process.on('exit', () => console.error(`audits ${calls} machines ${machines} audit ms ${t.toFixed(0)} of ${(performance.now() - t0).toFixed(0)}`));
await import('./fuzz-cli.js');
