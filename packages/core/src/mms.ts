import { PAGE_SIZE } from './addr.js';
import type { Cpu } from './cpu.js';
import { InvalidArgumentError, OutOfMemoryError, StateError } from './errors.js';
import type { Machine } from './machine.js';
import { Mm, type MmKind } from './mm.js';
import { PG } from './phys.js';
import type { SecurityRoom } from './security.js';
import { MAX_ASID } from './tlb.js';

/**
 * The machine's mms: ids, ASIDs (a retired mm's tag is handed out again only after every
 * TLB dropped it), retirement, and the context switch's refusal of alias mms.
 * @internal a room of `Machine`, which is its public face
 */
export class MmRoom {
  /** Live mms by id (a retired mm leaves: ids are never reused). */
  private readonly mmMap = new Map<number, Mm>();
  private nextMmId = 0;
  /** ASIDs of retired mms, handed out again after a flush of every TLB. */
  private readonly freeAsids: number[] = [];
  private nextAsid = 1;

  constructor(
    private readonly m: Machine,
    private readonly cpus: readonly Cpu[],
    private readonly security: SecurityRoom,
  ) {}

  register(kind: MmKind, name: string, rootPa: number, asid?: number): Mm {
    if (
      asid === undefined &&
      kind !== 'kernel' &&
      this.nextAsid > MAX_ASID &&
      this.freeAsids.length === 0
    ) {
      // No rollover model: the 12-bit tag space (0xfff is the global tag) is exhausted.
      throw new OutOfMemoryError('ASIDs', 1, 0);
    }
    if (asid !== undefined && (!Number.isInteger(asid) || asid < 0 || asid > MAX_ASID)) {
      throw new InvalidArgumentError('asid', asid, `must be an integer in [0, ${MAX_ASID}]`);
    }
    let tag = asid ?? (kind === 'kernel' ? 0 : -1);
    if (tag < 0) {
      const reused = this.freeAsids.shift();
      if (reused === undefined) tag = this.nextAsid++;
      else {
        // A retired mm's ASID: its entries may still sit in any TLB (lazily dropped PCIDs
        // included), so every CPU drops them before the new mm can run with it.
        tag = reused;
        for (const c of this.cpus) c.tlb.flushAsid(tag);
      }
    }
    const mm = new Mm(this.nextMmId++, name, kind, rootPa, tag);
    this.mmMap.set(mm.id, mm);
    return mm;
  }

  get nextId(): number {
    return this.nextMmId;
  }

  retire(mm: Mm): void {
    if (!(mm instanceof Mm) || this.mmMap.get(mm.id) !== mm || mm.kind === 'kernel')
      throw new InvalidArgumentError('mm', mm, 'not a live non-kernel mm of this machine');
    for (const c of this.cpus)
      if (c.mm === mm)
        throw new StateError('EBUSY', `retireMm: CPU${c.id} runs ${mm.name}`, { cpu: c.id });
    const { arch, phys } = this.m;
    arch.pt.destroy?.(mm);
    const root = mm.rootPa / PAGE_SIZE;
    const rootFrames = arch.rootFrames ?? 1;
    for (let i = 0; i < rootFrames; i++) {
      phys.frameFlags[root + i] &= ~PG.PAGETABLE;
      phys.freeFrame(root + i);
    }
    this.mmMap.delete(mm.id);
    this.freeAsids.push(mm.asid);
  }

  get live(): readonly Mm[] {
    return [...this.mmMap.values()];
  }

  switchMm(cpu: Cpu, mm: Mm): void {
    if (!(mm instanceof Mm) || this.mmMap.get(mm.id) !== mm)
      throw new InvalidArgumentError('mm', mm, 'not an mm of this machine');
    if (mm.kind === 'wr') {
      this.security.report({
        kind: 'switch-refused',
        cpu: cpu.id,
        address: mm.rootPa,
        size: 0,
        operation: 'switchMm',
        detail: `${mm.name} is an alias mm: only its mechanism loads it`,
      });
      throw new StateError('EPERM', `switchMm: ${mm.name} is loaded only by its mechanism`, {
        mm: mm.name,
      });
    }
    this.m.arch.switchMm(cpu, mm);
  }
}
