import { type Machine, PAGE_SIZE } from '@prmem/core';
import { wrAssignSteps } from '@prmem/wr-ops';
import { defineAttack, expect } from './define.js';
import {
  aliasMappings,
  bootWithStatics,
  hex,
  notApplicable,
  observeWrites,
  plainWrite,
  protectedPool,
} from './support.js';
import type { Attack, Observation } from './types.js';

const NO_ALIAS_MM = 'the mechanism keeps no alias mm (it writes the kernel mapping itself)';

/** Writes through the direct-map (linear map) alias of a protected frame. */
const directMapAlias = (id: string, title: string, kind: 'wr-pool' | 'ro-after-init') =>
  defineAttack({
    id,
    title,
    category: 'alias',
    description: `a plain store to the direct-map alias (PAGE_OFFSET + PA) of a protected ${kind === 'wr-pool' ? 'write-rare pool' : '__ro_after_init'} frame; on nommu-alias the alias does not exist`,
    expect: expect('stopped'),
    perform: ({ machine: m }) => {
      const va =
        kind === 'wr-pool'
          ? protectedPool(m, 'wr', 'alias-victim').obj
          : bootWithStatics(m).roAfterInit;
      const pa = m.translate(va);
      const alias = m.directMapVa(pa);
      const mapped = m.translate(alias) >= 0;
      const obs = observeWrites(
        m,
        [{ va, len: 8, what: 'protected object' }],
        [[`plain write to alias ${hex(alias)}`, plainWrite(m.cpu(0), alias)]],
      );
      return { ...obs, detail: `${obs.detail}${mapped ? '' : ' (alias not mapped)'}` };
    },
  });

/**
 * Runs one write-rare assignment on CPU 0 step by step; at every step, looks for a
 * user-half alias of the target frame in the alias mms (by walking their tables), and
 * lets `during` attack it. Returns the aliases seen.
 */
function stepWindow(
  m: Machine,
  obj: number,
  during: (aliasVa: number, mm: string, step: string) => void,
): Map<number, string> {
  const seen = new Map<number, string>();
  const pa = m.translate(obj);
  const session = wrAssignSteps(m.cpu(0), obj, 0x2222n, 8);
  for (;;) {
    const r = session.next();
    if (r.done) break;
    for (const a of aliasMappings(m, pa)) {
      const aliasVa = a.va + (pa % PAGE_SIZE);
      if (seen.has(aliasVa)) continue;
      seen.set(aliasVa, a.mm);
      during(aliasVa, a.mm, String(r.value));
    }
  }
  return seen;
}

function aliasAttack(m: Machine, attackerCpu: number, when: 'during' | 'after'): Observation {
  const { obj } = protectedPool(m, 'wr', 'alias-victim');
  // The attacker aims at the neighbouring word: the writer legitimately changes `obj`.
  const victim = { va: obj + 8, len: 8, what: 'neighbouring word of the target' };
  const cpu = m.cpu(attackerCpu);
  const tryAlias = (aliasVa: number, mm: string, when: string) =>
    observeWrites(
      m,
      [victim],
      [
        [
          `CPU${cpu.id} (${cpu.mm.name}) writes ${mm} alias ${hex(aliasVa + 8)} ${when}`,
          plainWrite(cpu, aliasVa + 8),
        ],
      ],
    );
  const seen: Observation[] = [];
  const aliases = stepWindow(m, obj, (aliasVa, mm, step) => {
    if (when === 'during') seen.push(tryAlias(aliasVa, mm, `at "${step}"`));
  });
  if (aliases.size === 0) return notApplicable(NO_ALIAS_MM);
  if (when === 'after')
    for (const [aliasVa, mm] of aliases) seen.push(tryAlias(aliasVa, mm, 'after the window'));
  const refusal = seen.find((a) => a.refusal)?.refusal;
  return {
    landed: seen.some((a) => a.landed),
    ...(refusal ? { refusal } : {}),
    events: seen.flatMap((a) => a.events),
    detail: seen.map((a) => a.detail).join('; '),
  };
}

const ALIAS_NA: Readonly<Record<string, readonly ['n/a', string]>> = {
  'x86-64/cr0-wp': ['n/a', NO_ALIAS_MM],
  'x86-64/pks': ['n/a', NO_ALIAS_MM],
  'arm64/hyp-assist': ['n/a', 'EL2 writes through its own mapping; the kernel has no alias'],
  'nommu-alias': ['n/a', 'the MMU refuses aliases: the one mapping is remapped in place'],
  toy: ['n/a', NO_ALIAS_MM],
};

export const ALIAS: readonly Attack[] = [
  directMapAlias(
    'directmap-alias-wr-pool',
    'write through the direct-map alias of a write-rare pool frame',
    'wr-pool',
  ),
  directMapAlias(
    'directmap-alias-ro-after-init',
    'write through the direct-map alias of an __ro_after_init frame',
    'ro-after-init',
  ),
  defineAttack({
    id: 'wr-alias-from-other-cpu',
    title: 'write-rare alias address used from another CPU during the window',
    category: 'alias',
    description:
      'while CPU 0 is inside a write-rare window, CPU 1 (running the kernel mm) stores to the alias address found by walking the alias mm',
    expect: expect('stopped', ALIAS_NA),
    perform: ({ machine: m }) => aliasAttack(m, 1, 'during'),
  }),
  defineAttack({
    id: 'wr-alias-from-kernel-mm',
    title: 'write-rare alias address used from the kernel mm after the window',
    category: 'alias',
    description:
      'after a write-rare window on CPU 0 closes, CPU 0 (back on the kernel mm) stores to the alias address the window used',
    expect: expect('stopped', ALIAS_NA),
    perform: ({ machine: m }) => aliasAttack(m, 0, 'after'),
  }),
];
