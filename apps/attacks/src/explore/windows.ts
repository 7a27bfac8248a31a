/**
 * Interleaving exploration with core's scheduler: a writer doing a write-rare operation
 * (a wr-ops `…Steps` generator) on CPU0, an attacker doing plain writes on CPU1, and
 * optionally a reader on CPU2. `explore` enumerates schedules exhaustively within a bound,
 * or samples seeded ones. Where a mechanism opens its window to every CPU (remapping the
 * one mapping writable: toy-remap, nommu direct-remap and lazy), the explorer must find the
 * attacker's write landing inside the window; everywhere else it must find nothing.
 */
import {
  type Check,
  type Cpu,
  type ExploreResult,
  explore,
  Machine,
  PageFault,
  type Program,
  type Steps,
} from '@prmem/core';
import { createPool } from '@prmem/pool';
import { wrAssignSteps, wrMemcpySteps } from '@prmem/wr-ops';
import type { Combo } from '../fuzz/combos.js';

/** Mechanisms whose window is open to every CPU (the catalogue's `window` outcome). */
export const OPEN_WINDOW_MECHANISMS: readonly string[] = ['toy-remap', 'direct-remap', 'lazy'];

export const expectsWindow = (c: Combo): boolean => OPEN_WINDOW_MECHANISMS.includes(c.mechanism);

const OLD = 0x1111_2222_3333_4444n;
const NEW = 0xaaaa_bbbb_cccc_ddddn;
const EVIL = 0x6666_6666_6666_6666n;

/** Where the writer was when something happened. */
type Phase = 'before' | 'in-session' | 'after';

export interface ScenarioOptions {
  /** 'assign' (wrAssign 8 B), 'memcpy' (an 8-byte wrMemcpy) or 'protect' (see below). */
  readonly op?: 'assign' | 'memcpy' | 'protect';
  /** Plain-write attempts by the attacker (each is one step). */
  readonly attempts?: number;
  /** 8-byte reads by a reader on CPU2 (torn-value check), 0 for none. */
  readonly reads?: number;
  readonly memoryMiB?: number;
  /** Called when the world is ready, before any program runs (to arm an injected bug). */
  readonly onReady?: (m: Machine) => void;
}

interface World {
  readonly programs: Program[];
  readonly check: Check;
}

/**
 * One world per schedule (explore replays every schedule from scratch): a fresh machine, a
 * protected write-rare pool holding the target, an RO pool holding an unrelated victim.
 *
 * - 'assign' / 'memcpy': CPU0 writes NEW to the target through write-rare, then (still on
 *   CPU0, after the session) tries a plain write — the window must be closed by then.
 *   CPU1 tries plain writes to the target and the RO victim at every point.
 * - 'protect': the pool starts writable, CPU1 has written it (its TLB holds a writable
 *   entry), CPU0 protects it; once protection has returned, no write may land anywhere.
 */
export function scenario(combo: Combo, opts: ScenarioOptions = {}): () => World {
  const kind = opts.op ?? 'assign';
  return () => {
    const m = new Machine({
      backend: combo.backend,
      mechanism: combo.mechanism,
      cpus: 3,
      memoryMiB: opts.memoryMiB ?? 2,
      seed: 1,
    });
    m.finishBoot();
    const [w0, a1, r2] = [m.cpu(0), m.cpu(1), m.cpu(2)];
    const pool = createPool(m, { mode: 'wr', name: 'victim' });
    const target = pool.alloc(64);
    w0.write64(target, OLD);
    const ro = createPool(m, { mode: 'ro', name: 'ro-victim' });
    const roVictim = ro.alloc(64);
    ro.protect();
    if (kind === 'protect') a1.write64(target, OLD);
    else pool.protect();
    // Both other CPUs have the target in their TLBs (RO, or RW for 'protect').
    a1.read64(target);
    r2.read64(target);

    opts.onReady?.(m);
    let phase: Phase = 'before';
    const landed: string[] = [];
    const seen: bigint[] = [];
    let writerError: unknown;
    const attempt = (cpu: Cpu, va: number, what: string) => {
      try {
        cpu.write64(va, EVIL);
        landed.push(`CPU${cpu.id}'s plain write to ${what} landed (writer ${phase})`);
      } catch (e) {
        if (!(e instanceof PageFault)) throw e;
      }
    };

    function* writer(): Steps {
      phase = 'in-session';
      try {
        if (kind === 'protect') yield* pool.protectSteps();
        else if (kind === 'memcpy') {
          const b = new Uint8Array(8);
          new DataView(b.buffer).setBigUint64(0, NEW, true);
          yield* wrMemcpySteps(w0, target, b);
        } else yield* wrAssignSteps(w0, target, NEW, 8);
      } catch (e) {
        writerError = e;
      }
      phase = 'after';
      yield 'session returned';
      // Later code on the writer's CPU: the window must be closed for it too.
      attempt(w0, target, 'the target');
      attempt(w0, roVictim, 'the RO victim');
      yield 'plain writes on CPU0 after the session';
    }
    function* attacker(n: number): Steps {
      for (let i = 0; i < n; i++) {
        attempt(a1, target, 'the target');
        attempt(a1, roVictim, 'the RO victim');
        yield `attack ${i}`;
      }
    }
    function* reader(n: number): Steps {
      for (let i = 0; i < n; i++) {
        seen.push(r2.read64(target));
        yield `read ${i}`;
      }
    }
    const programs: Program[] = [{ name: 'writer', steps: writer() }];
    const attempts = opts.attempts ?? 1;
    if (attempts > 0) programs.push({ name: 'attacker', steps: attacker(attempts) });
    if ((opts.reads ?? 0) > 0) programs.push({ name: 'reader', steps: reader(opts.reads ?? 0) });

    const check: Check = () => {
      if (writerError) return `writer failed: ${String(writerError)}`;
      // 'protect': a write landing before protection has returned is allowed.
      const bad = kind === 'protect' ? landed.filter((l) => l.endsWith('(writer after)')) : landed;
      if (bad.length > 0) return bad[0];
      const torn = seen.find((v) => v !== OLD && v !== NEW && v !== EVIL);
      if (torn !== undefined) return `reader saw a torn value 0x${torn.toString(16)}`;
      if (phase === 'after' && m.windowOpen(w0))
        return 'CPU0 still has a write-rare window open after the session returned';
      if (phase !== 'in-session') {
        const f = m.auditProtections();
        if (f.length > 0)
          return `audit with the writer ${phase}: ${f[0].where} CPU${f[0].cpu ?? '-'}: ${f[0].detail}`;
      }
      return undefined;
    };
    return { programs, check };
  };
}

export interface ExploreReport {
  readonly combo: string;
  readonly mode: 'exhaustive' | 'random';
  readonly result: ExploreResult;
  /** The first violation's message and the schedule (program per step) that shows it. */
  readonly first?: {
    readonly message: string;
    readonly schedule: string;
    readonly choices: readonly number[];
  };
}

export function exploreCombo(
  combo: Combo,
  opts: ScenarioOptions & {
    mode?: 'exhaustive' | 'random';
    maxSchedules?: number;
    seed?: number;
    stopOnViolation?: boolean;
  } = {},
): ExploreReport {
  const mode = opts.mode ?? 'exhaustive';
  const result = explore(scenario(combo, opts), {
    mode,
    maxSchedules: opts.maxSchedules ?? 500,
    seed: opts.seed ?? 1,
    stopOnViolation: opts.stopOnViolation ?? true,
  });
  const v = result.violations[0];
  return {
    combo: combo.label,
    mode,
    result,
    ...(v?.violation
      ? {
          first: {
            message: v.violation.message,
            schedule: v.steps.map((s) => `${s.program}: ${s.label}`).join(' | '),
            choices: v.choices,
          },
        }
      : {}),
  };
}
