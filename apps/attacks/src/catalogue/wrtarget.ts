import { arm64Of } from '@prmem/arch-arm64';
import { type Machine, VA_LIMIT } from '@prmem/core';
import { wrMemcpy, wrMemset } from '@prmem/wr-ops';
import { defineAttack, expect } from './define.js';
import { bootWithStatics, hex, notApplicable, observeWrites, protectedPool } from './support.js';
import type { Target } from './support.js';
import type { Attack, AttackWorld, Observation } from './types.js';

/** Two protected wr pools whose areas follow each other (a guard page between). */
function twoPools(m: Machine) {
  const p1 = protectedPool(m, 'wr', 'span-a');
  const p2 = protectedPool(m, 'wr', 'span-b');
  const a1 = p1.pool.areas[0];
  const a2 = p2.pool.areas[0];
  const targets: Target[] = [
    { va: a1.end - 64, len: 64, what: 'end of area A' },
    { va: a2.start, len: 64, what: 'start of area B' },
    { va: p1.obj, len: 64, what: 'object of A' },
    { va: p2.obj, len: 64, what: 'object of B' },
  ];
  return { a1, a2, targets };
}

const ARM64_ONLY = 'no hypervisor: the HVC interface exists only on arm64';

/** A hypercall issued directly (no wr-ops validation in front of EL2). */
function hvcAttack(
  w: AttackWorld,
  build: (m: Machine) => {
    targets: Target[];
    calls: [string, Parameters<ReturnType<typeof arm64Of>['el2']['hvc']>[1]][];
  },
): Observation {
  const m = w.machine;
  if (m.backend.name !== 'arm64') return notApplicable(ARM64_ONLY);
  const el2 = arm64Of(m).el2;
  const { targets, calls } = build(m);
  return observeWrites(
    m,
    targets,
    calls.map(([what, call]) => [what, () => el2.hvc(m.cpu(0), call)] as const),
  );
}

const HVC_EXPECT = expect('detected', {
  'x86-64': ['n/a', ARM64_ONLY],
  'nommu-alias': ['n/a', ARM64_ONLY],
  toy: ['n/a', ARM64_ONLY],
});

export const WR_TARGET: readonly Attack[] = [
  defineAttack({
    id: 'wr-spans-areas',
    title: 'write-rare target spanning two areas',
    category: 'wr-target',
    description:
      "wrMemcpy starting near the end of pool A's area and running through the guard page into pool B's area",
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { a1, a2, targets } = twoPools(m);
      const va = a1.end - 64;
      const len = a2.start + 64 - va;
      return observeWrites(m, targets, [
        [
          `wrMemcpy ${hex(va)} +${len}`,
          () => wrMemcpy(m.cpu(0), va, new Uint8Array(len).fill(0x41)),
        ],
      ]);
    },
  }),
  defineAttack({
    id: 'wr-past-allocation',
    title: "write-rare target past its allocation's area",
    category: 'wr-target',
    description:
      "wrMemset from the last 8 bytes of a pool's area for 16 bytes (into the guard page)",
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { a1, targets } = twoPools(m);
      return observeWrites(m, targets, [
        [`wrMemset ${hex(a1.end - 8)} +16`, () => wrMemset(m.cpu(0), a1.end - 8, 0x41, 16)],
      ]);
    },
  }),
  defineAttack({
    id: 'wr-overflowing-size',
    title: 'write-rare with overflowing sizes',
    category: 'wr-target',
    description:
      'wrMemset of a pool object with size 2^53-1, and of __wr_after_init with a range running past 2^48',
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const s = bootWithStatics(m);
      const { obj } = protectedPool(m, 'wr', 'ovf');
      return observeWrites(
        m,
        [
          { va: obj, len: 64, what: 'pool object' },
          { va: s.wrAfterInit, len: 64, what: '__wr_after_init' },
        ],
        [
          ['wrMemset size 2^53-1', () => wrMemset(m.cpu(0), obj, 0x41, Number.MAX_SAFE_INTEGER)],
          [
            'wrMemset past 2^48',
            () => wrMemset(m.cpu(0), s.wrAfterInit, 0x41, VA_LIMIT - s.wrAfterInit + 8),
          ],
        ],
      );
    },
  }),
  defineAttack({
    id: 'hvc-unregistered',
    title: 'hypercall write to an unregistered range',
    category: 'hypervisor',
    description:
      'HVC write_64 straight to EL2, aimed at ordinary .data the kernel never registered',
    expect: HVC_EXPECT,
    perform: (w) =>
      hvcAttack(w, (m) => {
        const s = bootWithStatics(m);
        return {
          targets: [{ va: s.data, len: 8, what: '.data variable' }],
          calls: [['HVC write_64 to .data', { fn: 'write_64', dst: s.data, value: 0x41n }]],
        };
      }),
  }),
  defineAttack({
    id: 'hvc-readonly',
    title: 'hypercall write to a range registered read-only',
    category: 'hypervisor',
    description: 'HVC write_64 straight to EL2, aimed at __ro_after_init (registered read-only)',
    expect: HVC_EXPECT,
    perform: (w) =>
      hvcAttack(w, (m) => {
        const s = bootWithStatics(m);
        return {
          targets: [{ va: s.roAfterInit, len: 8, what: '__ro_after_init' }],
          calls: [
            [
              'HVC write_64 to __ro_after_init',
              { fn: 'write_64', dst: s.roAfterInit, value: 0x41n },
            ],
          ],
        };
      }),
  }),
  defineAttack({
    id: 'hvc-spans-ranges',
    title: 'hypercall write spanning two registered ranges / past its range',
    category: 'hypervisor',
    description:
      "HVC write from the end of pool A's area into pool B's area, and HVC set from A's last 8 bytes for 16 bytes",
    expect: HVC_EXPECT,
    perform: (w) =>
      hvcAttack(w, (m) => {
        const { a1, a2, targets } = twoPools(m);
        const va = a1.end - 64;
        const len = a2.start + 64 - va;
        return {
          targets,
          calls: [
            [
              `HVC write ${hex(va)} +${len}`,
              { fn: 'write', dst: va, data: new Uint8Array(len).fill(0x41) },
            ],
            [
              `HVC set ${hex(a1.end - 8)} +16`,
              { fn: 'set', dst: a1.end - 8, value: 0x41, len: 16 },
            ],
          ],
        };
      }),
  }),
  defineAttack({
    id: 'hvc-overflowing-size',
    title: 'hypercall with overflowing sizes',
    category: 'hypervisor',
    description: 'HVC set with length 2^53-1, and HVC write running past 2^48',
    expect: HVC_EXPECT,
    perform: (w) =>
      hvcAttack(w, (m) => {
        const { obj } = protectedPool(m, 'wr', 'hvc-ovf');
        return {
          targets: [{ va: obj, len: 64, what: 'pool object' }],
          calls: [
            [
              'HVC set len 2^53-1',
              { fn: 'set', dst: obj, value: 0x41, len: Number.MAX_SAFE_INTEGER },
            ],
            ['HVC write past 2^48', { fn: 'write', dst: VA_LIMIT - 8, data: new Uint8Array(16) }],
          ],
        };
      }),
  }),
];
