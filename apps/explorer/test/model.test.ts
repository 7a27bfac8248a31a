import { x86Arch } from '@prmem/arch-x86';
import { BUILTIN_ARCHES, drain, PAGE_SIZE } from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ATTACKS, runCatalogueAttack } from '../src/model/catalogue.js';
import { cpuState } from '../src/model/cpustate.js';
import { exploreRaces, replayRace } from '../src/model/races.js';
import {
  ATTACK_WHATS,
  BACKENDS,
  OPERATIONS,
  parseScenario,
  type Scenario,
  ScenarioError,
  scenarioFromQuery,
  scenarioToQuery,
} from '../src/model/scenario.js';
import { walkVa } from '../src/model/walk.js';
import {
  type Action,
  ExplorerError,
  positionOf,
  scenarioActions,
  World,
  worldAt,
} from '../src/model/world.js';

/** A race attack of the catalogue (several CPUs interleaved). */
const CATALOGUE_RACE = ATTACKS.find((a) => a.category === 'race')?.id ?? '';

const COMBOS = Object.values(BACKENDS).flatMap((b) =>
  b.mechanisms.map((mechanism) => ({ arch: b.name, mechanism })),
);

function scenarioOf(over: Partial<Scenario>): Scenario {
  return parseScenario({ arch: 'x86-64', cpus: 2, ...over });
}

/** Everything the explorer shows of a world, as one comparable value. */
function observe(w: World) {
  const m = w.machine;
  return {
    cpus: Array.from({ length: m.cpuCount }, (_, i) => cpuState(m, i, w.target, true)),
    bytes: Array.from(m.peek(w.target, 8) ?? []),
    stats: m.stats(),
    history: w.history.map((h) => [h.label, h.deltas]),
  };
}

describe('scenario in the URL', () => {
  it('round-trips every valid scenario through the query string', () => {
    const arb = fc
      .record({
        c: fc.constantFrom(...COMBOS),
        cpus: fc.integer({ min: 1, max: 8 }),
        step: fc.integer({ min: 0, max: 100 }),
      })
      .chain(({ c, cpus, step }) =>
        fc.record({
          arch: fc.constant(c.arch),
          mechanism: fc.constant(c.mechanism),
          cpus: fc.constant(cpus),
          seed: fc.integer({ min: 0, max: 0xffffffff }),
          op: fc.constantFrom(...OPERATIONS),
          step: fc.constant(step),
          fill: fc.boolean(),
          attacks: fc
            .array(
              fc.record({
                after: fc.integer({ min: 0, max: step }),
                cpu: fc.integer({ min: 0, max: cpus - 1 }),
                what: fc.constantFrom(...ATTACK_WHATS),
              }),
              { maxLength: 5 },
            )
            .map((a) => [...a].sort((x, y) => x.after - y.after)),
        }),
      );
    fc.assert(
      fc.property(arb, (s) => {
        expect(scenarioFromQuery(scenarioToQuery(s))).toEqual(s);
      }),
    );
  });

  it('refuses a bad field with its name and the value as written', () => {
    const bad: [Record<string, unknown>, string, unknown][] = [
      [{ arch: 'sparc' }, 'arch', 'sparc'],
      [{ arch: 'arm64', mechanism: 'cr0-wp' }, 'mechanism', 'cr0-wp'],
      [{ cpus: '9' }, 'cpus', '9'],
      [{ cpus: 0 }, 'cpus', 0],
      [{ seed: '-1' }, 'seed', '-1'],
      [{ op: 'wrMemset' }, 'op', 'wrMemset'],
      [{ fill: 'yes' }, 'fill', 'yes'],
      [{ step: 2, attacks: '3.1.alias' }, 'attacks', '3.1.alias'],
      [{ step: 2, cpus: 2, attacks: '1.2.alias' }, 'attacks', '1.2.alias'],
      [{ step: 2, attacks: '1.1.everything' }, 'attacks', '1.1.everything'],
      [{ step: 2, attacks: '2.1.alias,1.1.ro' }, 'attacks', '1.1.ro'],
    ];
    for (const [input, field, value] of bad) {
      const e = (() => {
        try {
          parseScenario(input);
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(ScenarioError);
      expect(e).toMatchObject({ code: 'ESCENARIO', field, value });
    }
  });
});

describe('page walks decoded in the architecture format', () => {
  it('arrive where the machine translates, in every mm, at every step of every mechanism', () => {
    for (const c of COMBOS) {
      for (const op of OPERATIONS) {
        const w = new World(scenarioOf({ ...c, op }));
        const m = w.machine;
        for (let n = 0; n < 20 && !w.done; n++) {
          const pa = m.translate(w.target);
          const vas = [w.target, w.places.roConst, ...w.aliasesSeen];
          if (pa >= 0) vas.push(m.directMapVa(pa - (pa % PAGE_SIZE)));
          for (const mm of m.mms)
            for (const va of vas) {
              const t = walkVa(m, mm, va);
              const want = m.translate(va, mm);
              expect(t.pa ?? -1, `${c.arch}/${c.mechanism} ${op} ${mm.name} ${va}`).toBe(want);
              if (t.pa !== undefined) expect(t.levels.length).toBeGreaterThan(0);
            }
          w.step();
        }
      }
    }
  });

  it('agree with the machine for any VA of the kernel layout', () => {
    const worlds = COMBOS.map((c) => new World(scenarioOf(c)));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: worlds.length - 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.constantFrom('directMap', 'vmallocStart', 'wrStart', 'imageStart'),
        (i, frac, base) => {
          const m = worlds[i].machine;
          const start = m.layout[base as 'directMap'];
          const va = start + Math.floor(frac * 64 * 2 ** 20);
          for (const mm of m.mms) expect(walkVa(m, mm, va).pa ?? -1).toBe(m.translate(va, mm));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('shows stage 2 on arm64 only', () => {
    for (const c of COMBOS) {
      const w = new World(scenarioOf(c));
      const t = walkVa(w.machine, w.machine.kernelMm, w.target);
      expect(t.levels.some((l) => l.stage === 2)).toBe(c.arch === 'arm64');
    }
  });
});

describe('step back re-runs from the start', () => {
  it('lands on exactly the state the forward run had at that step', () => {
    const action: fc.Arbitrary<Action> = fc.oneof(
      { weight: 3, arbitrary: fc.constant({ kind: 'step' } as const) },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('attack' as const),
          cpu: fc.integer({ min: 0, max: 2 }),
          what: fc.constantFrom('target', 'alias', 'direct', 'ro' as const),
        }),
      },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...COMBOS),
        fc.constantFrom(...OPERATIONS),
        fc.array(action, { maxLength: 14 }),
        (c, op, actions) => {
          const s = scenarioOf({ ...c, op, cpus: 3 });
          const w = new World(s);
          const seen: ReturnType<typeof observe>[] = [observe(w)];
          for (const a of actions) {
            if (a.kind === 'step') w.step();
            else w.attack(a.cpu, a.what);
            seen.push(observe(w));
          }
          const k = Math.floor(actions.length / 2);
          expect(observe(worldAt(s, actions.slice(0, k)))).toEqual(seen[k]);
          // The link of the final position (steps and attacks in the URL) rebuilds it.
          const link = scenarioFromQuery(scenarioToQuery({ ...s, ...positionOf(w.actions) }));
          expect(observe(worldAt(link, scenarioActions(link)))).toEqual(seen[actions.length]);
        },
      ),
      { numRuns: 25 },
    );
  });
});

describe('attacks from another CPU', () => {
  it('x86 alias-mm: the alias is a non-global entry in the alias PCID on CPU0 only, and CPU1 faults on it', () => {
    const w = new World(scenarioOf({ mechanism: 'alias-mm' }));
    while (!w.done && !/^store/.test(w.history.at(-1)?.label ?? '')) w.step();
    expect(w.done).toBe(false);
    const cpu0 = cpuState(w.machine, 0, w.target, false);
    const alias = cpu0.tlb.filter((r) => r.role === 'alias');
    expect(alias).toHaveLength(1);
    expect(alias[0].global).toBe(false);
    expect(alias[0].asid).toBe(cpu0.asid);
    expect(cpu0.mm).not.toBe(w.machine.kernelMm.name);
    expect(cpuState(w.machine, 1, w.target, true).tlb.some((r) => r.role === 'alias')).toBe(false);
    const o = w.attack(1, 'alias');
    expect(o.landed).toBe(false);
    expect(o.fault).toMatchObject({ cpu: 1, access: 'write' });
    // The target itself is read-only everywhere, and .rodata too.
    expect(w.attack(1, 'target').landed).toBe(false);
    expect(w.attack(1, 'ro').landed).toBe(false);
  });

  it('nommu direct-remap: CPU1 writes the target while the window is open, not before or after', () => {
    const w = new World(scenarioOf({ arch: 'nommu-alias', mechanism: 'direct-remap' }));
    expect(w.attack(1, 'target').landed).toBe(false);
    const landed: boolean[] = [];
    while (!w.done) {
      w.step();
      if (w.machine.windowOpen(0) || /writable|store/.test(w.history.at(-1)?.label ?? ''))
        landed.push(w.attack(1, 'target').landed);
    }
    expect(landed).toContain(true);
    expect(w.attack(1, 'target').landed).toBe(false);
  });

  it("x86 protect(): CPU1's writable entry is marked stale until the shootdown reaches it", () => {
    const w = new World(scenarioOf({ op: 'protect', cpus: 2 }));
    const staleAt: number[] = [];
    expect(cpuState(w.machine, 1, w.target, false).tlb.some((r) => r.writable)).toBe(true);
    while (!w.done) {
      w.step();
      if (cpuState(w.machine, 1, w.target, false).tlb.some((r) => r.stale)) staleAt.push(w.steps);
    }
    expect(staleAt.length).toBeGreaterThan(0);
    expect(cpuState(w.machine, 1, w.target, true).tlb.some((r) => r.stale)).toBe(false);
    expect(w.attack(1, 'target').landed).toBe(false);
  });

  it('x86: an entry of a PCID whose tlb_gen moved on is shown dead, not live', () => {
    const w = new World(scenarioOf({ cpus: 2 }));
    const m = w.machine;
    const [cpu0, cpu1] = [m.cpu(0), m.cpu(1)];
    const user = m.createMm('user', 'task');
    const va = 0x4000_0000;
    m.arch.pt.map(user, va, m.translate(w.places.wrObj) - (w.places.wrObj % PAGE_SIZE), {
      write: false,
      exec: false,
      global: false,
    });
    m.switchMm(cpu0, user);
    cpu0.read32(va);
    m.switchMm(cpu0, m.kernelMm);
    const entry = () =>
      cpuState(m, 0, w.target, true).tlb.find((r) => r.va === va && r.asid === user.asid);
    expect(entry()).toMatchObject({ dead: false, global: false });
    // flush_tlb_mm_range from CPU1 while CPU0 runs another mm: CPU0 flushes the PCID lazily.
    drain(x86Arch(m).flushMmRange(cpu1, user, [va]));
    expect(entry()).toMatchObject({ dead: true });
  });

  it('x86 cr0-wp and pks: CR0.WP and the PKRS write-disable bit are open only inside the window', () => {
    for (const [mechanism, open] of [
      ['cr0-wp', (c: ReturnType<typeof cpuState>) => c.wp === false],
      ['pks', (c: ReturnType<typeof cpuState>) => c.pkrs?.wd === false],
    ] as const) {
      const w = new World(scenarioOf({ mechanism }));
      const seen: boolean[] = [];
      while (!w.done) {
        w.step();
        const c0 = cpuState(w.machine, 0, w.target, false);
        if (open(c0)) {
          expect(c0.inWindow, `${mechanism} step ${w.steps}`).toBe(true);
          // The open CPU state must not follow the task to another CPU.
          expect(c0.irqsDisabled || c0.preemptCount > 0).toBe(true);
        }
        seen.push(open(c0));
        expect(open(cpuState(w.machine, 1, w.target, false))).toBe(false);
      }
      expect(seen).toContain(true);
      expect(seen.at(-1)).toBe(false);
    }
  });

  it('refuses a CPU or a place that does not exist', () => {
    const w = new World(scenarioOf({}));
    expect(() => w.attack(7, 'target')).toThrow(ExplorerError);
    expect(() => w.attack(0.5, 'target')).toThrow(ExplorerError);
    expect(() => w.attack(0, 'nowhere' as 'target')).toThrow(ExplorerError);
  });

  it('fills every TLB slot when asked', () => {
    const w = new World(scenarioOf({ cpus: 4, fill: true }));
    for (let i = 0; i < 4; i++) expect(cpuState(w.machine, i, w.target, true).tlbValid).toBe(1024);
  });
});

describe('races and the catalogue', () => {
  it('finds the window of direct-remap and replays it to the violation; none for alias-mm', () => {
    const bound = { attempts: 1, maxSchedules: 500, op: 'assign' as const };
    const open = exploreRaces('nommu-alias', 'direct-remap', bound);
    expect(open.violation?.message).toMatch(/landed/);
    expect(open.documentedWindow).toBe(true);
    const r = replayRace(
      'nommu-alias',
      'direct-remap',
      bound,
      open.violation!.choices,
      open.violation!.choices.length,
    );
    expect(r.violation).toBe(open.violation!.message);
    expect(
      replayRace('nommu-alias', 'direct-remap', bound, open.violation!.choices, 0).steps,
    ).toEqual([]);
    const closed = exploreRaces('x86-64', 'alias-mm', bound);
    expect(closed.violation).toBeUndefined();
    expect(closed.complete).toBe(true);
    expect(closed.schedules).toBeGreaterThan(1);
    expect(() => exploreRaces('x86-64', 'alias-mm', { ...bound, maxSchedules: 0 })).toThrow(
      ExplorerError,
    );
  });

  it("runs a catalogue attack on the scenario's mechanism", async () => {
    const run = await runCatalogueAttack('plain-write-rodata', 'x86-64', 'alias-mm', 1);
    expect(run.result.combo).toBe('x86-64/alias-mm');
    expect(run.result.match).toBe(true);
    // The traced run is the same attack on the same machine: same outcome, and its fault.
    expect(run.tracedOutcome).toBe(run.result.outcome);
    expect(run.steps.some((e) => e.cat === 'fault')).toBe(true);
    const race = await runCatalogueAttack(CATALOGUE_RACE, 'nommu-alias', 'direct-remap', 1);
    expect(race.tracedOutcome).toBe(race.result.outcome);
    // Every attack, traced, ends as the suite's own run does, on one mechanism per backend.
    for (const [arch, mechanism] of [
      ['x86-64', 'alias-mm'],
      ['arm64', 'hyp-assist'],
      ['nommu-alias', 'direct-remap'],
    ])
      for (const a of ATTACKS) {
        const r = await runCatalogueAttack(a.id, arch, mechanism, 1);
        expect(r.tracedOutcome, `${a.id} on ${arch}/${mechanism}`).toBe(r.result.outcome);
      }
    await expect(runCatalogueAttack('no-such-attack', 'x86-64', 'alias-mm', 1)).rejects.toThrow(
      ExplorerError,
    );
  });
});

describe('the backends the explorer offers', () => {
  it("are exactly core's built-in backends (the registry)", () => {
    expect(Object.keys(BACKENDS).sort()).toEqual(Object.keys(BUILTIN_ARCHES).sort());
  });
});
