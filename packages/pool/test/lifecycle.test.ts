/**
 * The memory life cycle (issue: reload the policy DB forever): create/alloc/protect/
 * destroy and SELinux-shaped reloads give back everything — frames, virtual ranges,
 * page-table pages, pool-table slots, mms and areas — on every backend and mechanism.
 */
import { type Machine, OutOfMemoryError, PG } from '@prmem/core';
import { wrAssign, wrRcuAssignPointer } from '@prmem/wr-ops';
import { describe, expect, it } from 'vitest';
import { createPool, findPool, type Pool, pools } from '../src/index.js';
import { COMBOS, machineFor } from './support/combos.js';

/** Everything that must come back, as numbers. */
function resources(m: Machine) {
  let tables = 0;
  for (let pfn = 0; pfn < m.phys.frameCount; pfn++)
    if ((m.phys.frameFlags[pfn] & PG.PAGETABLE) !== 0) tables++;
  const va = m.vaInUse();
  // arm64: the hypervisor's list of registered ranges (reclaimable pools unregister).
  const el2 = (m.arch as { el2?: { registrations(): readonly unknown[] } }).el2;
  return {
    freeFrames: m.phys.freeFrames,
    tablePages: tables,
    wrVa: va.wr,
    roVa: va.ro,
    vmallocVa: va.vmalloc,
    livePools: pools(m).length,
    liveAreas: m.liveAreas.length,
    mms: m.mms.length,
    reserves: m.liveReserves.length,
    owners: m.liveOwners,
    el2Registrations: el2 ? el2.registrations().length : 0,
  };
}

const CYCLES = 2000;
const RELOADS = 20;
/** A reduced policy DB: objects of 64..512 bytes in 64 KiB areas. */
const DB_OBJECTS = 600;

function buildDb(m: Machine, gen: number, objects = DB_OBJECTS): Pool {
  const db = createPool(m, {
    mode: gen % 2 === 0 ? 'wr' : 'ro',
    name: `policydb.${gen}`,
    refill: 64 * 1024,
    reclaimable: true,
  });
  const cpu = m.cpu(0);
  let prev = 0;
  for (let i = 0; i < objects; i++) {
    const va = db.alloc(64 + ((i * 37) % 57) * 8);
    cpu.write32(va, i);
    cpu.writePtr(va + 8, prev);
    prev = va;
  }
  cpu.write32(db.alloc(16), 0xdb); // the DB's head object, allocated last
  db.protect();
  return db;
}

describe.each(COMBOS)('memory life cycle on $label', (combo) => {
  it(`${CYCLES} create/alloc/protect/destroy cycles and ${RELOADS} reloads give everything back`, async () => {
    const m = await machineFor(combo, { memoryMiB: 16 });
    const root = m.defineStatic('.data..wr_after_init', 8, 'policydb_root');
    m.finishBoot();
    // The pool table is created once, for good, and the alias mm of the static root gets
    // its tables on the first write: measure after both exist.
    createPool(m, { mode: 'wr', name: 'warmup', reclaimable: true }).destroy();
    wrRcuAssignPointer(m.cpu(0), root, 0);
    const start = resources(m);
    const modes = ['wr', 'ro', 'auto-wr', 'start-wr'] as const;
    for (let i = 0; i < CYCLES; i++) {
      const p = createPool(m, { mode: modes[i % 4], name: `c${i % 97}`, reclaimable: true });
      p.alloc(64 + (i % 5) * 1500);
      p.alloc(100);
      p.protect();
      p.destroy();
    }
    expect(resources(m)).toEqual(start);
    // Reloads: the new DB is built while the old one lives, published, the old destroyed.
    let old = buildDb(m, 0);
    wrRcuAssignPointer(m.cpu(0), root, old.areas.at(-1)!.start);
    const live = resources(m);
    for (let gen = 1; gen <= RELOADS; gen++) {
      const next = buildDb(m, gen);
      wrRcuAssignPointer(m.cpu(0), root, next.areas.at(-1)!.start);
      old.destroy();
      old = next;
      expect(findPool(m, m.cpu(1).readPtr(root))).toBe(old);
    }
    // Same shape of DB as the first: everything is as it was with one DB live.
    expect(resources(m)).toEqual(RELOADS % 2 === 0 ? live : resources(m));
    old.destroy();
    expect(resources(m)).toEqual(start);
    expect(m.auditProtections()).toEqual([]);
  });
});

describe.each(COMBOS)('a failed reload on $label', (combo) => {
  it('ENOMEM midway: the half-built pool is destroyed, the old DB stays intact, protected and reachable', async () => {
    const m = await machineFor(combo, { memoryMiB: 8 });
    const root = m.defineStatic('.data..wr_after_init', 8, 'policydb_root');
    m.finishBoot();
    const cpu = m.cpu(0);
    const old = buildDb(m, 0, 300);
    const head = old.areas.at(-1)!.start;
    wrRcuAssignPointer(cpu, root, head);
    const oldBytes = old.areas.map((a) => m.peek(a.start, a.size));
    const before = resources(m);
    // security_load_policy with a DB too big for what is left: the build runs out.
    const next = createPool(m, { mode: 'wr', name: 'policydb.new', reclaimable: true });
    let failed: unknown;
    try {
      for (;;) cpu.write32(next.alloc(4000), 1);
    } catch (e) {
      failed = e;
    }
    expect(failed).toBeInstanceOf(OutOfMemoryError);
    expect((failed as OutOfMemoryError).code).toBe('ENOMEM');
    next.destroy();
    expect(resources(m)).toEqual(before);
    expect(m.cpu(1).readPtr(root)).toBe(head);
    expect(findPool(m, head)).toBe(old);
    expect(old.destroyed).toBe(false);
    old.areas.forEach((a, i) => {
      expect(m.protectionOf(a.start)).toBe('wr');
      expect(m.peek(a.start, a.size)).toEqual(oldBytes[i]);
    });
    // A plain store to the old DB still faults; a reload that fits now succeeds.
    expect(() => m.cpu(1).write32(head, 0)).toThrow();
    const ok = buildDb(m, 2, 300);
    wrRcuAssignPointer(cpu, root, ok.areas.at(-1)!.start);
    old.destroy();
    expect(findPool(m, m.cpu(1).readPtr(root))).toBe(ok);
  });
});

describe('a destroyed pool retires its own alias mm (x86-64/alias-mm-per-pool)', () => {
  const combo = COMBOS.find((c) => c.label === 'x86-64/alias-mm-per-pool');
  it.runIf(combo !== undefined)(
    'a new pool gets a fresh mm: the recycled PCID has no TLB entries left on any CPU',
    async () => {
      const m = await machineFor(combo!, { cpus: 2 });
      const first = createPool(m, { mode: 'wr', name: 'p1', reclaimable: true });
      const va1 = first.alloc(64);
      first.protect();
      wrAssign(m.cpu(0), va1, 1, 8);
      const mm1 = m.mms.find((x) => x.name === `wr_mm/pool${first.ownerId}`);
      expect(mm1).toBeDefined();
      const asid = mm1!.asid;
      first.destroy();
      expect(m.mms).not.toContain(mm1);
      const second = createPool(m, { mode: 'wr', name: 'p2', reclaimable: true });
      expect(second.id).toBe(first.id); // the same pool-table slot
      const va2 = second.alloc(64);
      second.protect();
      // The new pool's mm is created by its first write-rare call: before it writes, no
      // CPU may still hold an entry tagged with the retired PCID once it is reused.
      wrAssign(m.cpu(1), va2, 2, 8);
      const mm2 = m.mms.find((x) => x.name === `wr_mm/pool${second.ownerId}`);
      expect(mm2).toBeDefined();
      expect(mm2).not.toBe(mm1);
      expect(mm2!.asid).toBe(asid); // the PCID was recycled ...
      // ... and nothing the old mm left in CPU 0's TLB survived the reuse.
      const stale = [...m.cpu(0).tlb.entries()].filter((e) => e.asid === asid);
      expect(stale.every((e) => m.translate(e.va, mm2!) === e.pa)).toBe(true);
      expect(m.cpu(1).read64(va2)).toBe(2n);
      expect(m.auditProtections()).toEqual([]);
    },
  );
});
