/**
 * What must hold after every command: memory equals the model, no writable translation
 * of protected memory exists anywhere, and frames and areas are accounted for.
 */
import { PG } from '@prmem/core';
import { findPool, poolTable, pools } from '@prmem/pool';
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
  let free = 0;
  let reserved = 0;
  let quarantined = 0;
  let allocated = 0;
  let vmalloc = 0;
  let quarantinedAny = 0; // reserved ones included
  for (let pfn = 0; pfn < flags.length; pfn++) {
    const f = flags[pfn];
    if ((f & PG.RESERVED) !== 0) reserved++;
    else if ((f & PG.QUARANTINED) !== 0) quarantined++;
    else if ((f & PG.ALLOCATED) !== 0) allocated++;
    else if (f === 0) free++;
    else throw new FuzzFailure(`frame ${pfn} has flags 0x${f.toString(16)} but is not allocated`);
    if ((f & PG.VMALLOC) !== 0) vmalloc++;
    if ((f & PG.QUARANTINED) !== 0) quarantinedAny++;
  }
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
  let areaPages = 0;
  for (const area of live) {
    areaPages += area.pfns.length;
    for (const pfn of area.pfns)
      if (m.phys.frameArea[pfn] !== area.id || (flags[pfn] & PG.VMALLOC) === 0)
        throw new FuzzFailure(`frame ${pfn} of ${area.name} does not point back at it`);
    if (area === table) continue;
    const owner = realPools.find((p) => p.ownerId === area.owner);
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
      if (ra.freed || !live.includes(ra))
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
