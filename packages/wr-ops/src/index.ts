/**
 * `@prmem/wr-ops`: the write-rare operations of prmem — validated before any byte moves,
 * plain writes before protection, the machine's write-rare mechanism after, single-copy
 * atomic where the kernel's are. Every operation has a synchronous form and a `…Steps`
 * generator form that the interleaving scheduler of `@prmem/core` can drive.
 */
export * from './assign.js';
export * from './atomic.js';
export * from './batch.js';
export type { PlannedOp, WrRunResult } from './engine.js';
export * from './memops.js';
export * from './prlist.js';
export { checkTarget, type TargetOptions, type WrTarget } from './target.js';
export { isWrSize, type WrSize } from './values.js';
export * from './violation.js';
export { ListCorruptionError } from './listerror.js';
