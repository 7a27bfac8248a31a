import { sessionOf } from '../src/index.js';
import { describe, expect, it } from 'vitest';
import {
  explore,
  type Machine,
  PageFault,
  type Program,
  replay,
  runInterleaved,
} from '../src/index.js';
import { toyMachine } from './helpers.js';

function* counter(name: string, n: number, log: string[]): Generator<string> {
  for (let i = 0; i < n; i++) {
    log.push(`${name}${i}`);
    yield `${name}${i}`;
  }
}

describe('interleaving scheduler', () => {
  it('enumerates every interleaving of two programs exactly once', () => {
    const seen = new Set<string>();
    const r = explore(() => {
      const log: string[] = [];
      return {
        programs: [
          { name: 'a', steps: counter('a', 2, log) },
          { name: 'b', steps: counter('b', 3, log) },
        ],
        check: () => {
          if (log.length === 5) seen.add(log.join(','));
          return undefined;
        },
      };
    });
    expect(r.complete).toBe(true);
    expect(r.violations).toEqual([]);
    expect(seen.size).toBe(10); // C(5,2) interleavings of 2 and 3 steps
  });

  it('is deterministic for a seed', () => {
    const run = (seed: number) => {
      const log: string[] = [];
      runInterleaved(
        [
          { name: 'a', steps: counter('a', 4, log) },
          { name: 'b', steps: counter('b', 4, log) },
        ],
        { seed },
      );
      return log.join(',');
    };
    expect(run(7)).toBe(run(7));
    expect(new Set([1, 2, 3, 4, 5, 6].map(run)).size).toBeGreaterThan(1);
  });

  /**
   * A race the scheduler must find: the toy mechanism opens its window to every CPU (the
   * page is made writable in place). An attacker on another CPU keeps trying a plain
   * write; the check flags any attacker write that lands.
   */
  function raceWorld(mOf: () => Machine) {
    return () => {
      const m = mOf();
      const target = m.symbol('victim')!.va;
      const writer = m.cpu(0);
      const attacker = m.cpu(1);
      let landed = false;
      function* attack(): Generator<string> {
        for (let i = 0; i < 40; i++) {
          try {
            attacker.write32(target + 4, 0xbad);
            landed = true;
          } catch (e) {
            if (!(e instanceof PageFault)) throw e;
          }
          yield 'attack';
        }
      }
      const programs: Program[] = [
        {
          name: 'writer',
          steps: sessionOf(m.mechanism, writer, [
            { kind: 'write', va: target, data: new Uint8Array([1, 2, 3, 4]) },
          ]),
        },
        { name: 'attacker', steps: attack() },
      ];
      return { programs, check: () => (landed ? 'attacker wrote write-rare memory' : undefined) };
    };
  }

  it('finds the write window of a remap mechanism and replays it', async () => {
    // Machines are built once per schedule; boot them ahead (createMachine is async).
    const pool: Machine[] = [];
    for (let i = 0; i < 60; i++) {
      const m = await toyMachine({ cpus: 2, memoryMiB: 4 });
      m.defineStatic('.data..wr_after_init', 8, 'victim');
      m.finishBoot();
      pool.push(m);
    }
    let next = 0;
    const r = explore(
      raceWorld(() => pool[next++]),
      { maxSchedules: 50 },
    );
    expect(r.violations).toHaveLength(1);
    const v = r.violations[0];
    // The attacker's landing step comes after the writer opened the window.
    const steps = v.steps.slice(0, v.violation!.afterStep + 1);
    expect(steps.some((s) => s.program === 'writer')).toBe(true);
    // Replaying the recorded choices on a fresh machine reproduces it.
    const fresh = await toyMachine({ cpus: 2, memoryMiB: 4 });
    fresh.defineStatic('.data..wr_after_init', 8, 'victim');
    fresh.finishBoot();
    const w = raceWorld(() => fresh)();
    const again = replay(w.programs, v.choices, w.check);
    expect(again.violation?.afterStep).toBe(v.violation!.afterStep);
    expect(fresh.cpu(0).read32(fresh.symbol('victim')!.va + 4)).toBe(0xbad);
  });

  it('finds no window when the attacker only runs outside the write', async () => {
    const m = await toyMachine({ cpus: 2, memoryMiB: 4 });
    m.defineStatic('.data..wr_after_init', 8, 'victim');
    m.finishBoot();
    const world = raceWorld(() => m)();
    // Attacker first to completion, then the writer: no landing possible.
    const r = replay(
      world.programs,
      new Array(100).fill(1).map((_, i) => (i < 40 ? 1 : 0)),
      world.check,
    );
    expect(r.violation).toBeUndefined();
    expect(m.cpu(0).read32(m.symbol('victim')!.va)).toBe(0x04030201);
  });
});
