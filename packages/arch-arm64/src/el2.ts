import {
  applyOpPhys,
  type Cpu,
  EV,
  fromBig,
  type Machine,
  type Mm,
  PAGE_SIZE,
  opLength,
  type Step,
  type Steps,
  VA_LIMIT,
  WalkResult,
  type WrOp,
} from '@prmem/core';
import { HVC_REFUSAL, HypercallRefused, type HvcRefusalCode } from './errors.js';
import { KERNEL_HALF } from './layout.js';
import type { Stage1 } from './pagetable.js';
import { S2AP_RO, S2AP_RW, S2P, Stage2 } from './stage2.js';

/** Registration levels, HKIP-style: read-only, or read-only with writes mediated by EL2. */
export type HvcLevel = 'ro' | 'rowm';
const RANK: Readonly<Record<HvcLevel, number>> = { rowm: 0, ro: 1 };

export type AtomicSize = 1 | 2 | 4 | 8;
type RmwOp = Extract<WrOp, { kind: 'rmw' }>;

/**
 * The hypercalls EL2 offers the kernel (HKIP's interface in shape; the function names are
 * this model's). `reclaimable` mirrors HKIP's *_RECL pool types: only such ranges may be
 * unregistered. `rmw` carries a wr-ops read-modify-write closure; it stands for HKIP's
 * xchg/cmpxchg/add when the caller cannot say which.
 */
export type HvcCall =
  | {
      readonly fn: 'register_ro' | 'register_rowm';
      readonly start: number;
      readonly size: number;
      readonly reclaimable?: boolean;
    }
  | { readonly fn: 'unregister'; readonly start: number; readonly size: number }
  | { readonly fn: 'write'; readonly dst: number; readonly data: Uint8Array }
  | {
      readonly fn: 'write_8' | 'write_16' | 'write_32' | 'write_64';
      readonly dst: number;
      readonly value: bigint;
    }
  | { readonly fn: 'set'; readonly dst: number; readonly value: number; readonly len: number }
  | { readonly fn: 'clear'; readonly dst: number; readonly len: number }
  | {
      readonly fn: 'xchg' | 'add';
      readonly dst: number;
      readonly size: AtomicSize;
      readonly value: bigint;
    }
  | {
      readonly fn: 'cmpxchg';
      readonly dst: number;
      readonly size: AtomicSize;
      readonly expected: bigint;
      readonly value: bigint;
    }
  | { readonly fn: 'rmw'; readonly op: RmwOp };

export type HvcName = HvcCall['fn'];

/** One range EL2 protects: kernel VAs, the frames they mapped at registration, the level. */
export interface Registration {
  readonly start: number;
  readonly end: number;
  readonly level: HvcLevel;
  readonly reclaimable: boolean;
  readonly pfns: readonly number[];
}

interface Reg {
  start: number;
  end: number;
  level: HvcLevel;
  reclaimable: boolean;
  pfns: number[];
}

const WRITE_SIZES: Readonly<Record<string, AtomicSize>> = {
  write_8: 1,
  write_16: 2,
  write_32: 4,
  write_64: 8,
};

/**
 * The EL2 model: owns stage 2, keeps the list of registered ranges and their levels, and
 * performs write-mediated writes for the kernel. It knows nothing of kernel data beyond
 * ranges and levels. Every refusal is a typed error and a security event; nothing is
 * written. Each HVC runs as one scheduler step (EL2 holds its lock throughout).
 */
export class El2 {
  readonly stage2: Stage2;
  private readonly regs: Reg[] = [];
  private readonly frameReg: (Reg | undefined)[];
  private readonly w = new WalkResult();
  /** The target pages' PAs of the write being checked (reused: one write at a time at EL2). */
  private readonly pas: number[] = [];

  constructor(
    private readonly m: Machine,
    private readonly pt: Stage1,
    private readonly kernelMm: () => Mm,
  ) {
    this.stage2 = new Stage2(m.phys);
    this.frameReg = new Array(m.phys.frameCount).fill(undefined);
  }

  /** A snapshot of the registered ranges, in address order. */
  registrations(): Registration[] {
    return this.regs.map((r) => ({ ...r, pfns: r.pfns.slice() })).sort((a, b) => a.start - b.start);
  }

  /** The registration covering a kernel VA, if any. */
  registrationOf(va: number): Registration | undefined {
    const r = this.regs.find((x) => va >= x.start && va < x.end);
    return r ? { ...r, pfns: r.pfns.slice() } : undefined;
  }

  /** Issues one hypercall synchronously; atomics return the old value. */
  hvc(cpu: Cpu, call: HvcCall): bigint | undefined {
    const fn: unknown = typeof call === 'object' && call !== null ? call.fn : undefined;
    this.m.trace.hvcEnter(cpu.id, String(fn));
    this.m.counters.charge(cpu.id, EV.hypercall);
    if (typeof fn !== 'string')
      this.refuse(
        cpu,
        String(fn),
        undefined,
        undefined,
        HVC_REFUSAL.BAD_ARGUMENT,
        'not a hypercall',
      );
    let result: bigint | undefined;
    switch (call.fn) {
      case 'register_ro':
      case 'register_rowm':
        this.register(cpu, call.fn, call.start, call.size, call.reclaimable === true);
        break;
      case 'unregister':
        this.unregister(cpu, call.start, call.size);
        break;
      default: {
        const op = this.toOp(cpu, call);
        this.writeChecked(cpu, call.fn, op);
        if (op.kind === 'rmw') result = op.old;
      }
    }
    this.m.trace.hvcExit(cpu.id);
    return result;
  }

  /** Issues one hypercall as a scheduler step (EL2 runs it whole: one step). */
  *call(cpu: Cpu, call: HvcCall): Steps<bigint | undefined> {
    const result = this.hvc(cpu, call);
    yield hvcLabel(call.fn);
    return result;
  }

  /**
   * The write hypercall `fn` for a kernel's write-rare op, with no call object to decode:
   * what `hvc(cpu, hvcFor(op))` does — the same counters, trace, checks and write —
   * without the bytes and bigint the call's public form carries. `fn` must be the one
   * `hvcName(op)` gives (the caller's side of the ABI).
   */
  writeOp(cpu: Cpu, fn: HvcName, op: WrOp): Step {
    this.m.trace.hvcEnter(cpu.id, fn);
    this.m.counters.charge(cpu.id, EV.hypercall);
    this.checkOp(cpu, fn, op);
    this.writeChecked(cpu, fn, op);
    this.m.trace.hvcExit(cpu.id);
    return hvcLabel(fn);
  }

  /** The checks `toOp` makes of the call that carries `op` as hypercall `fn`. */
  private checkOp(cpu: Cpu, fn: HvcName, op: WrOp): void {
    const size = WRITE_SIZES[fn];
    if (size !== undefined) {
      const n = op.kind === 'store' ? op.size : op.kind === 'write' ? op.data?.length : -1;
      if (n !== size) this.badOp(cpu, fn, op, 'not a write of its size');
      this.checkAtomic(cpu, fn, op.va, size);
      return;
    }
    if (fn === 'write') {
      if (op.kind === 'write' && !(op.data instanceof Uint8Array))
        this.badOp(cpu, fn, op, 'data must be a Uint8Array');
      if (op.kind !== 'write' && op.kind !== 'store') this.badOp(cpu, fn, op, 'not a write');
    } else if (fn === 'set' || fn === 'clear') {
      if (op.kind !== 'set' || (fn === 'clear') !== (op.value === 0))
        this.badOp(cpu, fn, op, 'not a fill');
      if (!Number.isInteger(op.value) || op.value < 0 || op.value > 255)
        this.badOp(cpu, fn, op, 'value must be a byte');
    } else if (fn === 'rmw') {
      if (op.kind !== 'rmw') this.badOp(cpu, fn, op, 'op must be an rmw WrOp');
      this.checkAtomic(cpu, 'rmw', op.va, op.size);
    } else this.badOp(cpu, fn, op, 'not a write hypercall');
  }

  private badOp(cpu: Cpu, fn: string, op: WrOp, why: string): never {
    return this.refuse(cpu, fn, op.va, undefined, HVC_REFUSAL.BAD_ARGUMENT, why);
  }

  /** Checks the target against the registrations and stage 1, then writes physical memory. */
  private writeChecked(cpu: Cpu, fn: string, op: WrOp): void {
    const n = this.checkTarget(cpu, fn, op.va, opLength(op));
    applyOpPhys(this.m, cpu, op, this.pas, n);
  }

  // ---- registration ------------------------------------------------------------------

  private register(cpu: Cpu, fn: HvcName, start: number, size: number, reclaimable: boolean) {
    const level: HvcLevel = fn === 'register_ro' ? 'ro' : 'rowm';
    const pfns = this.checkRegion(cpu, fn, start, size);
    const end = start + size;
    const exact = this.regs.find((r) => r.start === start && r.end === end);
    if (exact) {
      if (RANK[level] < RANK[exact.level] || (reclaimable && !exact.reclaimable)) {
        this.refuse(
          cpu,
          fn,
          start,
          size,
          HVC_REFUSAL.LESS_RESTRICTIVE,
          `range is registered ${exact.level}${exact.reclaimable ? '' : ' (permanent)'}; protection only moves toward more restrictive`,
        );
      }
      if (pfns.some((p, i) => p !== exact.pfns[i]))
        this.refuse(
          cpu,
          fn,
          start,
          size,
          HVC_REFUSAL.REMAPPED,
          'stage 1 maps the range to other frames than at registration',
        );
      exact.level = level;
      exact.reclaimable = exact.reclaimable && reclaimable;
      return;
    }
    if (this.regs.some((r) => r.start < end && start < r.end))
      this.refuse(cpu, fn, start, size, HVC_REFUSAL.OVERLAP, 'overlaps a registered range');
    const seen = new Set<number>();
    for (const pfn of pfns) {
      if (this.frameReg[pfn] !== undefined || seen.has(pfn))
        this.refuse(
          cpu,
          fn,
          start,
          size,
          HVC_REFUSAL.OVERLAP,
          `frame 0x${pfn.toString(16)} is already registered`,
        );
      seen.add(pfn);
    }
    const reg: Reg = { start, end, level, reclaimable, pfns };
    this.regs.push(reg);
    for (const pfn of pfns) {
      this.frameReg[pfn] = reg;
      this.stage2.setAccess(pfn * PAGE_SIZE, S2AP_RO);
    }
    this.m.counters.charge(cpu.id, EV.pteWrite, pfns.length);
    this.invalidate(cpu, pfns.length);
  }

  private unregister(cpu: Cpu, start: number, size: number) {
    const fn = 'unregister';
    this.checkArgs(cpu, fn, start, size);
    const end = start + size;
    const i = this.regs.findIndex((r) => r.start === start && r.end === end);
    if (i < 0) {
      const overlaps = this.regs.some((r) => r.start < end && start < r.end);
      this.refuse(
        cpu,
        fn,
        start,
        size,
        overlaps ? HVC_REFUSAL.OVERLAP : HVC_REFUSAL.UNREGISTERED,
        overlaps ? 'does not match a registered range exactly' : 'nothing registered there',
      );
    }
    const reg = this.regs[i];
    if (!reg.reclaimable)
      this.refuse(
        cpu,
        fn,
        start,
        size,
        HVC_REFUSAL.LESS_RESTRICTIVE,
        'range was registered permanent (not reclaimable)',
      );
    // Released memory is scrubbed before it becomes writable: release can erase protected
    // data, never modify it in place.
    for (const pfn of reg.pfns) {
      this.m.phys.bytes.fill(0, pfn * PAGE_SIZE, (pfn + 1) * PAGE_SIZE);
      this.frameReg[pfn] = undefined;
      this.stage2.setAccess(pfn * PAGE_SIZE, S2AP_RW);
    }
    this.regs.splice(i, 1);
    this.m.counters.charge(cpu.id, EV.pteWrite, reg.pfns.length);
    this.invalidate(cpu, reg.pfns.length);
  }

  /** TLBI IPAS2E1IS per page, DSB, then TLBI VMALLE1IS (combined entries are tagged by VA), DSB. */
  private invalidate(cpu: Cpu, pages: number) {
    // The model's TLB holds only combined stage-1+2 entries: no stage-2-only entry to drop.
    this.m.broadcastTlbi(cpu, 'TLBI IPAS2E1IS', () => {});
    if (pages > 1) this.m.counters.charge(cpu.id, EV.tlbiBroadcast, pages - 1);
    this.m.broadcastTlbi(cpu, 'TLBI VMALLE1IS', (t) => {
      t.tlb.flushAll();
    });
  }

  private checkArgs(cpu: Cpu, fn: HvcName, start: unknown, size: unknown): asserts start is number {
    if (typeof start !== 'number' || !Number.isInteger(start) || start < 0 || start >= VA_LIMIT)
      this.refuse(cpu, fn, start, size, HVC_REFUSAL.BAD_ARGUMENT, 'start is not a virtual address');
    if (typeof size !== 'number' || !Number.isInteger(size) || size <= 0)
      this.refuse(
        cpu,
        fn,
        start,
        size,
        HVC_REFUSAL.BAD_ARGUMENT,
        'size must be a positive integer',
      );
    if (size > Number.MAX_SAFE_INTEGER || start + size > VA_LIMIT)
      this.refuse(
        cpu,
        fn,
        start,
        size,
        HVC_REFUSAL.OVERFLOW,
        'range runs past the 48-bit VA space',
      );
    if (start % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0)
      this.refuse(cpu, fn, start, size, HVC_REFUSAL.BAD_ARGUMENT, 'ranges are whole pages');
    if (start < KERNEL_HALF)
      this.refuse(cpu, fn, start, size, HVC_REFUSAL.BAD_ARGUMENT, 'not a kernel (TTBR1) address');
  }

  /** Checks a range to register and returns the frames stage 1 maps it to now. */
  private checkRegion(cpu: Cpu, fn: HvcName, start: number, size: number): number[] {
    this.checkArgs(cpu, fn, start, size);
    const pfns: number[] = [];
    for (let va = start; va < start + size; va += PAGE_SIZE) {
      const ok = this.pt.lookup(this.kernelMm(), va, this.w) && this.w.fault === 0;
      if (!ok)
        this.refuse(
          cpu,
          fn,
          start,
          size,
          HVC_REFUSAL.NOT_MAPPED,
          `0x${va.toString(16)} is not mapped`,
        );
      pfns.push(this.w.pa / PAGE_SIZE);
    }
    return pfns;
  }

  // ---- mediated writes ---------------------------------------------------------------

  private toOp(cpu: Cpu, c: HvcCall): WrOp {
    const bad = (why: string): never =>
      this.refuse(
        cpu,
        String((c as { fn?: unknown }).fn),
        (c as { dst?: unknown }).dst,
        undefined,
        HVC_REFUSAL.BAD_ARGUMENT,
        why,
      );
    switch (c.fn) {
      case 'write':
        if (!(c.data instanceof Uint8Array)) bad('data must be a Uint8Array');
        return { kind: 'write', va: c.dst, data: c.data.slice() };
      case 'write_8':
      case 'write_16':
      case 'write_32':
      case 'write_64': {
        const size = WRITE_SIZES[c.fn];
        if (typeof c.value !== 'bigint') bad('value must be a bigint');
        this.checkAtomic(cpu, c.fn, c.dst, size);
        return { kind: 'write', va: c.dst, data: fromBig(c.value, size) };
      }
      case 'set':
        if (!Number.isInteger(c.value) || c.value < 0 || c.value > 255) bad('value must be a byte');
        return { kind: 'set', va: c.dst, value: c.value, len: c.len };
      case 'clear':
        return { kind: 'set', va: c.dst, value: 0, len: c.len };
      case 'xchg':
      case 'add':
      case 'cmpxchg': {
        if (typeof c.value !== 'bigint') bad('value must be a bigint');
        this.checkAtomic(cpu, c.fn, c.dst, c.size);
        return { kind: 'rmw', va: c.dst, size: c.size, fn: atomicFn(c), old: 0n };
      }
      case 'rmw':
        if (typeof c.op !== 'object' || c.op === null || c.op.kind !== 'rmw')
          bad('op must be an rmw WrOp');
        this.checkAtomic(cpu, 'rmw', c.op.va, c.op.size);
        return c.op;
      default:
        return bad('unknown hypercall');
    }
  }

  private checkAtomic(cpu: Cpu, fn: string, dst: number, size: number) {
    if (size !== 1 && size !== 2 && size !== 4 && size !== 8)
      this.refuse(cpu, fn, dst, size, HVC_REFUSAL.BAD_ARGUMENT, 'atomic size must be 1, 2, 4 or 8');
    if (typeof dst === 'number' && dst % size !== 0)
      this.refuse(
        cpu,
        fn,
        dst,
        size,
        HVC_REFUSAL.BAD_ARGUMENT,
        'atomic target must be naturally aligned',
      );
  }

  /**
   * The whole target must lie in ONE registered write-mediated range, and stage 1 must
   * still map each page to the frame registered for it. Puts each page's PA in `pas`
   * and returns how many there are.
   */
  private checkTarget(cpu: Cpu, fn: string, dst: unknown, len: unknown): number {
    if (typeof dst !== 'number' || !Number.isInteger(dst) || dst < 0 || dst >= VA_LIMIT)
      this.refuse(cpu, fn, dst, len, HVC_REFUSAL.BAD_ARGUMENT, 'target is not a virtual address');
    if (typeof len !== 'number' || !Number.isInteger(len) || len <= 0)
      this.refuse(cpu, fn, dst, len, HVC_REFUSAL.BAD_ARGUMENT, 'size must be a positive integer');
    if (len > Number.MAX_SAFE_INTEGER || dst + len > VA_LIMIT)
      this.refuse(cpu, fn, dst, len, HVC_REFUSAL.OVERFLOW, 'target runs past the 48-bit VA space');
    const end = dst + len;
    // The registrations the target touches: counted, not collected (this runs per write).
    let r: Reg | undefined;
    let hits = 0;
    for (const x of this.regs)
      if (x.start < end && dst < x.end) {
        hits++;
        r = x;
      }
    if (hits >= 2)
      this.refuse(
        cpu,
        fn,
        dst,
        len,
        HVC_REFUSAL.SPANS_RANGES,
        `target spans ${hits} registered ranges`,
      );
    if (r === undefined)
      this.refuse(
        cpu,
        fn,
        dst,
        len,
        HVC_REFUSAL.UNREGISTERED,
        'target is not in a registered range',
      );
    if (r.level === 'ro')
      this.refuse(cpu, fn, dst, len, HVC_REFUSAL.READONLY, 'target is in a read-only range');
    if (dst < r.start || end > r.end)
      this.refuse(
        cpu,
        fn,
        dst,
        len,
        HVC_REFUSAL.UNREGISTERED,
        'target runs out of its registered range',
      );
    const pas = this.pas;
    let n = 0;
    for (let va = dst - (dst % PAGE_SIZE); va < end; va += PAGE_SIZE) {
      // EL2's software walk of the kernel's stage 1, then its own stage 2.
      if (!this.pt.lookup(this.kernelMm(), va, this.w) || this.w.fault !== 0)
        this.refuse(
          cpu,
          fn,
          dst,
          len,
          HVC_REFUSAL.NOT_MAPPED,
          `0x${va.toString(16)} is not mapped`,
        );
      const ipa = this.w.pa;
      if (ipa / PAGE_SIZE !== r.pfns[(va - r.start) / PAGE_SIZE])
        this.refuse(
          cpu,
          fn,
          dst,
          len,
          HVC_REFUSAL.REMAPPED,
          `stage 1 maps 0x${va.toString(16)} to another frame than registered`,
        );
      if ((this.stage2.permOf(ipa) & S2P.R) === 0)
        this.refuse(cpu, fn, dst, len, HVC_REFUSAL.NOT_MAPPED, 'no stage-2 mapping');
      pas[n++] = this.stage2.lastPa - (this.stage2.lastPa % PAGE_SIZE);
    }
    return n;
  }

  private refuse(
    cpu: Cpu,
    fn: string,
    address: unknown,
    size: unknown,
    code: HvcRefusalCode,
    why: string,
  ): never {
    this.m.reportSecurityEvent({
      kind: 'hvc-refused',
      cpu: cpu.id,
      address: typeof address === 'number' && Number.isFinite(address) ? address : 0,
      size: typeof size === 'number' && Number.isFinite(size) ? size : 0,
      operation: `HVC ${fn}`,
      detail: `${code}: ${why}`,
    });
    throw new HypercallRefused(code, fn, address, size, why);
  }
}

/** The read-modify-write an atomic hypercall performs (old value read unsigned). */
function atomicFn(
  c: Extract<HvcCall, { fn: 'xchg' | 'add' | 'cmpxchg' }>,
): (old: bigint) => bigint {
  const v = c.value;
  if (c.fn !== 'cmpxchg') return c.fn === 'xchg' ? () => v : (old) => old + v;
  const expected = BigInt.asUintN(c.size * 8, c.expected);
  return (old) => (old === expected ? v : old);
}

/** Step labels of the hypercalls, made once. */
const HVC_LABELS: Record<string, string> = Object.create(null);
function hvcLabel(fn: string): string {
  let label = HVC_LABELS[fn];
  if (label === undefined) {
    label = `HVC ${fn}`;
    HVC_LABELS[fn] = label;
  }
  return label;
}

export { S2AP_RO, S2AP_RW };
