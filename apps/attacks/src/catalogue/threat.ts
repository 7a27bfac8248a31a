/**
 * Attacks on the layers below the friendly API (the threat model's A2 and A4): core's
 * protect/vfree/vmalloc called directly, mechanisms driven directly, windows raced,
 * abandoned and outlived. Each one is a guarantee that must hold at the lowest layer
 * that could break it.
 */
import {
  AreaOwner,
  type Machine,
  PAGE_SIZE,
  type PrmemError,
  type Steps,
  type WrOp,
  sessionOf,
} from '@prmem/core';
import { arm64Of } from '@prmem/arch-arm64';
import { createPool, DESC_OFFSETS, FIXED_OFFSETS, FLAG_DESTROYED, findPool } from '@prmem/pool';
import {
  prListAdd,
  prListCheck,
  prListInit,
  wrAssign,
  wrAssignSteps,
  wrMemset,
} from '@prmem/wr-ops';
import { defineAttack, expect } from './define.js';
import {
  aliasMappings,
  attempt,
  bootWithStatics,
  EVIL,
  GOOD,
  hex,
  notApplicable,
  observeWrites,
  plainWrite,
  protectedPool,
  rewritePteWritable,
  sameBytes,
} from './support.js';
import type { Attack, Observation } from './types.js';

/** The refusals core gives for a request it will not carry out (nothing changed). */
const CORE_REFUSALS = new Set(['EPERM', 'ECEILING', 'EBUSY', 'ESTALE', 'EINVAL', 'EDEADLK']);
const coreRefusal = (e: PrmemError): boolean =>
  CORE_REFUSALS.has(e.code) ||
  e.name === 'WrTargetError' ||
  e.name === 'PoolError' ||
  e.name === 'ListCorruptionError' ||
  e.name === 'PageFault' ||
  e.name === 'HypercallRefused' ||
  e.name === 'WriteRareViolation';

/** A scalar 8-byte write-rare op. */
const store8 = (va: number, v: bigint): WrOp => ({
  kind: 'store',
  va,
  size: 8,
  lo: Number(v & 0xffff_ffffn),
  hi: Number(v >> 32n),
});

/** Runs a mechanism session to its end (the mechanism driven directly, no wr-ops checks). */
function session(m: Machine, cpu: number, ops: readonly WrOp[]): void {
  const s = sessionOf(m.mechanism, m.cpu(cpu), ops);
  for (let r = s.next(); !r.done; r = s.next());
}

/** `observeWrites` with core's refusals accepted, on 8-byte targets. */
function observe(
  m: Machine,
  targets: readonly { va: number; what: string }[],
  attempts: readonly (readonly [string, () => void])[],
  landedIf?: () => string | undefined,
): Observation {
  return observeWrites(
    m,
    targets.map((t) => ({ ...t, len: 8 })),
    attempts,
    { accept: coreRefusal, ...(landedIf ? { landedIf } : {}) },
  );
}

/** Steps `s` until `until()` holds or it ends (at most `max` steps); whether it holds. */
function stepUntil(s: Steps<unknown>, until: () => boolean, max = 64): boolean {
  for (let i = 0; i < max; i++) {
    if (until()) return true;
    if (s.next().done) break;
  }
  return until();
}

/** Runs the rest of a session; a refusal or fault it meets is part of the outcome. */
function finish(_m: Machine, s: Steps<unknown>, what: string): [string, () => void] {
  return [
    what,
    () => {
      for (let r = s.next(); !r.done; r = s.next());
    },
  ];
}

const NO_ALIAS_MM = 'the mechanism keeps no alias mm';

export const THREAT: readonly Attack[] = [
  defineAttack({
    id: 'core-protect-past-ceiling',
    title: "push a wr pool's memory to read-only through core (DoS of its updates)",
    category: 'pool',
    description:
      "m.protect() of a protected wr pool's area to 'ro' without the pool's owner handle, then of the same frame through its direct-map alias; the pool's limit (its ceiling, kept by core) forbids 'ro'",
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { pool, obj } = protectedPool(m, 'wr', 'ceiling');
      const area = pool.areas[0];
      const dm = m.directMapVa(m.translate(area.start));
      const mapped = m.translate(dm) >= 0;
      const obs = observe(
        m,
        [],
        [
          ['protect(area, ro)', () => m.protect(area.start, area.size, 'ro')],
          ...(mapped
            ? ([
                [`protect(direct map ${hex(dm)}, ro)`, () => m.protect(dm, PAGE_SIZE, 'ro')],
              ] as const)
            : []),
        ],
        () =>
          m.protectionOf(obj) === 'ro' || area.level === 'ro'
            ? 'the pool memory became read-only'
            : undefined,
      );
      // Its updates still work.
      wrAssign(m.cpu(0), obj, GOOD + 1n, 8);
      return obs;
    },
  }),
  defineAttack({
    id: 'core-protect-part-of-area',
    title: "protect half of a pool's area behind its back",
    category: 'pool',
    description:
      "m.protect() of one page of a pool's two-page writable area, so the pool's own protect() would then find it half-done",
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const pool = createPool(m, { mode: 'wr', name: 'half', refill: 2 * PAGE_SIZE });
      pool.alloc(64);
      const area = pool.areas[0];
      const obs = observe(
        m,
        [],
        [['protect(first page, wr)', () => m.protect(area.start, PAGE_SIZE, 'wr')]],
        () => (m.protectionOf(area.start) !== 'rw' ? 'the page was protected' : undefined),
      );
      pool.protect();
      return obs;
    },
  }),
  defineAttack({
    id: 'core-vfree-live-area',
    title: "vfree a live protected pool's area",
    category: 'pool',
    description:
      "m.vfree() of a protected pool's area without the owner handle: its frames would go back to the allocator, writable, while the pool lives",
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { pool, obj } = protectedPool(m, 'wr', 'vfree-victim');
      return observe(
        m,
        [{ va: obj, what: 'pool object' }],
        [['vfree(area)', () => m.vfree(pool.areas[0])]],
        () => (pool.areas[0].freed ? 'the area was freed' : undefined),
      );
    },
  }),
  defineAttack({
    id: 'core-forge-area-owner',
    title: "claim another pool's owner id for a raw vmalloc",
    category: 'pool',
    description:
      "m.vmalloc() in the write-rare range with an owner handle forged from a live pool's owner id, so that findPool would answer that pool for the attacker's memory",
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const { pool } = protectedPool(m, 'wr', 'forged');
      let area: ReturnType<Machine['vmalloc']> | undefined;
      const forged = [
        { id: pool.ownerId, name: 'forged' },
        Object.assign(Object.create(AreaOwner.prototype) as AreaOwner, {
          id: pool.ownerId,
          name: 'forged',
        }),
      ];
      const obs = observe(
        m,
        [],
        forged.map(
          (owner, i) =>
            [
              `vmalloc with forged owner #${i}`,
              () => {
                area = m.vmalloc(PAGE_SIZE, { range: 'wr', owner: owner as AreaOwner });
              },
            ] as const,
        ),
        () =>
          area && findPool(m, area.start) === pool
            ? 'findPool names the victim pool for the raw area'
            : undefined,
      );
      return obs;
    },
  }),
  defineAttack({
    id: 'mech-direct-ro-targets',
    title: 'drive the mechanism directly at read-only and ordinary memory',
    category: 'wr-target',
    description:
      "the machine's write-rare mechanism called directly (no wr-ops checks) on .rodata, __ro_after_init, a read-only pool object and ordinary .data: each mechanism must refuse and record it before its first step",
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { obj: roObj } = protectedPool(m, 'ro', 'mech-ro');
      const s = bootWithStatics(m);
      const targets = [
        { va: s.rodata, what: '.rodata' },
        { va: s.roAfterInit, what: '__ro_after_init' },
        { va: roObj, what: 'ro pool object' },
        { va: s.data, what: '.data' },
      ];
      return observe(
        m,
        targets,
        targets.map((t) => [`session(${t.what})`, () => session(m, 0, [store8(t.va, EVIL)])]),
      );
    },
  }),
  defineAttack({
    id: 'mech-batch-bad-tail',
    title: 'a batch whose last op is read-only',
    category: 'wr-target',
    description:
      'one mechanism session with a legitimate write-rare op followed by an op on a read-only pool: nothing may be written, not even the first op',
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { obj: wrObj } = protectedPool(m, 'wr', 'batch-wr');
      const { obj: roObj } = protectedPool(m, 'ro', 'batch-ro');
      return observe(
        m,
        [
          { va: wrObj, what: 'the write-rare object (first op)' },
          { va: roObj, what: 'the read-only object' },
        ],
        [['session([wr, ro])', () => session(m, 0, [store8(wrObj, EVIL), store8(roObj, EVIL)])]],
      );
    },
  }),
  defineAttack({
    id: 'mech-huge-length',
    title: 'a write-rare op with a huge length',
    category: 'wr-target',
    description:
      'a set op of 2^40 bytes on a write-rare object, given to the mechanism directly: refused from its operands, before any page is listed (no hang, no memory blow-up)',
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { obj } = protectedPool(m, 'wr', 'huge');
      return observe(
        m,
        [{ va: obj, what: 'the object' }],
        [
          [
            'session(set 2^40 bytes)',
            () => session(m, 0, [{ kind: 'set', va: obj, value: 0x41, len: 2 ** 40 }]),
          ],
        ],
      );
    },
  }),
  defineAttack({
    id: 'window-concurrent-alias',
    title: "write through another CPU's live alias from one's own window",
    category: 'race',
    description:
      "CPU 0 is inside its window for pool A (its alias live in the alias mm); CPU 1 starts its own window for pool B and, once inside (alias mm loaded), stores to CPU 0's alias of A",
    expect: expect(
      'stopped',
      {
        'x86-64/cr0-wp': ['n/a', NO_ALIAS_MM],
        'x86-64/pks': ['n/a', NO_ALIAS_MM],
        'arm64/hyp-assist': ['n/a', NO_ALIAS_MM],
        'nommu-alias': ['n/a', NO_ALIAS_MM],
        toy: ['n/a', NO_ALIAS_MM],
        'x86-64/alias-mm-mirror': [
          'window',
          'the persistent mirror maps all write-rare memory in wr_mm: any CPU inside a mirror window can write any write-rare page, as designed',
        ],
      },
      undefined,
    ),
    cpus: 2,
    perform: ({ machine: m }) => {
      if ((m.arch.aliasMms?.() ?? []).length === 0) return notApplicable(NO_ALIAS_MM);
      const { obj: a } = protectedPool(m, 'wr', 'win-a');
      const { obj: b } = protectedPool(m, 'wr', 'win-b');
      const paA = m.translate(a);
      const w0 = wrAssignSteps(m.cpu(0), a, 0x2222n, 8);
      const aliasMms = () => m.arch.aliasMms?.() ?? [];
      // CPU 0 into its window: alias mm loaded, alias of A mapped.
      stepUntil(w0, () => aliasMms().includes(m.cpu(0).mm) && aliasMappings(m, paA).length > 0);
      const aliasA = aliasMappings(m, paA)[0];
      const w1 = wrAssignSteps(m.cpu(1), b, 0x3333n, 8);
      let waited = false;
      let inside = false;
      for (let i = 0; i < 16 && !inside; i++) {
        const r = w1.next();
        if (r.done) break;
        if (String(r.value).startsWith('wait:')) waited = true;
        inside = aliasMms().includes(m.cpu(1).mm);
      }
      const attempts: [string, () => void][] = [];
      if (inside && aliasA)
        attempts.push([
          `CPU1 (in its window) stores to CPU0's alias ${hex(aliasA.va)}`,
          plainWrite(m.cpu(1), aliasA.va + (a % PAGE_SIZE) + 8),
        ]);
      const obs = observe(m, [{ va: a + 8, what: "A's neighbouring word" }], attempts);
      for (let r = w0.next(); !r.done; r = w0.next());
      for (let r = w1.next(); !r.done; r = w1.next());
      return {
        ...obs,
        detail: `${obs.detail || 'no attempt'}; CPU1 ${inside ? 'entered its window while CPU0 was in its own' : waited ? 'waited for text_mutex' : 'never entered'}`,
      };
    },
  }),
  defineAttack({
    id: 'window-irq-state',
    title: 'a write-rare call made with IRQs off returns with them on',
    category: 'race',
    description:
      'wrAssign called with IRQs already disabled: the window must save and restore the IRQ state (local_irq_save/restore), not enable IRQs on the way out',
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const { obj } = protectedPool(m, 'wr', 'irq');
      const cpu = m.cpu(0);
      cpu.localIrqDisable();
      wrAssign(cpu, obj, GOOD + 2n, 8);
      const on = !cpu.irqsDisabled;
      cpu.localIrqEnable();
      return {
        landed: on,
        events: [],
        detail: on ? 'IRQs came back on' : 'IRQs still off after the call, as found',
      };
    },
  }),
  defineAttack({
    id: 'window-abandoned-alias',
    title: "use an abandoned window's alias from another CPU",
    category: 'race',
    description:
      "CPU 0's window is stopped mid-way (alias mapped, never finished); CPU 1 tries to load the alias mm and to store through the alias",
    expect: expect('detected', {
      'x86-64/cr0-wp': ['n/a', NO_ALIAS_MM],
      'x86-64/pks': ['n/a', NO_ALIAS_MM],
      'arm64/hyp-assist': ['n/a', NO_ALIAS_MM],
      'nommu-alias': ['n/a', NO_ALIAS_MM],
      toy: ['n/a', NO_ALIAS_MM],
    }),
    perform: ({ machine: m }) => {
      const mms = m.arch.aliasMms?.() ?? [];
      if (mms.length === 0) return notApplicable(NO_ALIAS_MM);
      const { obj } = protectedPool(m, 'wr', 'abandoned');
      const pa = m.translate(obj);
      const w0 = wrAssignSteps(m.cpu(0), obj, 0x2222n, 8);
      stepUntil(w0, () => aliasMappings(m, pa).length > 0);
      // Abandoned: the generator is never resumed nor returned (a CPU that stopped).
      const alias = aliasMappings(m, pa)[0];
      const cpu1 = m.cpu(1);
      const attempts: [string, () => void][] = [];
      for (const mm of m.arch.aliasMms?.() ?? [])
        attempts.push([`CPU1 switchMm(${mm.name})`, () => m.switchMm(cpu1, mm)]);
      if (alias)
        attempts.push([
          `CPU1 stores to the alias ${hex(alias.va)}`,
          plainWrite(cpu1, alias.va + (obj % PAGE_SIZE)),
        ]);
      const obs = observe(m, [{ va: obj, what: 'the object' }], attempts);
      w0.return(undefined as never);
      return obs;
    },
  }),
  defineAttack({
    id: 'window-outlives-destroy',
    title: 'a window outlives its pool, whose frame goes to a read-only pool',
    category: 'race',
    description:
      "a mechanism session is built for pool A's object; before it runs, A is destroyed (frames reclaimed) and a new read-only pool B gets A's frame; then the session runs. A second session, already open on pool C, faces C's destroy: the window must not write a released frame",
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const a = protectedPool(m, 'wr', 'outlived-a', undefined, { reclaimable: true });
      const frameA = m.translate(a.obj) - (a.obj % PAGE_SIZE);
      const built = sessionOf(m.mechanism, m.cpu(0), [store8(a.obj, EVIL)]);
      const events: string[] = [];
      const parts: string[] = [];
      const run = (what: string, fn: () => void) => {
        const r = attempt(m, fn, coreRefusal);
        events.push(...r.events);
        parts.push(`${what}: ${r.threw ? r.refusal : 'done'}`);
      };
      run('destroy A (reclaim)', () => a.pool.destroy({ reclaim: true }));
      const b = protectedPool(m, 'ro', 'outlived-b', undefined, { reclaimable: true });
      const reusedB = m.translate(b.obj) - (b.obj % PAGE_SIZE) === frameA;
      const bBefore = m.peek(b.obj, 64);
      run('run the session built for A', finish(m, built, '')[1]);
      const c = protectedPool(m, 'wr', 'outlived-c', undefined, { reclaimable: true });
      const paC = m.translate(c.obj);
      const open = sessionOf(m.mechanism, m.cpu(1), [store8(c.obj, EVIL)]);
      stepUntil(open, () => m.windowOpen(1));
      run('destroy C while a window on it is open', () => c.pool.destroy({ reclaim: true }));
      const freedC = c.pool.destroyed;
      const frameC = paC - (paC % PAGE_SIZE);
      const afterDestroy = m.phys.bytes.slice(frameC, frameC + PAGE_SIZE);
      run('finish the window on C', finish(m, open, '')[1]);
      const landed: string[] = [];
      if (!sameBytes(bBefore, m.peek(b.obj, 64))) landed.push("B's object changed");
      // If C's frame was released under the open window, the window must not write it:
      // the frame is the allocator's (anybody's) now.
      const wrote = !sameBytes(afterDestroy, m.phys.bytes.slice(frameC, frameC + PAGE_SIZE));
      if (freedC && wrote) landed.push("the open window wrote C's released frame");
      parts.push(`B ${reusedB ? 'got' : 'did not get'} A's frame`);
      return { landed: landed.length > 0, events, detail: [...parts, ...landed].join('; ') };
    },
  }),
  ...[false, true].map((reclaimable) =>
    defineAttack({
      id: reclaimable ? 'el2-release-reclaimable' : 'el2-unregister-sealed',
      title: reclaimable
        ? "EL1 releases a reclaimable read-only pool's range at EL2, rewrites it, registers it again"
        : "EL1 unregisters a sealed (non-reclaimable) read-only pool's range at EL2",
      category: 'hypervisor',
      description: `arbitrary EL1 code (A5) issues HVC unregister for a protected ro pool${reclaimable ? ' created reclaimable: true' : ''}, makes its stage-1 PTE writable through the direct map, stores, and registers the range read-only again`,
      expect: expect(
        reclaimable ? 'unprotected' : 'detected',
        {
          'x86-64': ['n/a', 'no hypervisor'],
          'nommu-alias': ['n/a', 'no hypervisor'],
          toy: ['n/a', 'no hypervisor'],
        },
        reclaimable
          ? 'a reclaimable range may be given back by EL1 (HKIP *_RECL): EL2 scrubs it first, so its data is erased, never kept; EL1 may then write and re-register it. Only non-reclaimable ranges hold against EL1'
          : undefined,
      ),
      perform: ({ machine: m }) => {
        if (m.backend.name !== 'arm64') return notApplicable('no hypervisor');
        const { pool, obj } = protectedPool(m, 'ro', 'el2-victim', undefined, { reclaimable });
        const area = pool.areas[0];
        const el2 = arm64Of(m).el2;
        const cpu = m.cpu(0);
        let released = false;
        const obs = observeWrites(
          m,
          [{ va: obj, len: 8, what: 'the pool object' }],
          [
            [
              'HVC unregister',
              () => {
                el2.hvc(cpu, { fn: 'unregister', start: area.start, size: area.size });
                released = true;
              },
            ],
            [
              'stage-1 PTE made writable, plain store',
              () => {
                rewritePteWritable(m, cpu, obj);
                plainWrite(cpu, obj)();
              },
            ],
          ],
        );
        // The attacker covers its tracks: the range is registered read-only again.
        if (released)
          el2.hvc(cpu, { fn: 'register_ro', start: area.start, size: area.size, reclaimable });
        return obs;
      },
    }),
  ),
  defineAttack({
    id: 'pool-meta-wr-fixed',
    title: "write-rare stores to another pool's creation-time fields",
    category: 'pool',
    description:
      "wrAssign (A3: a write-rare primitive) on a wr pool's fixed descriptor: its limit raised to 'ro' (so makeReadOnly could deny its updates) and its WR mode bit cleared; then makeReadOnly()",
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { pool } = protectedPool(m, 'wr', 'meta-fixed');
      const cpu = m.cpu(0);
      const f = pool.fixedVa;
      return observe(
        m,
        [
          { va: f + FIXED_OFFSETS.limit, what: 'the limit field' },
          { va: f + FIXED_OFFSETS.mode, what: 'the mode field' },
        ],
        [
          ['wrAssign(limit, ro)', () => wrAssign(cpu, f + FIXED_OFFSETS.limit, 2, 4)],
          ['wrAssign(mode, 0)', () => wrAssign(cpu, f + FIXED_OFFSETS.mode, 0, 4)],
          ['makeReadOnly()', () => pool.makeReadOnly()],
        ],
        () =>
          pool.destroyed || m.protectionOf(pool.areas[0].start) === 'ro'
            ? 'the pool went read-only'
            : undefined,
      );
    },
  }),
  defineAttack({
    id: 'pool-meta-wr-slot',
    title: "write-rare stores to another pool's changing fields",
    category: 'pool',
    description:
      "wrAssign on a wr pool's table slot, whose fields are write-rare by design: its destroyed flag set (a zombie that could never be released) and its level pushed to 'ro'. The pool must not obey: it reports the corruption, refuses to use the slot, and destroy() still releases it",
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { pool, obj } = protectedPool(m, 'wr', 'meta-slot');
      const cpu = m.cpu(0);
      const slot = pool.slotVa;
      const events: string[] = [];
      const parts: string[] = [];
      const landed: string[] = [];
      const run = (what: string, fn: () => void): boolean => {
        const r = attempt(m, fn, coreRefusal);
        events.push(...r.events);
        parts.push(`${what}: ${r.threw ? r.refusal : 'went through'}`);
        return !r.threw;
      };
      // The stores themselves land (the slot is write-rare memory): what matters is
      // whether the pool obeys them.
      run('wrAssign(flags, destroyed)', () =>
        wrAssign(cpu, slot + DESC_OFFSETS.flags, FLAG_DESTROYED, 4),
      );
      run('wrAssign(level, ro)', () => wrAssign(cpu, slot + DESC_OFFSETS.level, 2, 4));
      if (run('alloc() on the corrupted pool', () => pool.alloc(8)))
        landed.push('the pool obeyed a corrupted slot');
      if (!run('wrAssign to its object', () => wrAssign(cpu, obj, GOOD + 3n, 8)))
        landed.push("the pool's updates are blocked");
      if (!run('destroy()', () => pool.destroy({ reclaim: true })) || !pool.destroyed)
        landed.push('the pool cannot be released (a zombie)');
      return { landed: landed.length > 0, events, detail: [...parts, ...landed].join('; ') };
    },
  }),
  defineAttack({
    id: 'prlist-double-add',
    title: 'add a node that is already on a write-rare list',
    category: 'wr-target',
    description:
      'prListAdd of a node right after it was added to the same head: the second add would make a cycle; CONFIG_LIST_HARDENED-style checks (__list_add_valid) refuse it before any store',
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const pool = createPool(m, { mode: 'start-wr', name: 'prlist' });
      const head = pool.zalloc(16);
      const node = pool.zalloc(16);
      const cpu = m.cpu(0);
      prListInit(cpu, head);
      prListAdd(cpu, node, head);
      const obs = observe(
        m,
        [
          { va: head, what: 'the head' },
          { va: node, what: 'the node' },
        ],
        [['prListAdd again', () => prListAdd(cpu, node, head)]],
      );
      prListCheck(cpu, head);
      return obs;
    },
  }),
  defineAttack({
    id: 'wr-zero-length-ro',
    title: 'a zero-length write-rare call aimed at read-only memory',
    category: 'wr-target',
    description:
      'wrMemset of 0 bytes on a read-only pool object: it writes nothing, but the target is still validated and the refusal recorded (a zero-length call is no way around the check)',
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { obj } = protectedPool(m, 'ro', 'zero-len');
      return observe(
        m,
        [{ va: obj, what: 'the object' }],
        [['wrMemset(ro, 0 bytes)', () => wrMemset(m.cpu(0), obj, 0x41, 0)]],
      );
    },
  }),
];
