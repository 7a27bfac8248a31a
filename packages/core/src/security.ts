import { canonical, PAGE_SIZE } from './addr.js';
import type { Cpu } from './cpu.js';
import * as costs from './costs.js';
import { StateError } from './errors.js';
import * as phys from './phys.js';
import type { PhysMem } from './phys.js';
import type { Counters } from './stats.js';
import type { Trace } from './trace.js';

// Bound in this module (docs/decisions.md §10): windows open and close on every wrAssign.
const { EV } = costs;
const { PG } = phys;

export interface SecurityEvent {
  /** What was refused or caught: 'wr-refused', 'stage2-fault', 'hvc-refused', ... */
  readonly kind: string;
  readonly cpu: number;
  readonly address: number;
  readonly size: number;
  /** The operation that was attempted (wrAssign, HVC write_64, plain write, ...). */
  readonly operation: string;
  readonly detail: string;
  /** The CPU's clock when it happened. */
  readonly cycles: number;
}

/**
 * Write-rare windows and security events: which CPUs have a window open (audits allow its
 * writable aliases there), the frames open windows pin (vfree and protect-to-ro refuse
 * them), and the record of everything refused or caught.
 * @internal a room of `Machine`, which is its public face
 */
export class SecurityRoom {
  /** Per CPU: open write-rare windows (audits allow a mechanism's aliases there). */
  private readonly windows: Int32Array;
  /** Per frame: open write-rare windows that target it (vfree and protect wait for them). */
  private readonly pins: Int32Array;
  constructor(
    cpus: number,
    private readonly phys: PhysMem,
    private readonly counters: Counters,
    private readonly trace: Trace,
  ) {
    this.windows = new Int32Array(cpus);
    this.pins = new Int32Array(phys.frameCount);
  }
  private readonly events: SecurityEvent[] = [];

  openWindow(cpu: Cpu): void {
    this.windows[cpu.id]++;
    this.counters.charge(cpu.id, EV.wrWindow);
    if (this.trace.enabled) this.trace.instant(cpu.id, 'window writable', 'wr');
  }

  closeWindow(cpu: Cpu): void {
    if (this.windows[cpu.id] > 0) this.windows[cpu.id]--;
    if (this.trace.enabled) this.trace.instant(cpu.id, 'window closed', 'wr');
  }

  windowOpen(cpu: Cpu | number): boolean {
    return this.windows[typeof cpu === 'number' ? cpu : cpu.id] > 0;
  }

  report(ev: Omit<SecurityEvent, 'cycles'>): void {
    const e = { ...ev, cycles: this.counters.clock[ev.cpu] ?? 0 };
    this.events.push(e);
    this.trace.instant(ev.cpu, `security: ${ev.kind}`, 'security', {
      address: canonical(ev.address),
      operation: ev.operation,
    });
  }

  list(): readonly SecurityEvent[] {
    return this.events.slice();
  }

  pinFrame(cpu: Cpu, pfn: number, areaId: number): void {
    const f = this.phys.frameFlags[pfn];
    if ((f & PG.PROT_WR) === 0 || this.phys.frameArea[pfn] !== areaId) {
      this.report({
        kind: 'stale-window',
        cpu: cpu.id,
        address: pfn * PAGE_SIZE,
        size: PAGE_SIZE,
        operation: 'write-rare window',
        detail: `frame ${pfn} is no longer the write-rare frame the window was built for`,
      });
      throw new StateError('ESTALE', `frame ${pfn} changed before the window opened`, { pfn });
    }
    this.pins[pfn]++;
  }

  unpinFrame(pfn: number): void {
    if (this.pins[pfn] > 0) this.pins[pfn]--;
  }

  framePins(pfn: number): number {
    return this.pins[pfn] ?? 0;
  }

  /** Refuses (with a security event) `op` on frames an open window is writing. */
  checkNotPinned(cpu: Cpu, pfns: readonly number[], op: string, va: number): void {
    for (const pfn of pfns) {
      if (this.pins[pfn] === 0) continue;
      this.report({
        kind: 'busy-refused',
        cpu: cpu.id,
        address: va,
        size: pfns.length * PAGE_SIZE,
        operation: op,
        detail: `frame ${pfn} is the target of an open write-rare window`,
      });
      throw new StateError('EBUSY', `${op}: a write-rare window is writing frame ${pfn}`, {
        pfn,
      });
    }
  }
}
