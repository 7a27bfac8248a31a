/**
 * What must hold after every command: memory equals the model, no writable translation
 * of protected memory exists anywhere, and frames and areas are accounted for.
 */
import { PG } from '@prmem/core';
import { findPool, type Pool, poolTable, pools } from '@prmem/pool';
import type { Model } from './model.js';
import { FuzzFailure } from './execute.js';
import { diffBytes, type World } from './world.js';

export function checkInvariants(model: Model, w: World): void {
  const m = w.m;
  // 1. Data: every live allocation, straight from physical memory.
  for (let i = 0; i < model.allocs.length; i++) {
    const a = model.allocs[i];
    const va = w.allocs[i];
    const p = model.pools[a.pool];
    if (p.destroyed) {
      if (m.translate(va) >= 0)
        throw new FuzzFailure(`a${i} of destroyed pool p${a.pool} is still mapped`);
      if (findPool(m, va) !== undefined)
        throw new FuzzFailure(`findPool(a${i}) finds a destroyed pool`);
      continue;
    }
    const got = m.peek(va, a.bytes.length);
    if (!got) throw new FuzzFailure(`a${i} (p${a.pool}) is not mapped`);
    const d = diffBytes(got, a.bytes);
    if (d) throw new FuzzFailure(`memory of a${i} (p${a.pool}) differs from the model at ${d}`);
    if (findPool(m, va) !== w.pools[a.pool])
      throw new FuzzFailure(`findPool(a${i}) is not p${a.pool}`);
  }

  // 1b. No window, lock or pin outlives its operation, finished or abandoned.
  for (let i = 0; i < m.cpuCount; i++) {
    const c = m.cpu(i);
    if (m.windowOpen(c) || c.irqsDisabled || c.preemptCount !== 0 || c.mm.kind === 'wr')
      throw new FuzzFailure(`CPU${i} left in a window (IRQs off, preempt, or alias mm loaded)`);
  }
  for (const a of m.liveAreas)
    for (const pfn of a.pfns)
      if (m.framePins(pfn) !== 0) throw new FuzzFailure(`frame ${pfn} of ${a.name} still pinned`);

  // 2. No writable translation to protected memory (tables, TLBs, CPU state).
  const findings = m.auditProtections();
  if (findings.length > 0) {
    const f = findings[0];
    throw new FuzzFailure(
      `auditProtections: ${findings.length} finding(s), first: ${f.where}${f.cpu !== undefined ? ` CPU${f.cpu}` : ''}${f.mm ? ` ${f.mm}` : ''} va 0x${f.va.toString(16)} pa 0x${f.pa.toString(16)} (${f.level}): ${f.detail}`,
    );
  }

  // 3. Frames: free + allocated + quarantined + reserved = total; the free list agrees.
  const flags = m.phys.frameFlags;
  const bad = countFrames(flags, frames);
  if (bad >= 0)
    throw new FuzzFailure(
      `frame ${bad} has flags 0x${flags[bad].toString(16)} but is not allocated`,
    );
  const { free, reserved, quarantined, allocated, vmalloc, quarantinedAny } = frames;
  if (free + reserved + quarantined + allocated !== m.phys.frameCount)
    throw new FuzzFailure('frame accounting does not add up');
  if (free !== m.phys.freeFrames)
    throw new FuzzFailure(`${free} frames look free but the allocator has ${m.phys.freeFrames}`);
  const wantQ = w.quarantinedAtStart + model.quarantinedPages;
  if (quarantined !== wantQ || quarantinedAny !== wantQ)
    throw new FuzzFailure(`${quarantined} frames quarantined, model says ${wantQ}`);

  // 4. Areas: every live area is the pool table or an area of a live pool, and back.
  const live = m.liveAreas;
  const table = model.pools.length > 0 ? poolTable(m) : undefined;
  const realPools = pools(m);
  const byOwner = new Map(realPools.map((p) => [p.ownerId, p]));
  const liveSet = new Set(live);
  let areaPages = 0;
  for (const area of live) {
    areaPages += area.pfns.length;
    for (const pfn of area.pfns)
      if (m.phys.frameArea[pfn] !== area.id || (flags[pfn] & VMALLOC) === 0)
        throw new FuzzFailure(`frame ${pfn} of ${area.name} does not point back at it`);
    if (area === table) continue;
    // The first live pool with that owner id, as a search in order would find.
    const owner = firstByOwner(byOwner, realPools, area.owner);
    if (owner?.descriptorArea === area) continue;
    if (!owner?.areas.includes(area))
      throw new FuzzFailure(`live area ${area.name} belongs to no live pool`);
  }
  if (vmalloc !== areaPages)
    throw new FuzzFailure(`${vmalloc} vmalloc frames but live areas hold ${areaPages}`);
  const liveModel = model.pools.filter((p) => !p.destroyed).length;
  if (realPools.length !== liveModel)
    throw new FuzzFailure(`${realPools.length} live pools, model says ${liveModel}`);
  for (let pi = 0; pi < model.pools.length; pi++) {
    const mp = model.pools[pi];
    const rp = w.pools[pi];
    if (rp.destroyed !== mp.destroyed)
      throw new FuzzFailure(`p${pi}: destroyed is ${rp.destroyed}`);
    if (mp.destroyed) {
      if (rp.areas.some((a) => !a.freed)) throw new FuzzFailure(`destroyed p${pi} has a live area`);
      continue;
    }
    if (rp.areas.length !== mp.areas.length)
      throw new FuzzFailure(`p${pi} has ${rp.areas.length} areas, model says ${mp.areas.length}`);
    if (rp.level !== mp.level)
      throw new FuzzFailure(`p${pi} level ${rp.level}, model says ${mp.level}`);
    for (let ai = 0; ai < mp.areas.length; ai++) {
      const ra = rp.areas[ai];
      const ma = mp.areas[ai];
      if (ra.freed || !liveSet.has(ra))
        throw new FuzzFailure(`area #${ai} of live p${pi} is not live`);
      if (ra.pfns.length !== ma.pages)
        throw new FuzzFailure(`${ra.name} has ${ra.pfns.length} pages, model says ${ma.pages}`);
      if (
        ra.level !== ma.level ||
        m.protectionOf(ra.start) !== ma.level ||
        m.protectionOf(ra.end - 4096) !== ma.level
      )
        throw new FuzzFailure(
          `${ra.name} is ${ra.level} (frames ${m.protectionOf(ra.start)}), model says ${ma.level}`,
        );
    }
  }
}

/** `pools.find((p) => p.ownerId === id)`, by the map when ids are unique. */
function firstByOwner(byOwner: Map<number, Pool>, all: readonly Pool[], id: number) {
  return byOwner.size === all.length ? byOwner.get(id) : all.find((p) => p.ownerId === id);
}

/** Frames by state (a reserved frame counts as reserved, whatever else it is). */
export interface FrameCounts {
  free: number;
  reserved: number;
  quarantined: number;
  allocated: number;
  vmalloc: number;
  /** Quarantined, reserved ones included. */
  quarantinedAny: number;
}

const frames: FrameCounts = {
  free: 0,
  reserved: 0,
  quarantined: 0,
  allocated: 0,
  vmalloc: 0,
  quarantinedAny: 0,
};

// Bound here: the loop below runs over every frame after every command.
const { RESERVED, QUARANTINED, ALLOCATED, VMALLOC } = PG;

/** The flags as 32-bit words (two frames each), for the last flags array counted. */
let words: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

/**
 * Counts every frame into `out`; returns the first frame that has flags but is neither
 * allocated, reserved nor quarantined, or -1. Most frames are free: a word of the flags
 * that is zero counts two free frames at once.
 */
export function countFrames(flags: Uint16Array, out: FrameCounts): number {
  if (
    words.buffer !== flags.buffer ||
    words.byteOffset !== flags.byteOffset ||
    words.length !== flags.length >>> 1
  )
    words =
      flags.byteOffset % 4 === 0
        ? new Uint32Array(flags.buffer, flags.byteOffset, flags.length >>> 1)
        : new Uint32Array(0); // a view that is not word-aligned: one frame at a time
  const pairs = words.length;
  let free = 0;
  let reserved = 0;
  let quarantined = 0;
  let allocated = 0;
  let vmalloc = 0;
  let quarantinedAny = 0;
  for (let pfn = 0; pfn < flags.length; pfn++) {
    if ((pfn & 1) === 0 && pfn >>> 1 < pairs && words[pfn >>> 1] === 0) {
      free += 2;
      pfn++;
      continue;
    }
    const f = flags[pfn];
    if ((f & RESERVED) !== 0) reserved++;
    else if ((f & QUARANTINED) !== 0) quarantined++;
    else if ((f & ALLOCATED) !== 0) allocated++;
    else if (f === 0) free++;
    else return pfn;
    if ((f & VMALLOC) !== 0) vmalloc++;
    if ((f & QUARANTINED) !== 0) quarantinedAny++;
  }
  out.free = free;
  out.reserved = reserved;
  out.quarantined = quarantined;
  out.allocated = allocated;
  out.vmalloc = vmalloc;
  out.quarantinedAny = quarantinedAny;
  return -1;
}
