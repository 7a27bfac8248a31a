/**
 * Write-rare lists against a model (two lists, nodes crossing page boundaries, heads in
 * .data..wr_after_init and in a pool area), on every backend + mechanism: the lists read
 * back through ordinary loads forwards and backwards, CONFIG_DEBUG_LIST's check holds,
 * deleted entries carry the kernel's poison, and the audit stays clean.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LIST_POISON1,
  LIST_POISON2,
  prListAdd,
  prListAddRcu,
  prListAddTail,
  prListAddTailRcu,
  prListCheck,
  prListDel,
  prListDelInit,
  prListDelRcu,
  prListEmpty,
  prListEntries,
  prListEntriesReverse,
  prListInit,
  prListMove,
  prListMoveTail,
  prListReplace,
  prListReplaceInit,
  prListReplaceRcu,
  prListSplice,
  prListSpliceInit,
  prListSpliceInitRcu,
  prListSpliceTail,
  prListSpliceTailInit,
  prListSpliceTailInitRcu,
} from '../src/index.js';
import { COMBOS, makeWorld } from './support/combos.js';

const KINDS = [
  'add',
  'addTail',
  'addRcu',
  'addTailRcu',
  'del',
  'delInit',
  'delRcu',
  'replace',
  'replaceInit',
  'replaceRcu',
  'move',
  'moveTail',
  'splice',
  'spliceTail',
  'spliceInit',
  'spliceTailInit',
  'spliceInitRcu',
  'spliceTailInitRcu',
] as const;
type Kind = (typeof KINDS)[number];
const cmdArb = fc.record({
  kind: fc.constantFrom(...KINDS),
  a: fc.nat(),
  b: fc.nat(),
  list: fc.nat(1),
  cpu: fc.nat(1),
});

describe.each(COMBOS)('prlist on $label', (combo) => {
  it('every list operation matches a model; poison, debug check and audit hold', async () => {
    const w = await makeWorld(combo);
    const { m } = w;
    const heads = [w.wrStatic + 16, w.pool2.start + 2048]; // 8-aligned
    // Eight nodes; the ones at 4096-8 and 8192-8 straddle pages (next | prev).
    const nodes = [8, 4096 - 8, 4096 + 200, 8192 - 8, 8192 + 64, 600, 3000, 10000].map(
      (o) => w.pool.start + o,
    );
    let sync = 0;
    await fc.assert(
      fc.property(fc.array(cmdArb, { minLength: 1, maxLength: 16 }), (cmds) => {
        const model: number[][] = [[], []];
        for (const h of heads) prListInit(m.cpu(0), h);
        for (const c of cmds) {
          const cpu = m.cpu(c.cpu);
          const dst = model[c.list];
          const other = model[1 - c.list];
          const linked = [...model[0], ...model[1]];
          const free = nodes.filter((n) => !linked.includes(n));
          const pick = <T>(xs: T[], i: number) => xs[i % xs.length];
          const remove = (n: number) => {
            for (const l of model) if (l.includes(n)) l.splice(l.indexOf(n), 1);
          };
          const k: Kind = c.kind;
          if (k.startsWith('add')) {
            if (!free.length) continue;
            const n = pick(free, c.a);
            const tail = k.startsWith('addTail');
            const rcu = k.endsWith('Rcu');
            (tail ? (rcu ? prListAddTailRcu : prListAddTail) : rcu ? prListAddRcu : prListAdd)(
              cpu,
              n,
              heads[c.list],
            );
            if (tail) dst.push(n);
            else dst.unshift(n);
          } else if (k.startsWith('del')) {
            if (!linked.length) continue;
            const n = pick(linked, c.a);
            const l = model.find((x) => x.includes(n)) ?? [];
            const i = l.indexOf(n);
            const next = i + 1 < l.length ? l[i + 1] : heads[model.indexOf(l)];
            remove(n);
            if (k === 'del') {
              prListDel(cpu, n);
              expect(cpu.read64(n)).toBe(LIST_POISON1);
              expect(cpu.read64(n + 8)).toBe(LIST_POISON2);
            } else if (k === 'delInit') {
              prListDelInit(cpu, n);
              expect(prListEmpty(cpu, n)).toBe(true);
            } else {
              prListDelRcu(cpu, n);
              // A reader standing on n can still move on; prev is poisoned.
              expect(cpu.readPtr(n)).toBe(next);
              expect(cpu.read64(n + 8)).toBe(LIST_POISON2);
            }
          } else if (k.startsWith('replace')) {
            if (!linked.length || !free.length) continue;
            const old = pick(linked, c.a);
            const n = pick(free, c.b);
            const l = model.find((x) => x.includes(old)) ?? [];
            l[l.indexOf(old)] = n;
            if (k === 'replace') prListReplace(cpu, old, n);
            else if (k === 'replaceInit') {
              prListReplaceInit(cpu, old, n);
              expect(prListEmpty(cpu, old)).toBe(true);
            } else {
              prListReplaceRcu(cpu, old, n);
              expect(cpu.read64(old + 8)).toBe(LIST_POISON2);
            }
          } else if (k.startsWith('move')) {
            if (!linked.length) continue;
            const n = pick(linked, c.a);
            remove(n);
            if (k === 'move') {
              prListMove(cpu, n, heads[c.list]);
              dst.unshift(n);
            } else {
              prListMoveTail(cpu, n, heads[c.list]);
              dst.push(n);
            }
          } else {
            // Splice the other list into this one.
            const src = heads[1 - c.list];
            const tail = k.startsWith('spliceTail');
            const moved = other.splice(0, other.length);
            if (tail) dst.push(...moved);
            else dst.unshift(...moved);
            if (k === 'splice' || k === 'spliceTail') {
              (tail ? prListSpliceTail : prListSplice)(cpu, src, heads[c.list]);
              prListInit(cpu, src); // list_splice leaves the source head stale
            } else if (k === 'spliceInit') prListSpliceInit(cpu, src, heads[c.list]);
            else if (k === 'spliceTailInit') prListSpliceTailInit(cpu, src, heads[c.list]);
            else {
              const before = sync;
              (tail ? prListSpliceTailInitRcu : prListSpliceInitRcu)(
                cpu,
                src,
                heads[c.list],
                () => sync++,
              );
              expect(sync).toBe(before + (moved.length ? 1 : 0));
            }
            expect(prListEmpty(cpu, src)).toBe(true);
          }
          for (let i = 0; i < 2; i++) {
            const reader = m.cpu(1 - c.cpu);
            expect(prListEntries(reader, heads[i])).toEqual(model[i]);
            expect(prListEntriesReverse(reader, heads[i])).toEqual([...model[i]].reverse());
            expect(prListCheck(reader, heads[i])).toBeUndefined();
          }
          expect(m.auditProtections()).toEqual([]);
        }
      }),
      { numRuns: 8, seed: 0x115 },
    );
    expect(m.securityEvents()).toEqual([]);
    // Every pointer store went through the mechanism: the memory is still protected.
    expect(() => m.cpu(0).write64(heads[1], 0n)).toThrow(/fault/i);
  });

  it('a non-RCU list operation on one area runs in one window where the mechanism batches', async () => {
    const w = await makeWorld(combo);
    const cpu = w.m.cpu(0);
    const head = w.pool.start;
    prListInit(cpu, head);
    const r = prListAdd(cpu, head + 64, head);
    expect(r.ops).toBe(4);
    expect(r.sessions).toBe(w.m.mechanism.batchable ? 1 : 4);
    const rcu = prListAddRcu(cpu, head + 128, head);
    // The RCU form publishes separately: node fields, then the publish, then next->prev.
    expect(rcu.sessions).toBe(w.m.mechanism.batchable ? 3 : 4);
    expect(prListEntries(cpu, head)).toEqual([head + 128, head + 64]);
  });
});
