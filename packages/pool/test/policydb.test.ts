/**
 * The SELinux policy-DB life cycle of the seed thread (points 1–8), end to end: build a DB
 * of thousands of objects in a pool, lock it down read-only, publish its root through a
 * write-rare pointer, build a new DB, swap the root with wrRcuAssignPointer, wait for a
 * grace period, destroy the old pool. Readers on other CPUs, interleaved step by step,
 * must always see a complete old or new DB.
 */
import { type Cpu, type Machine, runInterleaved } from '@prmem/core';
import { wrRcuAssignPointerSteps } from '@prmem/wr-ops';
import { describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../src/index.js';
import { DEFAULTS, machineFor } from './support/combos.js';

const RECORDS = 1500;
const ROOT = { version: 0, count: 4, entries: 8 };
const REC = { version: 0, index: 4, name: 8 };

/** Builds a DB (one root, an array of record pointers, records, names) in a fresh RO pool. */
function* buildDb(
  m: Machine,
  cpu: Cpu,
  version: number,
): Generator<string, { pool: Pool; root: number }> {
  const pool = createPool(m, {
    mode: 'ro',
    name: `policydb${version}`,
    refill: 16 * 4096,
    cpu: cpu.id,
  });
  const root = pool.alloc(16);
  const entries = pool.calloc(RECORDS, 8);
  for (let i = 0; i < RECORDS; i++) {
    const rec = pool.alloc(16);
    cpu.write32(rec + REC.version, version);
    cpu.write32(rec + REC.index, i);
    cpu.writePtr(rec + REC.name, pool.strdup(`type_${version}_${i}`));
    cpu.writePtr(entries + i * 8, rec);
    if (i % 250 === 0) yield `build v${version}: ${i}`;
  }
  cpu.write32(root + ROOT.version, version);
  cpu.write32(root + ROOT.count, RECORDS);
  cpu.writePtr(root + ROOT.entries, entries);
  pool.protect(); // 4) lock everything down, read-only
  yield `protect v${version}`;
  return { pool, root };
}

interface Rcu {
  readonly inCs: boolean[];
  readonly exits: number[];
}

/** A reader: rcu_read_lock, walk the whole DB in steps, check it, rcu_read_unlock. */
function* reader(
  cpu: Cpu,
  slot: number,
  rcu: Rcu,
  seen: number[],
  traversals: number,
): Generator<string> {
  const enc = new TextDecoder();
  for (let t = 0; t < traversals; t++) {
    rcu.inCs[cpu.id] = true;
    const root = cpu.readPtr(slot);
    const version = cpu.read32(root + ROOT.version);
    const count = cpu.read32(root + ROOT.count);
    const entries = cpu.readPtr(root + ROOT.entries);
    if (count !== RECORDS) throw new Error(`torn root: count ${count}`);
    for (let i = 0; i < count; i++) {
      const rec = cpu.readPtr(entries + i * 8);
      if (cpu.read32(rec + REC.version) !== version || cpu.read32(rec + REC.index) !== i) {
        throw new Error(`reader saw a mixed DB at record ${i}`);
      }
      if (i % 100 === 0) {
        const name = enc.decode(
          cpu.readBytes(cpu.readPtr(rec + REC.name), `type_${version}_${i}`.length),
        );
        if (name !== `type_${version}_${i}`) throw new Error(`bad name ${name}`);
        yield `read v${version} ${i}`;
      }
    }
    seen.push(version);
    rcu.inCs[cpu.id] = false;
    rcu.exits[cpu.id]++;
    yield 'quiescent';
  }
}

function* synchronizeRcu(rcu: Rcu): Generator<string> {
  const waitFor = rcu.inCs.map((inCs, c) => (inCs ? rcu.exits[c] : -1));
  for (;;) {
    if (waitFor.every((w, c) => w < 0 || rcu.exits[c] > w)) return;
    yield 'synchronize_rcu: waiting';
  }
}

async function lifecycle(combo: (typeof DEFAULTS)[number], seed: number, skipGracePeriod = false) {
  const m = await machineFor(combo, { cpus: 3, memoryMiB: 32, seed });
  const slot = m.defineStatic('.data..wr_after_init', 8, 'policydb_root');
  m.finishBoot();
  const writer = m.cpu(0);
  const first = (() => {
    const g = buildDb(m, writer, 1);
    for (;;) {
      const r = g.next();
      if (r.done) return r.value;
    }
  })();
  for (const _ of wrRcuAssignPointerSteps(writer, slot, first.root));
  const rcu: Rcu = { inCs: [false, false, false], exits: [0, 0, 0] };
  const seen: number[] = [];
  let destroyed = false;
  function* update(): Generator<string> {
    const next = yield* buildDb(m, writer, 2); // 6) a new version, steps 1..3
    yield* wrRcuAssignPointerSteps(writer, slot, next.root); // 7) publish it
    if (!skipGracePeriod) yield* synchronizeRcu(rcu);
    first.pool.destroy(); // ... and destroy the old one
    destroyed = true;
    yield 'destroyed v1';
  }
  const r = runInterleaved(
    [
      { name: 'writer', steps: update() },
      { name: 'reader1', steps: reader(m.cpu(1), slot, rcu, seen, 3) },
      { name: 'reader2', steps: reader(m.cpu(2), slot, rcu, seen, 3) },
    ],
    { seed },
  );
  return { m, r, seen, destroyed, first };
}

describe.each(DEFAULTS)('policy-DB life cycle on $label', (combo) => {
  it('readers always see a complete old or new DB; the old pool is destroyed after a grace period', async () => {
    const versions = new Set<number>();
    for (const seed of [1, 2, 3]) {
      const { m, r, seen, destroyed } = await lifecycle(combo, seed);
      expect(r.errors).toEqual([]);
      expect(destroyed).toBe(true);
      expect(seen).toHaveLength(6);
      expect(seen.every((v) => v === 1 || v === 2)).toBe(true);
      for (const v of seen) versions.add(v);
      expect(m.auditProtections()).toEqual([]);
    }
    expect([...versions].sort()).toEqual([1, 2]); // schedules saw both sides of the swap
  });

  it('without the grace period a reader can fault on the destroyed DB (the check has teeth)', async () => {
    let faulted = 0;
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const { r } = await lifecycle(combo, seed, true);
      faulted += r.errors.filter((e) => (e.error as { code?: string }).code === 'EFAULT').length;
    }
    expect(faulted).toBeGreaterThan(0);
  });
});
