import { canonical, checkRange, PAGE_SIZE } from './addr.js';
import { PROT_ORDER, type ProtLevel, type Steps, WalkResult } from './backend.js';
import { BadAddressError, InvalidArgumentError, StateError } from './errors.js';
import type { Machine } from './machine.js';
import * as phys from './phys.js';
import { PG_PROTECTED } from './phys.js';
import type { SecurityRoom } from './security.js';
import type { ImageRoom } from './sections.js';
import type { AreaOwner, VmapArea } from './vmap.js';
import { areaState, VM } from './vmap.js';
import type { VmallocRoom } from './vmalloc.js';

const { PG } = phys;

/**
 * Protection: the level of every frame (rw → wr → ro, never back, never past the ceiling
 * of the memory behind it), owned areas protected whole by their owner only, and the
 * arch's `setProtection` (direct-map alias included) undone in the model if it refuses.
 * @internal a room of `Machine`, which is its public face
 */
export class ProtectionRoom {
  private readonly scratch = new WalkResult();

  constructor(
    private readonly m: Machine,
    private readonly image: ImageRoom,
    private readonly areas: VmallocRoom,
    private readonly security: SecurityRoom,
  ) {}

  *protectSteps(
    start: number,
    len: number,
    level: ProtLevel,
    cpu: number,
    owner?: AreaOwner,
  ): Steps {
    checkRange(start, len);
    if (start % PAGE_SIZE !== 0 || len % PAGE_SIZE !== 0 || len === 0) {
      throw new InvalidArgumentError('range', start, 'protection works on whole pages');
    }
    if (level !== 'wr' && level !== 'ro')
      throw new InvalidArgumentError('level', level, "must be 'wr' or 'ro'");
    const c = this.m.cpu(cpu);
    const { arch, kernelMm, phys: mem } = this.m;
    const pfns: number[] = [];
    const w = this.scratch;
    let area: VmapArea | undefined;
    for (let va = start; va < start + len; va += PAGE_SIZE) {
      if (!arch.pt.lookup(kernelMm, va, w) || w.fault !== 0)
        throw new BadAddressError(va, 'not mapped in the kernel');
      const pfn = w.pa / PAGE_SIZE;
      const cur = this.frameLevel(pfn);
      if (PROT_ORDER[level] < PROT_ORDER[cur]) {
        throw new StateError(
          'EPROTDOWNGRADE',
          `cannot move ${canonical(va)} from ${cur} to ${level}`,
          { va, from: cur, to: level },
        );
      }
      // The memory's ceiling, found through the frame: the same page reached through the
      // direct map has the same ceiling as through its area.
      const a = this.areas.areaOfFrame(pfn);
      const ceiling = a ? a.ceiling : this.image.frameCeiling(pfn);
      if (PROT_ORDER[level] > PROT_ORDER[ceiling]) {
        this.security.report({
          kind: 'ceiling-refused',
          cpu: c.id,
          address: va,
          size: len,
          operation: `protect ${level}`,
          detail: `the memory at ${canonical(va)} may never be more restrictive than ${ceiling}`,
        });
        throw new StateError(
          'ECEILING',
          `cannot move ${canonical(va)} to ${level}: its ceiling is ${ceiling}`,
          { va, level, ceiling },
        );
      }
      if (a && this.areas.isOwned(a)) {
        this.areas.checkOwner(c, a, owner, `protect ${level}`);
        if (a !== area && (a.start !== start || a.size !== len)) {
          throw new InvalidArgumentError(
            'range',
            start,
            `${a.name} is owned: it is protected whole, [${canonical(a.start)}, ${canonical(a.end)})`,
          );
        }
      }
      area ??= a;
      pfns.push(pfn);
    }
    if (level === 'ro') this.security.checkNotPinned(c, pfns, `protect ${level}`, start);
    const saved = pfns.map((pfn) => mem.frameFlags[pfn]);
    for (const pfn of pfns) {
      mem.frameFlags[pfn] =
        (mem.frameFlags[pfn] & ~PG_PROTECTED) | (level === 'ro' ? PG.PROT_RO : PG.PROT_WR);
    }
    const whole = area !== undefined && area.start === start && area.size === len;
    const areaLevel = area?.level;
    const areaFlags = area?.flags;
    if (area && whole) {
      areaState.setLevel(area, level);
      if ((area.flags & VM.PMALLOC) !== 0)
        areaState.setFlags(area, area.flags | VM.PMALLOC_PROTECTED);
    }
    try {
      yield* arch.setProtection(c, start, start + len, level);
    } catch (e) {
      // The arch refused (e.g. a hypervisor that will not register the range) and changed
      // nothing: neither may we.
      pfns.forEach((pfn, i) => {
        mem.frameFlags[pfn] = saved[i];
      });
      if (area && areaLevel !== undefined && areaFlags !== undefined) {
        areaState.setLevel(area, areaLevel);
        areaState.setFlags(area, areaFlags);
      }
      throw e;
    }
  }

  /** The protection level of the frame behind a kernel VA, or undefined if unmapped. */
  protectionOf(va: number): ProtLevel | undefined {
    const w = this.scratch;
    if (!this.m.arch.pt.lookup(this.m.kernelMm, va, w) || w.fault !== 0) return undefined;
    return this.frameLevel(w.pa / PAGE_SIZE);
  }

  frameLevel(pfn: number): ProtLevel {
    const f = this.m.phys.frameFlags[pfn];
    return (f & PG.PROT_RO) !== 0 ? 'ro' : (f & PG.PROT_WR) !== 0 ? 'wr' : 'rw';
  }
}
