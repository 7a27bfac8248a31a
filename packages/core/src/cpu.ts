import * as addr from './addr.js';
import { checkRange, checkVa, fromCanonical, toCanonicalHi } from './addr.js';
import type { ArchImpl } from './backend.js';
import { WalkResult } from './backend.js';
import * as costs from './costs.js';
import { BadAddressError, InvalidArgumentError } from './errors.js';
import * as fault from './fault.js';
import { ACCESS_NAMES, FAULT_REASONS, formatFaultRecord, PageFault } from './fault.js';
import type { Machine } from './machine.js';
import type { Mm } from './mm.js';
import type { PhysMem } from './phys.js';
import type { Counters } from './stats.js';
import * as tlb from './tlb.js';
import { Tlb } from './tlb.js';

// Bound in this module: V8 folds a module's own constants, but loads an imported binding
// from its module cell at every use, and this is the hot path (docs/decisions.md §10).
const { PAGE_SIZE, VA_LIMIT } = addr;
const { EV } = costs;
const { ACC_READ, ACC_WRITE } = fault;
const { GLOBAL_TAG, TLBF } = tlb;

const SLOW = TLBF.SLOW_R | TLBF.SLOW_W;

/**
 * One CPU: its current mm and ASID, IRQ and preemption state, its TLB, and the kernel's
 * loads and stores through its MMU. The TLB-hit path of each access is QEMU's: the slot
 * from the page number (`Tlb.slot`, inline), `tag - pageBase` must be the global tag or
 * this CPU's ASID (tested in that order: kernel mappings, the common case, are global; an
 * empty slot's NaN is neither), the PA is the entry's int32 `pa | offset`. Everything else is the
 * slow path.
 */
export class Cpu {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare readonly id: number;
  declare private readonly machine: Machine;
  declare private readonly counters: Counters;
  declare readonly tlb: Tlb;
  /** The loaded address space. Change it only through `machine.switchMm`. */
  declare mm: Mm;
  /** The tag of the loaded context (PCID/ASID; 0 when tagging is off). */
  asid = 0;
  irqsDisabled = false;
  preemptCount = 0;
  /** Architecture registers that matter to the model (CR0.WP, PKRS, ...), owned by the arch. */
  readonly regs: Record<string, number> = {};
  /**
   * TLB hits, counted here so the hit path touches nothing else: stats() folds them into
   * `memAccess` and the clock (a Smi field: 7 instructions a hit, cheaper than a
   * Float64Array cell or a double field, measured with cachegrind).
   */
  hits = 0;
  /** TLBF flags of the last slow-path translation. */
  lastFlags = 0;

  declare private readonly u32: Uint32Array;
  declare private readonly bytes: Uint8Array;
  declare private readonly view: DataView;
  declare private readonly rtag: Float64Array;
  declare private readonly wtag: Float64Array;
  declare private readonly tpa: Int32Array;
  declare private readonly tmask: number;
  private readonly walkOut = new WalkResult();
  private arch!: ArchImpl;

  constructor(
    id: number,
    machine: Machine,
    phys: PhysMem,
    counters: Counters,
    tlbEntries: number,
    mm: Mm,
  ) {
    this.id = id;
    this.machine = machine;
    this.counters = counters;
    this.tlb = new Tlb(tlbEntries);
    this.u32 = phys.u32;
    this.bytes = phys.bytes;
    this.view = phys.view;
    this.rtag = this.tlb.rtag;
    this.wtag = this.tlb.wtag;
    this.tpa = this.tlb.pa;
    this.tmask = this.tlb.mask;
    this.mm = mm;
    this.asid = mm.asid;
  }

  /** @internal */
  bindArch(arch: ArchImpl): void {
    this.arch = arch;
  }

  // ---- loads -------------------------------------------------------------------------

  read8(va: number): number {
    const off = va & 0xfff;
    const idx = (va >>> 12) & this.tmask;
    const t = this.rtag[idx];
    const b = va - off;
    if (t === b + GLOBAL_TAG || t === b + this.asid) {
      this.hits++;
      return this.bytes[this.tpa[idx] | off];
    }
    this.xva = va;
    return this.loadSlow(1);
  }

  read16(va: number): number {
    const off = va & 0xfff;
    const idx = (va >>> 12) & this.tmask;
    const t = this.rtag[idx];
    const b = va - off;
    if ((t === b + GLOBAL_TAG || t === b + this.asid) && off <= 0xffe) {
      this.hits++;
      return this.view.getUint16(this.tpa[idx] | off, true);
    }
    this.xva = va;
    return this.loadSlow(2);
  }

  read32(va: number): number {
    // Alignment folded into the global compare: `va - o` is pageBase + (va & 3), and a
    // key past pageBase + GLOBAL_TAG names the next page, which lives in another slot.
    const o = va & 0xffc;
    const idx = (va >>> 12) & this.tmask;
    const t = this.rtag[idx];
    const b = va - o;
    if (t === b + GLOBAL_TAG || (t === b + this.asid && (va & 3) === 0)) {
      this.hits++;
      return this.u32[(this.tpa[idx] | o) >>> 2];
    }
    this.xva = va;
    return this.loadSlow(4);
  }

  /** A 64-bit load; single-copy atomic when naturally aligned. */
  read64(va: number): bigint {
    const lo = this.read32pair(va);
    return (BigInt(this.pairHi) << 32n) | BigInt(lo);
  }

  /** Reads a canonical kernel pointer and returns it as a 48-bit VA. */
  readPtr(va: number): number {
    const lo = this.read32pair(va);
    const p = fromCanonical(lo, this.pairHi);
    if (p < 0) throw new BadAddressError(va, 'the value stored there is not a canonical pointer');
    return p;
  }

  readBytes(va: number, len: number): Uint8Array {
    checkRange(va, len, true);
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const cur = va + done;
      const n = Math.min(len - done, PAGE_SIZE - (cur % PAGE_SIZE));
      const pa = this.translate(cur, ACC_READ);
      this.moveData(cur, pa, out.subarray(done, done + n), false);
      done += n;
    }
    return out;
  }

  // ---- stores ------------------------------------------------------------------------

  write8(va: number, v: number): void {
    if ((v & 0xff) !== v)
      throw new InvalidArgumentError('u8 value', v, 'not an integer in [0, 255]');
    const off = va & 0xfff;
    const idx = (va >>> 12) & this.tmask;
    const t = this.wtag[idx];
    const b = va - off;
    if (t === b + GLOBAL_TAG || t === b + this.asid) {
      this.hits++;
      this.bytes[this.tpa[idx] | off] = v;
      return;
    }
    this.xva = va;
    this.storeSlow(1, v & 0xff, 0);
  }

  write16(va: number, v: number): void {
    if ((v & 0xffff) !== v)
      throw new InvalidArgumentError('u16 value', v, 'not an integer in [0, 65535]');
    const off = va & 0xfff;
    const idx = (va >>> 12) & this.tmask;
    const t = this.wtag[idx];
    const b = va - off;
    if ((t === b + GLOBAL_TAG || t === b + this.asid) && off <= 0xffe) {
      this.hits++;
      this.view.setUint16(this.tpa[idx] | off, v, true);
      return;
    }
    this.xva = va;
    this.storeSlow(2, v & 0xffff, 0);
  }

  write32(va: number, v: number): void {
    if (v >>> 0 !== v && (v | 0) !== v)
      throw new InvalidArgumentError('u32 value', v, 'not a 32-bit integer');
    const o = va & 0xffc; // alignment folded into the global compare, as in read32
    const idx = (va >>> 12) & this.tmask;
    const t = this.wtag[idx];
    const b = va - o;
    if (t === b + GLOBAL_TAG || (t === b + this.asid && (va & 3) === 0)) {
      this.hits++;
      this.u32[(this.tpa[idx] | o) >>> 2] = v;
      return;
    }
    this.xva = va;
    this.storeSlow(4, v >>> 0, 0);
  }

  /** A 64-bit store; single-copy atomic when naturally aligned. */
  write64(va: number, v: bigint): void {
    if (typeof v !== 'bigint' || v < -(1n << 63n) || v >= 1n << 64n) {
      throw new InvalidArgumentError('u64 value', v, 'not a 64-bit bigint');
    }
    const u = BigInt.asUintN(64, v);
    this.write64parts(va, Number(u & 0xffffffffn), Number(u >> 32n));
  }

  /** A 64-bit store from two u32 halves (no BigInt); one step, never torn. */
  write64parts(va: number, lo: number, hi: number): void {
    // Both halves checked before either is stored: a bad half must not tear the store.
    if (lo >>> 0 !== lo || hi >>> 0 !== hi) badHalves(lo, hi);
    const o = va & 0xff8; // alignment folded into the global compare, as in read32
    const idx = (va >>> 12) & this.tmask;
    const t = this.wtag[idx];
    const b = va - o;
    if (t === b + GLOBAL_TAG || (t === b + this.asid && (va & 7) === 0)) {
      this.hits++;
      const w = (this.tpa[idx] | o) >>> 2;
      this.u32[w] = lo;
      this.u32[w + 1] = hi;
      return;
    }
    this.xva = va;
    this.storeSlow(8, lo >>> 0, hi >>> 0);
  }

  /** Stores a kernel pointer (a 48-bit VA) in its canonical 64-bit form. */
  writePtr(va: number, ptr: number): void {
    checkVa(ptr, 'pointer value');
    this.write64parts(va, ptr % 0x1_0000_0000, toCanonicalHi(ptr));
  }

  /** Copies `data` to `va`; every page is translated before any byte is written. */
  writeBytes(va: number, data: Uint8Array): void {
    checkRange(va, data.length, true);
    const len = data.length;
    if (len === 0) return;
    const first = this.translate(va, ACC_WRITE);
    const firstFlags = this.lastFlags;
    const pages = Math.ceil((len + (va % PAGE_SIZE)) / PAGE_SIZE);
    if (pages === 1) {
      this.moveDataFlags(va, first, data, true, firstFlags);
      return;
    }
    const pas = new Float64Array(pages);
    const fl = new Uint32Array(pages);
    pas[0] = first;
    fl[0] = firstFlags;
    let cur = va - (va % PAGE_SIZE) + PAGE_SIZE;
    for (let i = 1; i < pages; i++, cur += PAGE_SIZE) {
      pas[i] = this.translate(cur, ACC_WRITE);
      fl[i] = this.lastFlags;
    }
    let done = 0;
    for (let i = 0; i < pages; i++) {
      const at = va + done;
      const n = Math.min(len - done, PAGE_SIZE - (at % PAGE_SIZE));
      this.moveDataFlags(at, pas[i], data.subarray(done, done + n), true, fl[i]);
      done += n;
    }
  }

  // ---- the slow path -----------------------------------------------------------------

  private pairHi = 0;

  private read32pair(va: number): number {
    const o = va & 0xff8;
    const idx = (va >>> 12) & this.tmask;
    const t = this.rtag[idx];
    const b = va - o;
    if (t === b + GLOBAL_TAG || (t === b + this.asid && (va & 7) === 0)) {
      this.hits++;
      const w = (this.tpa[idx] | o) >>> 2;
      this.pairHi = this.u32[w + 1];
      return this.u32[w];
    }
    const buf = this.readBytes(va, 8);
    const dv = new DataView(buf.buffer);
    this.pairHi = dv.getUint32(4, true);
    return dv.getUint32(0, true);
  }

  /** The VA of the access on the slow path (a field, so no call boxes it). */
  private xva = 0;

  private loadSlow(size: number): number {
    const va = this.xva;
    if (Number.isInteger(va) && (va & 0xfff) + size <= PAGE_SIZE) {
      // Within one page: translate (walking on a miss) and load, allocating nothing.
      const pa = this.translateX(ACC_READ);
      if ((this.lastFlags & TLBF.SLOW_R) === 0 || !this.arch.memAccess) {
        return size === 1
          ? this.bytes[pa]
          : size === 2
            ? this.view.getUint16(pa, true)
            : this.view.getUint32(pa, true);
      }
    }
    const b = this.readBytes(va, size);
    if (size === 1) return b[0];
    const dv = new DataView(b.buffer);
    return size === 2 ? dv.getUint16(0, true) : dv.getUint32(0, true);
  }

  private storeSlow(size: number, lo: number, hi: number): void {
    const va = this.xva;
    if (Number.isInteger(va) && (va & 0xfff) + size <= PAGE_SIZE) {
      const pa = this.translateX(ACC_WRITE);
      if ((this.lastFlags & TLBF.SLOW_W) === 0 || !this.arch.memAccess) {
        if (size === 1) this.bytes[pa] = lo;
        else if (size === 2) this.view.setUint16(pa, lo, true);
        else {
          this.view.setUint32(pa, lo, true);
          if (size === 8) this.view.setUint32(pa + 4, hi, true);
        }
        return;
      }
    }
    checkRange(va, size);
    const b = new Uint8Array(size);
    const dv = new DataView(b.buffer);
    if (size === 1) b[0] = lo;
    else if (size === 2) dv.setUint16(0, lo, true);
    else {
      dv.setUint32(0, lo, true);
      if (size === 8) dv.setUint32(4, hi, true);
    }
    this.writeBytes(va, b);
  }

  private moveData(va: number, pa: number, buf: Uint8Array, write: boolean): void {
    this.moveDataFlags(va, pa, buf, write, this.lastFlags);
  }

  private moveDataFlags(
    va: number,
    pa: number,
    buf: Uint8Array,
    write: boolean,
    flags: number,
  ): void {
    if ((flags & SLOW) !== 0 && this.arch.memAccess) {
      this.arch.memAccess(this, va, pa, buf, write);
      return;
    }
    if (write) this.bytes.set(buf, pa);
    else buf.set(this.bytes.subarray(pa, pa + buf.length));
  }

  /**
   * Translates `va` for `access` (ACC_READ/WRITE/EXEC) the way the MMU does: the TLB,
   * then a walk that fills it; a refused access raises a PageFault after the kernel's
   * spurious-fault check (tables already allow it → flush locally, retry, count it).
   */
  translate(va: number, access: number): number {
    this.xva = va;
    return this.translateX(access);
  }

  /** `translate` for the VA in `this.xva`. */
  private translateX(access: number): number {
    const va = this.xva;
    if (!(va >= 0 && va < VA_LIMIT) || !Number.isInteger(va)) checkVa(va);
    const off = va & 0xfff; // exact: va is a non-negative integer below 2^48
    const base = va - off;
    const tlb = this.tlb;
    const arch = this.arch;
    const c = this.counters;
    for (let attempt = 0; ; attempt++) {
      const idx = (base >>> 12) & tlb.mask;
      const t = tlb.tag[idx];
      let flags = 0;
      let pa = -1;
      if (t === base + this.asid || t === base + GLOBAL_TAG) {
        flags = tlb.flags[idx];
        pa = tlb.pa[idx];
      } else {
        // A large page's translation is one entry of the large array, never 4 KiB copies.
        const li = tlb.lookupLarge(base, this.asid);
        if (li >= 0) {
          flags = tlb.lflags[li];
          pa = tlb.lpa[li] + (base % tlb.lspan[li]);
        }
      }
      if (pa >= 0) {
        const f = arch.checkAccess(this, flags, access);
        if (f === 0) {
          if (access !== ACC_WRITE || (flags & TLBF.D) !== 0) {
            this.hits++;
            this.lastFlags = flags;
            return pa + off;
          }
          // A write through a clean entry: the MMU walks again to set the dirty bit.
        } else {
          c.charge(this.id, EV.fault);
          if (attempt === 0 && this.isSpurious(va, access)) {
            // spurious_kernel_fault(): the tables already allow it; the entry was stale.
            c.charge(this.id, EV.spuriousFault);
            arch.flushLocalPage(this, base);
            this.machine.trace.instant(this.id, 'spurious fault', 'fault', { va });
            continue;
          }
          this.raise(va, access, f);
        }
      }
      c.charge(this.id, EV.tlbMiss);
      c.charge(this.id, EV.pageWalk);
      const w = this.walkOut;
      w.va = va;
      let f = arch.pt.walk(this, this.mm, access === ACC_WRITE, w);
      if (f === 0) f = arch.checkAccess(this, w.flags, access);
      if (f !== 0) {
        c.charge(this.id, EV.fault);
        this.raise(va, access, f);
      }
      if (w.level > 1) tlb.fillLarge(base, this.asid, w.pa, w.flags, w.level);
      else tlb.fill(base, this.asid, w.pa, w.flags);
      this.lastFlags = w.flags;
      return w.pa + off;
    }
  }

  /** Would the page tables, walked afresh, allow this access? */
  private isSpurious(va: number, access: number): boolean {
    const w = this.walkOut;
    if (!this.arch.pt.lookup(this.mm, va, w) || w.fault !== 0) return false;
    return this.arch.checkAccess(this, w.flags, access) === 0;
  }

  private raise(va: number, access: number, code: number): never {
    this.arch.onFault?.(this, va, access, code);
    const record = this.arch.faultRecord?.(this, va, access, code);
    this.machine.trace.instant(this.id, 'page fault', 'fault', {
      va,
      access: ACCESS_NAMES[access],
      reason: FAULT_REASONS[code],
      ...(record ? { hw: formatFaultRecord(record), record } : {}),
    });
    throw new PageFault(va, ACCESS_NAMES[access], this.id, FAULT_REASONS[code], record);
  }

  // ---- CPU state ---------------------------------------------------------------------

  localIrqDisable(): void {
    this.irqsDisabled = true;
    this.counters.charge(this.id, EV.irqToggle);
  }

  localIrqEnable(): void {
    this.irqsDisabled = false;
    this.counters.charge(this.id, EV.irqToggle);
  }

  /**
   * local_irq_save(): disables IRQs and returns whether they were already off, for
   * `localIrqRestore`. A window opened with IRQs off must leave them off.
   */
  localIrqSave(): boolean {
    const was = this.irqsDisabled;
    this.irqsDisabled = true;
    this.counters.charge(this.id, EV.irqToggle);
    return was;
  }

  /** local_irq_restore(): IRQs back to the state `localIrqSave` returned. */
  localIrqRestore(wereOff: boolean): void {
    this.irqsDisabled = wereOff === true;
    this.counters.charge(this.id, EV.irqToggle);
  }

  /** smp_mb(): a full barrier. Accesses here are sequentially consistent; it is costed. */
  smpMb(): void {
    this.counters.charge(this.id, EV.barrier);
  }

  /** The machine's counters, for code that charges events on this CPU. */
  get machineCounters(): Counters {
    return this.counters;
  }

  /** The machine this CPU belongs to. */
  get owner(): Machine {
    return this.machine;
  }

  /** The CPU's modeled clock, in cycles. */
  get cycles(): number {
    return this.counters.clock[this.id];
  }
}

function badHalves(lo: number, hi: number): never {
  const bad = lo >>> 0 !== lo ? lo : hi;
  throw new InvalidArgumentError(
    lo >>> 0 !== lo ? 'u64 low half' : 'u64 high half',
    bad,
    'must be an integer in [0, 2^32)',
  );
}
