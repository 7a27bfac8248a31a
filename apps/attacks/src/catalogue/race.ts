import { type Machine, type Program, runSchedule } from '@prmem/core';
import { createPool } from '@prmem/pool';
import { wrAssignSteps } from '@prmem/wr-ops';
import { defineAttack, expect } from './define.js';
import {
  attempt,
  bootWithStatics,
  GOOD,
  hex,
  plainWrite,
  protectedPool,
  sameBytes,
} from './support.js';
import type { Attack, Observation } from './types.js';

/**
 * A writer on CPU 0 runs one write-rare assignment as a scheduler program; an attacker on
 * CPU `attacker` tries a plain store to `victim` after every one of the writer's steps
 * (round-robin), until it lands or the writer is done. Returns what the attacker saw.
 */
function hammer(
  m: Machine,
  target: number,
  victim: number,
  attacker: number,
  what: string,
): Observation {
  const before = m.peek(victim, 8);
  let writerDone = false;
  let lastStep = 'start';
  const tries: string[] = [];
  const events: string[] = [];
  let refusal: string | undefined;
  let landedAt: string | undefined;
  const writer: Program = {
    name: 'writer',
    steps: (function* () {
      const s = wrAssignSteps(m.cpu(0), target, 0x2222n, 8);
      for (;;) {
        const r = s.next();
        if (r.done) break;
        lastStep = String(r.value);
        yield r.value;
      }
      writerDone = true;
    })(),
  };
  const cpu = m.cpu(attacker);
  const attackerProgram: Program = {
    name: 'attacker',
    steps: (function* () {
      while (!writerDone) {
        const a = attempt(m, plainWrite(cpu, victim));
        events.push(...a.events);
        if (!a.threw) {
          landedAt = lastStep;
          return;
        }
        refusal ??= a.refusal;
        tries.push(lastStep);
        yield 'plain write';
      }
    })(),
  };
  const run = runSchedule([writer, attackerProgram], (runnable, n) => n % runnable.length);
  if (run.errors.length > 0) throw run.errors[0].error;
  const changed = !sameBytes(before, m.peek(victim, 8));
  const who = `CPU${attacker} plain writes to ${what} ${hex(victim)}`;
  return {
    landed: landedAt !== undefined || changed,
    ...(refusal ? { refusal } : {}),
    events,
    detail:
      landedAt !== undefined
        ? `${who}: landed after writer step "${landedAt}" (${tries.length} refused before)`
        : `${who}: all ${tries.length} refused (${refusal ?? 'no attempt'})`,
  };
}

export const RACE: readonly Attack[] = [
  defineAttack({
    id: 'race-plain-write-other-cpu',
    title: 'plain write from another CPU during a write-rare window',
    category: 'race',
    description:
      'CPU 0 writes a pool object through write-rare; CPU 1 tries a plain store to a neighbouring word of the same page after every step of the window (interleaved by the core scheduler)',
    cpus: 2,
    expect: expect('stopped', {
      'nommu-alias/direct-remap': [
        'window',
        'the one kernel PTE is writable for every CPU while the window is open',
      ],
      'nommu-alias/lazy': [
        'window',
        'as direct-remap; a stale read-only entry only costs the attacker a spurious fault',
      ],
      'toy/toy-remap': ['window', 'the toy remaps the kernel PTE writable for all CPUs'],
    }),
    perform: ({ machine: m }) => {
      const { obj } = protectedPool(m, 'wr', 'race-victim');
      return hammer(m, obj, obj + 8, 1, 'the target page');
    },
  }),
  defineAttack({
    id: 'window-unrelated-ro',
    title: 'plain write to unrelated read-only data during a window, on the writer CPU',
    category: 'race',
    description:
      'while CPU 0 is inside a write-rare window for a pool object, CPU 0 itself stores to an __ro_after_init variable (code running in the window with a corrupted pointer)',
    expect: expect('stopped', {
      'x86-64/cr0-wp': [
        'window',
        'CR0.WP clear makes every read-only page writable on this CPU (SDM 4.6.1)',
      ],
    }),
    perform: ({ machine: m }) => {
      const s = bootWithStatics(m);
      const { obj } = protectedPool(m, 'wr', 'win-writer');
      return hammer(m, obj, s.roAfterInit, 0, '__ro_after_init');
    },
  }),
  defineAttack({
    id: 'window-unrelated-wr',
    title: "plain write to another pool's write-rare data during a window, on the writer CPU",
    category: 'race',
    description:
      "while CPU 0 is inside a write-rare window for pool A's object, CPU 0 stores to pool B's protected write-rare object (another page)",
    expect: expect('stopped', {
      'x86-64/cr0-wp': ['window', 'CR0.WP clear makes every protected page writable on this CPU'],
      'x86-64/pks': [
        'window',
        'opening PKRS for the write-rare key opens every keyed page on this CPU, not just the target',
      ],
    }),
    perform: ({ machine: m }) => {
      const { obj } = protectedPool(m, 'wr', 'win-writer');
      const other = createPool(m, { mode: 'wr', name: 'win-other' });
      const victim = other.alloc(64);
      m.cpu(0).write64(victim, GOOD);
      other.protect();
      return hammer(m, obj, victim, 0, "pool B's object");
    },
  }),
];
