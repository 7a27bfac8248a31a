import { MODES, type PoolMode } from '@prmem/pool';
import { wrAssign } from '@prmem/wr-ops';
import { defineAttack, expect } from './define.js';
import {
  bootWithStatics,
  EVIL,
  observeWrites,
  plainWrite,
  protectedPool,
  type Statics,
} from './support.js';
import type { Attack } from './types.js';

/** The LKDTM cases of the prmem series (WRITE_RO_AFTER_INIT, WRITE_WR_AFTER_INIT, ...). */
const plainStatic = (id: string, title: string, pick: (s: Statics) => number, what: string) =>
  defineAttack({
    id,
    title,
    category: 'lkdtm',
    description: `after finishBoot(), a plain 64-bit store to a variable in ${what}`,
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const va = pick(bootWithStatics(m));
      return observeWrites(m, [{ va, len: 8, what }], [['plain write', plainWrite(m.cpu(0), va)]]);
    },
  });

const wrStatic = (id: string, title: string, pick: (s: Statics) => number, what: string) =>
  defineAttack({
    id,
    title,
    category: 'lkdtm',
    description: `after finishBoot(), wrAssign (write-rare) to a variable in ${what}: must be refused and recorded`,
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const va = pick(bootWithStatics(m));
      return observeWrites(
        m,
        [{ va, len: 8, what }],
        [['wrAssign', () => wrAssign(m.cpu(0), va, EVIL, 8)]],
      );
    },
  });

const plainPool = (mode: PoolMode) =>
  defineAttack({
    id: `plain-write-${mode}-pool`,
    title: `plain write to a protected ${mode} pool`,
    category: 'lkdtm',
    description: `a ${mode} pool with one object, protect(), then a plain 64-bit store to the object`,
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const { obj } = protectedPool(m, mode, `lkdtm-${mode}`);
      return observeWrites(
        m,
        [{ va: obj, len: 8, what: `${mode} pool object` }],
        [['plain write', plainWrite(m.cpu(0), obj)]],
      );
    },
  });

export const LKDTM: readonly Attack[] = [
  plainStatic('plain-write-rodata', 'plain write to .rodata', (s) => s.rodata, '.rodata'),
  plainStatic(
    'plain-write-ro-after-init',
    'plain write to __ro_after_init',
    (s) => s.roAfterInit,
    '.data..ro_after_init',
  ),
  plainStatic(
    'plain-write-wr-after-init',
    'plain write to __wr_after_init',
    (s) => s.wrAfterInit,
    '.data..wr_after_init',
  ),
  wrStatic(
    'wr-to-ro-after-init',
    'write-rare to __ro_after_init',
    (s) => s.roAfterInit,
    '.data..ro_after_init',
  ),
  wrStatic('wr-to-rodata', 'write-rare to .rodata', (s) => s.rodata, '.rodata'),
  ...MODES.map(plainPool),
  defineAttack({
    id: 'wr-to-ro-pool',
    title: 'write-rare to a protected ro pool',
    category: 'lkdtm',
    description: 'an ro pool, protect(), then wrAssign to its object: must be refused and recorded',
    expect: expect('detected'),
    perform: ({ machine: m }) => {
      const { obj } = protectedPool(m, 'ro', 'lkdtm-ro');
      return observeWrites(
        m,
        [{ va: obj, len: 8, what: 'ro pool object' }],
        [['wrAssign', () => wrAssign(m.cpu(0), obj, EVIL, 8)]],
      );
    },
  }),
];
