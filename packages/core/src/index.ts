// @prmem/core's public API, named one by one: a module's helpers stay its own unless they
// are listed here (the machine's rooms, trace plumbing and mutable area state are not).
export {
  canonical,
  checkRange,
  checkSize,
  checkVa,
  fromCanonical,
  PAGE_MASK,
  PAGE_SHIFT,
  PAGE_SIZE,
  pageDown,
  pageUp,
  toCanonicalHi,
  VA_BITS,
  VA_LIMIT,
} from './addr.js';
export { type AuditFinding, auditProtections } from './audit.js';
export { LeafMemo } from './leafmemo.js';
export {
  type ArchImpl,
  type Backend,
  type CostProfile,
  isBackend,
  type KernelLayout,
  type PageTableOps,
  PROT_ORDER,
  type ProtLevel,
  type PteProt,
  type Step,
  type Steps,
  WalkResult,
  type WriteRareMechanism,
  type WrOp,
} from './backend.js';
export {
  BackendNotFoundError,
  BUILTIN_ARCHES,
  CONFIG_FIELDS,
  checkPoolLayout,
  configSchema,
  createMachine,
  type PrmemConfig,
  parseConfig,
  resolveBackend,
} from './config.js';
export {
  type CostFigure,
  type CostTable,
  costVector,
  EV,
  EVENT_COUNT,
  EVENT_NAMES,
  type EventName,
} from './costs.js';
export {
  type AliasPlan,
  AliasWindow,
  type AliasWindowArch,
  type AliasWindowLabels,
} from './aliaswindow.js';
export { Cpu } from './cpu.js';
export { drain } from './drain.js';
export {
  BadAddressError,
  BadSizeError,
  ConfigError,
  formatConfigValue,
  formatUnknown,
  InvalidArgumentError,
  OutOfMemoryError,
  PrmemError,
  type PrmemErrorCode,
  type PrmemErrorCodes,
  StateError,
  UnknownMechanismError,
} from './errors.js';
export {
  ACC_EXEC,
  ACC_READ,
  ACC_WRITE,
  type Access,
  ACCESS_NAMES,
  type Arm64FaultRecord,
  type ArmV6FaultRecord,
  FAULT,
  FAULT_REASONS,
  type FaultReason,
  type FaultRecord,
  formatFaultRecord,
  PageFault,
  PF_ERR,
  type X86FaultRecord,
} from './fault.js';
export { Machine, type MachineOptions } from './machine.js';
export { loadMm, Mm, type MmKind } from './mm.js';
export { CpuMutex, deadlock, WAIT_STEP } from './mutex.js';
export { type FrameUse, PG, PG_PROTECTED, PhysMem } from './phys.js';
export { type MachineLayout, poolLayout } from './pool-layout.js';
export {
  GeneratorProgram,
  generatorMechanism,
  generatorProgram,
  programMechanism,
  runProgram,
  type StepProgram,
  sessionOf,
  stepsOf,
} from './program.js';
export { type PtdumpOptions, ptdump } from './ptdump.js';
export { mulberry32 } from './rng.js';
export {
  type Check,
  type ExploreOptions,
  type ExploreResult,
  explore,
  type Program,
  type RunResult,
  replay,
  runInterleaved,
  runSchedule,
  type StepRecord,
} from './scheduler.js';
export { SECTIONS, type Section, type SectionName, type StaticSymbol } from './sections.js';
export type { SecurityEvent } from './security.js';
export { IpiRound } from './smp.js';
export {
  Counters,
  type CpuStats,
  type EventCounts,
  emptyCounts,
  type MachineStats,
} from './stats.js';
export {
  GLOBAL_TAG,
  LARGE_TLB_ENTRIES,
  MAX_ASID,
  Tlb,
  type TlbEntry,
  TLBF,
  TLBF_PKEY_MASK,
  TLBF_PKEY_SHIFT,
} from './tlb.js';
export { type ChromeTrace, EL2_TID, EVENT_LABELS, Trace, type TraceEvent } from './trace.js';
export { VaSpace } from './vaspace.js';
export {
  type BackendCombo,
  type BackendDiscovery,
  backendCombos,
  type CombosOptions,
  type LoadedBackend,
  loadBuiltinBackends,
  type PackageLoader,
  withProfile,
} from './registry.js';
export {
  RESERVE_GRANULE,
  VaReserve,
  type VfreeOptions,
  type VmallocOptions,
} from './vmalloc.js';
export { AreaOwner, VM, VmapArea } from './vmap.js';
export {
  BracketWindow,
  ProgramSequence,
  type WindowBracket,
  type WindowHold,
} from './window.js';
export {
  applyOpPhys,
  applyOpsPhys,
  applyOpsViaCpu,
  fromBig,
  OpWriter,
  opLength,
  opsSpan,
  storeBytes,
  toBig,
} from './wrapply.js';
export {
  checkWrOp,
  frameAreas,
  isWrFrame,
  pinWrFrames,
  refuseWrTarget,
  resolveOneWrFrame,
  resolveWrFrames,
  unpinWrFrames,
  WrTargetError,
  type WrTargetReason,
} from './wrtarget.js';
