import { defineAttack, expect } from './define.js';
import {
  bootWithStatics,
  observeWrites,
  plainWrite,
  protectedPool,
  rewritePteWritable,
  sameBytes,
} from './support.js';
import type { Attack, AttackWorld, Observation } from './types.js';

const STAGE1_ONLY =
  'stage-1 protection only: a kernel write primitive that reaches its own page tables undoes it (the mechanism does not claim otherwise)';

function pteAttack({ machine: m }: AttackWorld, target: 'wr-pool' | 'ro-after-init'): Observation {
  const va =
    target === 'wr-pool'
      ? protectedPool(m, 'wr', 'pte-victim').obj
      : bootWithStatics(m).roAfterInit;
  const cpu = m.cpu(0);
  const before = m.peek(va, 8);
  const pte = rewritePteWritable(m, cpu, va);
  const obs = observeWrites(
    m,
    [{ va, len: 8, what: 'protected object' }],
    [['plain write', plainWrite(cpu, va)]],
  );
  // The PTE store's own security events (none expected) count too.
  if (!sameBytes(before, m.peek(va, 8)) && !obs.landed) return { ...obs, landed: true };
  return { ...obs, detail: `${pte}; ${obs.detail}` };
}

export const PAGE_TABLE: readonly Attack[] = [
  defineAttack({
    id: 'pte-rewrite-wr-pool',
    title: 'page-table attack on a write-rare pool page',
    category: 'page-table',
    description:
      "walk the kernel tables in physical memory to the PTE of a protected write-rare object, store a writable PTE through the table page's direct-map alias, flush the local TLB entry, write the object",
    expect: expect(
      'unprotected',
      {
        'arm64/hyp-assist': [
          'detected',
          'the page is read-only at stage 2 (registered ROWM): the write faults to EL2, which logs it',
        ],
      },
      STAGE1_ONLY,
    ),
    perform: (w) => pteAttack(w, 'wr-pool'),
  }),
  defineAttack({
    id: 'pte-rewrite-ro-after-init',
    title: 'page-table attack on an __ro_after_init page',
    category: 'page-table',
    description:
      'the same page-table attack against a read-only static variable (registered read-only at EL2 on arm64 under both mechanisms)',
    expect: expect(
      'unprotected',
      {
        arm64: [
          'detected',
          'read-only ranges are registered at EL2 under both arm64 mechanisms: stage 2 refuses and logs the write',
        ],
      },
      STAGE1_ONLY,
    ),
    perform: (w) => pteAttack(w, 'ro-after-init'),
  }),
];
