import { defineAttack, expect } from './define.js';
import { attempt, GOOD, hex, observeWrites, plainWrite } from './support.js';
import { createPool } from '@prmem/pool';
import type { Attack } from './types.js';

export const TLB: readonly Attack[] = [
  defineAttack({
    id: 'stale-tlb-remote-pool',
    title: 'stale writable TLB entry on a remote CPU after pool protection',
    category: 'tlb',
    description:
      'CPU 1 writes a pool object (and its direct-map alias) before protection, caching writable entries; CPU 0 protects the pool; CPU 1 writes again through its TLB',
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const pool = createPool(m, { mode: 'wr', name: 'tlb-victim' });
      const obj = pool.alloc(64);
      const cpu1 = m.cpu(1);
      const alias = m.directMapVa(m.translate(obj));
      cpu1.write64(obj, GOOD);
      // The direct-map alias may not exist (nommu-alias removes it): then nothing is cached.
      const warm = attempt(m, () => cpu1.write64(alias, GOOD));
      pool.protect();
      const obs = observeWrites(
        m,
        [{ va: obj, len: 8, what: 'pool object' }],
        [
          ['CPU1 writes the object', plainWrite(cpu1, obj)],
          ...(warm.threw
            ? []
            : [
                [`CPU1 writes alias ${hex(alias)}`, plainWrite(cpu1, alias)] as [
                  string,
                  () => void,
                ],
              ]),
        ],
      );
      return {
        ...obs,
        detail: `${warm.threw ? 'no direct-map alias to warm; ' : ''}${obs.detail}`,
      };
    },
  }),
  defineAttack({
    id: 'stale-tlb-remote-static',
    title: 'stale writable TLB entry on a remote CPU after mark_rodata_ro',
    category: 'tlb',
    description:
      'CPU 1 writes an __ro_after_init variable during boot (caching a writable entry); CPU 0 runs finishBoot(); CPU 1 writes it again',
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const va = m.defineStatic('.data..ro_after_init', 64, 'stale_victim');
      const cpu1 = m.cpu(1);
      cpu1.write64(va, GOOD);
      m.finishBoot(0);
      return observeWrites(
        m,
        [{ va, len: 8, what: '__ro_after_init variable' }],
        [['CPU1 writes the variable', plainWrite(cpu1, va)]],
      );
    },
  }),
];
