/** The bench as a library: plan, run, and write what `prmem-bench` writes. */
export * from './attacks.js';
export * from './main.js';
export * from './measure.js';
export * from './options.js';
export * from './results.js';
export { writeOutputs } from './report/write.js';
export { terminalTable } from './report/table.js';
export * from './runner.js';
export * from './variants.js';
export * from './workloads/index.js';
