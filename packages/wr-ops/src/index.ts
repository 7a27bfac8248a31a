/**
 * `@prmem/wr-ops`: the write-rare operations of prmem — validated before any byte moves,
 * plain writes before protection, the machine's write-rare mechanism after, single-copy
 * atomic where the kernel's are. Every operation has a synchronous form and a `…Steps`
 * generator form that the interleaving scheduler of `@prmem/core` can drive. Exports are
 * named one by one: planning and validation helpers stay internal.
 */
export {
  wrAssign,
  wrAssignSteps,
  wrBool,
  wrInt,
  wrLong,
  wrPtr,
  wrPtrSteps,
  wrRcuAssignPointer,
  wrRcuAssignPointerSteps,
  wrU16,
  wrU32,
  wrU64,
  wrU8,
} from './assign.js';
export {
  wrAdd,
  wrAddSteps,
  wrCmpxchg,
  wrCmpxchgSteps,
  wrDec,
  wrDecSteps,
  wrInc,
  wrIncSteps,
  wrRmwSteps,
  wrSub,
  wrSubSteps,
  wrXchg,
  wrXchgSteps,
} from './atomic.js';
export {
  wrBatch,
  wrBatchSteps,
  type WrBatchWriter,
} from './batch.js';
export type { PlannedOp, WrRunResult } from './engine.js';
export {
  wrMemcpy,
  wrMemcpyFrom,
  wrMemcpyFromSteps,
  wrMemcpySteps,
  wrMemset,
  wrMemsetSteps,
} from './memops.js';
export {
  LIST_CORRUPT_EVENT,
  LIST_HEAD_SIZE,
  LIST_NEXT,
  LIST_POISON1,
  LIST_POISON2,
  LIST_PREV,
  POISON_POINTER_DELTA,
  prListAdd,
  prListAddRcu,
  prListAddRcuSteps,
  prListAddSteps,
  prListAddTail,
  prListAddTailRcu,
  prListAddTailRcuSteps,
  prListAddTailSteps,
  prListCheck,
  prListDel,
  prListDelInit,
  prListDelInitSteps,
  prListDelRcu,
  prListDelRcuSteps,
  prListDelSteps,
  prListEmpty,
  prListEntries,
  prListEntriesReverse,
  prListInit,
  prListInitSteps,
  prListMove,
  prListMoveSteps,
  prListMoveTail,
  prListMoveTailSteps,
  prListReplace,
  prListReplaceInit,
  prListReplaceInitSteps,
  prListReplaceRcu,
  prListReplaceRcuSteps,
  prListReplaceSteps,
  prListSplice,
  prListSpliceInit,
  prListSpliceInitRcu,
  prListSpliceInitRcuSteps,
  prListSpliceInitSteps,
  prListSpliceSteps,
  prListSpliceTail,
  prListSpliceTailInit,
  prListSpliceTailInitRcu,
  prListSpliceTailInitRcuSteps,
  prListSpliceTailInitSteps,
  prListSpliceTailSteps,
} from './prlist.js';
export { checkTarget, type TargetOptions, type WrTarget } from './target.js';
export { isWrSize, type WrSize } from './values.js';
export {
  WriteRareViolation,
  type WrRefusalReason,
} from './violation.js';
export { ListCorruptionError } from './listerror.js';
