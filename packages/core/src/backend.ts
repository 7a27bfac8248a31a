/**
 * The backend contract: what an architecture package (`@prmem/arch-*`) supplies and what
 * the machine calls. Types only; the real implementations live in their packages.
 */
import type { CostTable, EventName } from './costs.js';
import type { Cpu } from './cpu.js';
import type { FaultRecord } from './fault.js';
import type { LeafMemo } from './leafmemo.js';
import type { Machine } from './machine.js';
import type { Mm, MmKind } from './mm.js';
import type { StepProgram } from './program.js';

/** Kernel protection levels, in the only order they may move: rw → wr → ro. */
export type ProtLevel = 'rw' | 'wr' | 'ro';
export const PROT_ORDER: Readonly<Record<ProtLevel, number>> = { rw: 0, wr: 1, ro: 2 };

/** The protection a caller asks of one mapping, architecture-neutral. */
export interface PteProt {
  readonly write: boolean;
  readonly exec: boolean;
  readonly global: boolean;
  readonly user?: boolean;
  /** Protection key (x86 PKS), 0 if none. */
  readonly pkey?: number;
}

/** Where things live in the kernel's virtual address space (48-bit VAs). */
export interface KernelLayout {
  /** Base of the direct (linear) map of all physical memory. */
  readonly directMap: number;
  readonly vmallocStart: number;
  readonly vmallocEnd: number;
  /**
   * The room for the pool ranges: the machine puts the write-rare range (`wrRangeMiB`)
   * at `wrStart` and the read-only pool range of the same size right after it, both
   * inside [wrStart, wrEnd). A machine's own `layout.wrEnd` is the write-rare range's end.
   */
  readonly wrStart: number;
  readonly wrEnd: number;
  /** Default `wrRangeMiB` (else 64, or half the room if less). */
  readonly wrDefaultMiB?: number;
  /** Base of the kernel image's static sections. */
  readonly imageStart: number;
  /** End of the user half (exclusive). */
  readonly userEnd: number;
  /** Names of the ranges, for ptdump markers: [start, name]. */
  readonly markers: readonly (readonly [number, string])[];
}

/**
 * The result of a walk, preallocated by the caller and reused: a TLB miss must not
 * allocate.
 */
export class WalkResult {
  /**
   * Input of `walk`: the VA to translate. It travels in this preallocated object, not as
   * an argument, because V8 boxes a non-Smi number (any kernel VA) passed to a call that
   * is not inlined — an allocation on every TLB miss.
   */
  va = 0;
  /** Physical address of the frame (page-aligned). */
  pa = 0;
  /** TLBF flags of the combined translation. */
  flags = 0;
  /** Level of the leaf (1 = PTE, 2 = PMD block, ...). */
  level = 0;
  /** Physical address of the leaf entry. */
  leafPa = 0;
  /** FAULT code of a structural failure (not present, stage 2), 0 if the walk succeeded. */
  fault = 0;
}

/**
 * The page-table format and walker of an architecture. These methods only read and
 * write entries; they count nothing: the caller charges `pteWrite` etc. on the CPU that
 * does the work.
 */
export interface PageTableOps {
  /** Number of levels of a full walk. */
  readonly levels: number;
  /** Maps one page, allocating intermediate tables. Returns the PTE writes it made. */
  map(mm: Mm, va: number, pa: number, prot: PteProt): number;
  /** Unmaps one page; returns false if it was not mapped. */
  unmap(mm: Mm, va: number): boolean;
  /** Changes the permissions of a mapped page; returns false if it is not mapped. */
  protect(mm: Mm, va: number, prot: PteProt): boolean;
  /** Software walk, as the kernel's `lookup_address`: no A/D updates, no TLB, no cost. */
  lookup(mm: Mm, va: number, out: WalkResult): boolean;
  /**
   * Hardware walk on a TLB miss for the VA in `out.va`: sets the accessed (and, for
   * writes, dirty) bits as the architecture does, fills `out`, returns a FAULT code (0:
   * translation found; the permission check is `ArchImpl.checkAccess`). It must not
   * allocate: keep VAs out of arguments of non-inlined helpers on this path.
   */
  walk(cpu: Cpu, mm: Mm, write: boolean, out: WalkResult): number;
  /**
   * Calls `fn` for every present leaf of the mm, in address order. With a nonzero
   * `frameMask` it may skip a leaf none of whose frames has a phys frame flag in the mask
   * (a hint for the audit, which reads the flags again: skipping is never required).
   * With a memo of that mask it may replay what an earlier walk of the same memo
   * delivered below a root entry of the same index and value (see `LeafMemo`).
   */
  forEachLeaf(
    mm: Mm,
    fn: (va: number, pa: number, flags: number, level: number) => void,
    frameMask?: number,
    memo?: LeafMemo,
  ): void;
  /** Physical frame numbers of the mm's own tables (the root and below). */
  tableFrames(mm: Mm): number[];
  /** Releases an mm's tables below the shared kernel half (not the root). */
  destroy?(mm: Mm): void;
  /**
   * Frees the table pages below the shared top level that map nothing in [start, end)
   * any more (after an unmap and its shootdown), clearing the entries that pointed to
   * them in every mm that shares them. Returns the frames freed.
   */
  pruneTables?(mm: Mm, start: number, end: number): number;
}

/** One step of a multi-step operation, named for traces and schedules. */
export type Step = string;
export type Steps<T = void> = Generator<Step, T, void>;

/** One write inside a write-rare window. Targets are validated before a window opens. */
export type WrOp =
  | { readonly kind: 'write'; readonly va: number; readonly data: Uint8Array }
  /**
   * A scalar store, `WRITE_ONCE` of a 1/2/4/8-byte integer: the value's low and high 32
   * bits as unsigned numbers (`hi` is 0 below 8 bytes), stored little-endian. Aligned, it
   * is one single-copy-atomic store; unaligned, a byte copy. Carrying the value as numbers
   * spares every write-rare assignment a byte array.
   */
  | {
      readonly kind: 'store';
      readonly va: number;
      readonly size: 1 | 2 | 4 | 8;
      readonly lo: number;
      readonly hi: number;
    }
  | { readonly kind: 'set'; readonly va: number; readonly value: number; readonly len: number }
  | {
      readonly kind: 'rmw';
      readonly va: number;
      readonly size: 1 | 2 | 4 | 8;
      readonly fn: (old: bigint) => bigint;
      /** Filled in by the mechanism: the value before the write. */
      old: bigint;
    };

/**
 * A write-rare mechanism: open a window on the current CPU, write, close. It is written
 * once, as a step program; core derives the scheduler's generator from it
 * (`sessionOf`, i.e. `stepsOf(program(...))`) and the straight-through run
 * (`runProgram`). A mechanism written as a generator takes part through
 * `generatorMechanism` / `generatorProgram`.
 */
export interface WriteRareMechanism {
  readonly name: string;
  /** One line a reader of a comparison table understands. */
  readonly summary: string;
  /** True if one window can serve many targets (wrBatch runs them together). */
  readonly batchable: boolean;
  /**
   * The session over `ops` on `cpu` as a step program: it validates every target before
   * it returns (a bad op throws here, before anything changes), opens a window covering
   * them, performs the ops and closes the window, one architectural step per `step()`,
   * and unwinds whatever is open on `abort()` after any step.
   */
  program(cpu: Cpu, ops: readonly WrOp[]): StepProgram;
}

/** What an architecture does, bound to one machine. */
export interface ArchImpl {
  readonly pt: PageTableOps;
  /** Creates an address space with a fresh root (the kernel half shared as the arch does). */
  createMm(kind: MmKind, name: string): Mm;
  /**
   * Builds the direct map of `frames` frames at layout.directMap in the kernel mm, as the
   * kernel does at boot (large pages where it uses them). Absent: one 4 KiB page per frame.
   */
  mapDirectMap?(mm: Mm, frames: number): void;
  /** Boot-time work after the kernel mm and direct map exist (wr_mm, stage 2, ...). */
  boot?(): void;
  /** A context switch on `cpu` (CR3 / TTBR0 write) with the architecture's flush rules. */
  switchMm(cpu: Cpu, mm: Mm): void;
  /** Drops one page's translation on the local CPU (INVLPG / TLBI VALE1). */
  flushLocalPage(cpu: Cpu, va: number): void;
  /** Shoots down [start, end) of kernel translations on every CPU (IPIs or TLBI …IS). */
  flushKernelRange(cpu: Cpu, start: number, end: number): Steps;
  /**
   * The access-time check of a cached translation: the permission bits and whatever
   * per-CPU state the architecture adds (CR0.WP, PKRS, ...). Returns a FAULT code.
   */
  checkAccess(cpu: Cpu, flags: number, access: number): number;
  /**
   * Changes the protection of kernel pages [start, end) — and of their direct-map alias —
   * to `level`, with whatever shootdown that needs. `level` 'rw' is only used to release
   * memory of a destroyed area.
   */
  setProtection(cpu: Cpu, start: number, end: number, level: ProtLevel): Steps;
  /**
   * The mm's tables as this architecture's kernel prints them (debugfs
   * kernel_page_tables); absent, machine.ptdump() uses the generic format.
   */
  ptdump?(mm: Mm): string;
  /** Whether a leaf mapping with these TLBF flags lets the kernel write (audits). */
  leafWritable?(mm: Mm, flags: number): boolean;
  /** The mechanisms this arch offers, by name. */
  mechanism(name: string): WriteRareMechanism;
  /** Frames of an mm's root table (default 1), freed when the mm is retired. */
  readonly rootFrames?: number;
  /** An owner handle was released: drop what the arch keeps per owner (a per-pool mm). */
  releaseOwner?(cpu: Cpu, owner: number): void;
  /** Mms whose writable mappings of write-rare frames are the mechanism's own aliases. */
  aliasMms?(): readonly Mm[];
  /**
   * Called before vmalloc maps frames at a new VA. An MMU that forbids aliases takes the
   * frames out of the direct map here (with the needed shootdown).
   */
  vmapFrames?(cpu: Cpu, pfns: readonly number[]): void;
  /** Called after vfree unmapped an area, before its frames are released. */
  vunmapFrames?(cpu: Cpu, pfns: readonly number[]): void;
  /**
   * False when `cpu` will drop its non-global entries tagged `asid` before it can use
   * them again (a lazily invalidated PCID: x86's tlb_gen). Audits skip such dead entries.
   */
  asidLive?(cpu: Cpu, asid: number): boolean;
  /** CPU state that makes protected memory writable (CR0.WP clear, PKRS open), for audits. */
  auditCpu?(cpu: Cpu, inWindow: boolean): string[];
  /** Called on every fault before it is raised (EL2 logging, ...). */
  onFault?(cpu: Cpu, va: number, access: number, code: number): void;
  /**
   * The fault as the hardware reports it (x86 error code and CR2, arm64 ESR/FAR/HPFAR),
   * attached to the PageFault and its trace event. Cold path: it may walk the tables again.
   */
  faultRecord?(cpu: Cpu, va: number, access: number, code: number): FaultRecord;
  /**
   * Data path for entries flagged SLOW_R/SLOW_W (a cache model); when absent, memory is
   * accessed directly.
   */
  memAccess?(cpu: Cpu, va: number, pa: number, bytes: Uint8Array, write: boolean): void;
}

/**
 * A named cost profile of a backend: the same model priced differently (arm64: which
 * hypervisor design sits at EL2). A profile changes costs only, never behaviour, so one
 * set of conformance results holds for every profile.
 */
export interface CostProfile {
  readonly name: string;
  /** One line: what the profile stands for. */
  readonly summary: string;
  readonly costs: CostTable;
  /** The backend's description under this profile (default: the backend's own). */
  readonly description?: string;
}

/** A backend: everything an `arch` config value may name. */
export interface Backend {
  /** The config name (`x86-64`, `arm64`, `nommu-alias`, or a third party's). */
  readonly name: string;
  readonly description: string;
  readonly layout: KernelLayout;
  /** How remote TLBs are invalidated. */
  readonly tlbMaintenance: 'ipi' | 'broadcast';
  readonly costs: CostTable;
  readonly mechanisms: readonly string[];
  readonly defaultMechanism: string;
  /**
   * Optional: the cost profiles a comparison should run (the bench runs each; `costs`
   * holds the backend's own). Apply one with `withProfile`.
   */
  readonly profiles?: readonly CostProfile[];
  /**
   * Optional: trace names of counted events as this architecture's instructions
   * (`mmSwitch: 'mov cr3'`, `localFlushPage: 'TLBI VALE1'`); core's `EVENT_LABELS` otherwise.
   */
  readonly traceLabels?: Partial<Record<EventName, string>>;
  /**
   * Binds the architecture to a machine under construction. Called before the kernel mm
   * exists: create it in `createMm('kernel', ...)`, and do boot work in `boot()`.
   */
  attach(machine: Machine): ArchImpl;
}

export function isBackend(v: unknown): v is Backend {
  if (typeof v !== 'object' || v === null) return false;
  const b = v as Partial<Backend>;
  return (
    typeof b.name === 'string' &&
    typeof b.attach === 'function' &&
    Array.isArray(b.mechanisms) &&
    typeof b.defaultMechanism === 'string' &&
    typeof b.layout === 'object'
  );
}
