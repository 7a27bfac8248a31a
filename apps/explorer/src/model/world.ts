import {
  type Cpu,
  EVENT_NAMES,
  type EventName,
  Machine,
  PAGE_SIZE,
  PageFault,
  PrmemError,
  type Steps,
  type TraceEvent,
} from '@prmem/core';
import { createPool, type Pool } from '@prmem/pool';
import { wrAssignSteps, wrMemcpySteps, wrRcuAssignPointerSteps } from '@prmem/wr-ops';
import {
  ATTACK_WHATS,
  type AttackWhat,
  BACKENDS,
  type Operation,
  type Scenario,
} from './scenario.js';

/** Values the scenario writes: the old one before the operation, the new one by it. */
export const OLD = 0x1111_2222_3333_4444n;
export const NEW = 0xaaaa_bbbb_cccc_ddddn;
/** What an attacking CPU tries to store. */
export const EVIL = 0x6666_6666_6666_6666n;

/** Where the scenario's objects live (kernel VAs). */
export interface Places {
  /** `__wr_after_init` variable, 8 bytes. */
  readonly wrVar: number;
  /** A whole page of the `wr` pool (wrMemcpy's target). */
  readonly wrPage: number;
  /** An 8-byte pointer slot in the `wr` pool (wrRcuAssignPointer's target). */
  readonly wrSlot: number;
  /** The object that slot is made to point to. */
  readonly wrObj: number;
  /** Data of the `ro` pool (protect()'s target). */
  readonly roData: number;
  /** Unrelated read-only data: a `.rodata` constant. */
  readonly roConst: number;
}

/** The counted events and the cycles one step cost on one CPU. */
export interface CpuDelta {
  readonly cpu: number;
  readonly cycles: number;
  /** The CPU's modeled clock after the step. */
  readonly clock: number;
  readonly events: Partial<Record<EventName, number>>;
}

/** One entry of the history: a step of the operation, or an attack a CPU made. */
export interface StepRecord {
  readonly index: number;
  readonly kind: 'step' | 'attack';
  readonly label: string;
  readonly deltas: readonly CpuDelta[];
  /** Trace events the machine recorded during it (IPIs, TLBIs, HVCs, faults, CR3 writes). */
  readonly trace: readonly TraceEvent[];
}

export { ATTACK_WHATS, type AttackWhat };

export interface AttackOutcome {
  readonly cpu: number;
  readonly what: AttackWhat;
  /** The VA written, or undefined when there was none to write (no alias mapped yet). */
  readonly va?: number;
  readonly landed: boolean;
  /** The fault record when the MMU refused the write. */
  readonly fault?: {
    readonly address: number;
    readonly access: string;
    readonly cpu: number;
    readonly reason: string;
  };
  readonly detail: string;
}

/** An action of the history; replaying the same actions rebuilds the same world. */
export type Action =
  | { readonly kind: 'step' }
  | { readonly kind: 'attack'; readonly cpu: number; readonly what: AttackWhat };

export class ExplorerError extends Error {
  readonly code: string;
  constructor(
    code: string,
    message: string,
    readonly value: unknown,
  ) {
    super(message);
    this.code = code;
    this.name = 'ExplorerError';
  }
}

/**
 * One run of a scenario: a fresh machine with a `__wr_after_init` variable, a protected
 * `wr` pool and an `ro` pool, and the chosen operation on CPU0 as the real step
 * generator of wr-ops (the mechanism's step program) or of the machine's protectSteps.
 */
export class World {
  readonly scenario: Scenario;
  readonly machine: Machine;
  readonly places: Places;
  readonly wrPool: Pool;
  readonly roPool: Pool;
  /** The VA the operation writes (or protects). */
  readonly target: number;
  /** Bytes of the target the views care about. */
  readonly targetLen: number;
  readonly history: StepRecord[] = [];
  readonly actions: Action[] = [];
  /** Steps of the operation performed so far. */
  steps = 0;
  done = false;
  /** The operation's error, if a step threw. */
  error: unknown;
  /** Alias VAs of the target's frame seen in any mm so far (they outlive their mapping in a TLB). */
  readonly aliasesSeen = new Set<number>();
  private readonly program: Steps<unknown>;

  constructor(scenario: Scenario) {
    const backend = BACKENDS[scenario.arch];
    if (!backend) throw new ExplorerError('EARCH', `no backend ${scenario.arch}`, scenario.arch);
    this.scenario = scenario;
    const m = new Machine({
      backend,
      mechanism: scenario.mechanism,
      cpus: scenario.cpus,
      memoryMiB: 16,
      seed: scenario.seed,
      trace: true,
    });
    this.machine = m;
    const wrVar = m.defineStatic('.data..wr_after_init', 8, 'wr_var');
    const roConst = m.defineStatic('.rodata', 8, 'ro_const');
    const cpu0 = m.cpu(0);
    cpu0.write64(wrVar, OLD);
    cpu0.write64(roConst, 0x0123_4567_89ab_cdefn);
    m.finishBoot();
    const wrPool = createPool(m, { mode: 'wr', name: 'wr-pool', refill: 3 * PAGE_SIZE });
    // Page first: allocation runs downward from the area's top, so this one is page-aligned.
    const wrPage = wrPool.alloc(PAGE_SIZE);
    const wrSlot = wrPool.alloc(8);
    const wrObj = wrPool.alloc(64);
    cpu0.writeBytes(wrPage, new Uint8Array(PAGE_SIZE).fill(0x11));
    cpu0.write64(wrSlot, 0n);
    cpu0.write64(wrObj, OLD);
    const roPool = createPool(m, { mode: 'ro', name: 'ro-pool' });
    const roData = roPool.alloc(64);
    cpu0.write64(roData, OLD);
    wrPool.protect();
    if (scenario.op !== 'protect') roPool.protect();
    this.wrPool = wrPool;
    this.roPool = roPool;
    this.places = { wrVar, wrPage, wrSlot, wrObj, roData, roConst };
    const [target, len] = targetOf(scenario.op, this.places);
    this.target = target;
    this.targetLen = len;
    if (scenario.fill) {
      const filler = m.vmalloc(m.cpu(0).tlb.size * PAGE_SIZE, { name: 'tlb-filler' });
      for (let i = 0; i < m.cpuCount; i++) fillTlb(m.cpu(i), filler);
    }
    // Every CPU has used the data: its TLB holds the translations an attacker would reuse.
    for (let i = 0; i < m.cpuCount; i++) {
      const c = m.cpu(i);
      c.read64(target);
      c.read64(roConst);
      if (scenario.op === 'protect' && i > 0) c.write64(roData, OLD);
    }
    m.resetStats();
    this.program = this.operation(cpu0);
    this.noteAliases();
  }

  private *operation(cpu: Cpu): Steps<unknown> {
    const { op } = this.scenario;
    const p = this.places;
    if (op === 'wrAssign') return yield* wrAssignSteps(cpu, p.wrVar, NEW, 8);
    if (op === 'wrMemcpy')
      return yield* wrMemcpySteps(cpu, p.wrPage, new Uint8Array(PAGE_SIZE).fill(0x22));
    if (op === 'wrRcuAssignPointer') return yield* wrRcuAssignPointerSteps(cpu, p.wrSlot, p.wrObj);
    // protect(): the pool's own stepped protect (core refuses anyone but the pool's owner
    // handle), the page-table work one step at a time, then the pool records its level.
    yield* this.roPool.protectSteps();
    yield 'pool table: level = ro';
    return undefined;
  }

  /** Runs the next step of the operation; null when it has finished. */
  step(): StepRecord | null {
    if (this.done) return null;
    this.actions.push({ kind: 'step' });
    let label: string | null = null;
    const rec = this.record('step', () => {
      try {
        const r = this.program.next();
        if (r.done) {
          this.done = true;
          label = 'operation returned';
        } else label = String(r.value);
      } catch (e) {
        this.done = true;
        this.error = e;
        label = `threw ${e instanceof Error ? e.name : 'error'}: ${e instanceof Error ? e.message : String(e)}`;
      }
      return label;
    });
    this.steps++;
    this.noteAliases();
    return rec;
  }

  /** The VA an attack on `what` writes, or undefined when there is none yet. */
  attackVa(what: AttackWhat): number | undefined {
    const m = this.machine;
    if (what === 'target') return this.target;
    if (what === 'ro') return this.places.roConst;
    const pa = m.translate(this.target);
    if (what === 'direct') return pa < 0 ? undefined : m.directMapVa(pa);
    const [first] = [...this.aliasesSeen];
    return first === undefined ? undefined : first + (this.target % PAGE_SIZE);
  }

  /** CPU `cpu` tries a plain 8-byte write to the target, its alias, its direct-map alias or `.rodata`. */
  attack(cpu: number, what: AttackWhat): AttackOutcome {
    if (!Number.isInteger(cpu) || cpu < 0 || cpu >= this.machine.cpuCount)
      throw new ExplorerError('ECPU', `no CPU ${cpu}`, cpu);
    if (!ATTACK_WHATS.includes(what))
      throw new ExplorerError('EWHAT', `attack on ${String(what)}`, what);
    this.actions.push({ kind: 'attack', cpu, what });
    const va = this.attackVa(what);
    let outcome: AttackOutcome;
    this.record('attack', () => {
      if (va === undefined) {
        outcome = { cpu, what, landed: false, detail: `no ${what} mapping seen yet` };
        return `CPU${cpu}: no ${what} to write`;
      }
      try {
        this.machine.cpu(cpu).write64(va, EVIL);
        outcome = {
          cpu,
          what,
          va,
          landed: true,
          detail: `CPU${cpu}'s plain write to the ${what} at ${hex(va)} landed`,
        };
      } catch (e) {
        if (!(e instanceof PrmemError)) throw e;
        const fault =
          e instanceof PageFault
            ? { address: e.address, access: e.access, cpu: e.cpu, reason: e.reason }
            : undefined;
        outcome = {
          cpu,
          what,
          va,
          landed: false,
          ...(fault ? { fault } : {}),
          detail: e.message,
        };
      }
      return `CPU${cpu} writes the ${what}: ${outcome.landed ? 'landed' : 'fault'}`;
    });
    this.noteAliases();
    return outcome!;
  }

  /** Replays actions on this (fresh) world: step-back is a replay of all but the last step. */
  replay(actions: readonly Action[]): void {
    for (const a of actions) {
      if (a.kind === 'step') this.step();
      else this.attack(a.cpu, a.what);
    }
  }

  private record(kind: 'step' | 'attack', run: () => string): StepRecord {
    const m = this.machine;
    const before = m.stats();
    const traceFrom = m.trace.events.length;
    const label = run();
    const after = m.stats();
    const deltas: CpuDelta[] = after.perCpu.map((c, i) => {
      const events: Partial<Record<EventName, number>> = {};
      for (const n of EVENT_NAMES) {
        const d = c.events[n] - before.perCpu[i].events[n];
        if (d !== 0 && n !== 'memAccess') events[n] = d;
      }
      return { cpu: i, cycles: c.cycles - before.perCpu[i].cycles, clock: c.cycles, events };
    });
    const rec: StepRecord = {
      index: this.history.length,
      kind,
      label,
      deltas,
      trace: m.trace.events.slice(traceFrom),
    };
    this.history.push(rec);
    return rec;
  }

  /** Records every VA other than the target and its direct-map alias that maps the target's frame. */
  private noteAliases(): void {
    const m = this.machine;
    const pa = m.translate(this.target);
    if (pa < 0) return;
    const frame = pa - (pa % PAGE_SIZE);
    const page = this.target - (this.target % PAGE_SIZE);
    const direct = m.directMapVa(frame);
    for (const mm of m.mms) {
      m.arch.pt.forEachLeaf(mm, (va, leafPa) => {
        if (leafPa === frame && va !== page && va !== direct) this.aliasesSeen.add(va);
      });
    }
  }
}

/**
 * Reads one word of successive pages of a vmalloc area until every TLB slot holds an
 * entry (consecutive pages land in consecutive slots of the direct-mapped TLB). Not the
 * direct map: it is mapped with large pages, which the TLB keeps apart.
 */
function fillTlb(cpu: Cpu, area: { start: number; size: number }): void {
  for (let va = area.start; va < area.start + area.size; va += PAGE_SIZE) cpu.read32(va);
}

function targetOf(op: Operation, p: Places): [number, number] {
  switch (op) {
    case 'wrAssign':
      return [p.wrVar, 8];
    case 'wrMemcpy':
      return [p.wrPage, PAGE_SIZE];
    case 'wrRcuAssignPointer':
      return [p.wrSlot, 8];
    default:
      return [p.roData, 8];
  }
}

/** A kernel VA or PA as the kernel prints it (hex, no 0x padding games). */
export function hex(v: number): string {
  return `0x${v.toString(16)}`;
}

/** The actions a scenario's URL stands for: its steps, with its attacks after the steps they follow. */
export function scenarioActions(s: Scenario): Action[] {
  const out: Action[] = [];
  for (let k = 0; k <= s.step; k++) {
    for (const a of s.attacks)
      if (a.after === k) out.push({ kind: 'attack', cpu: a.cpu, what: a.what });
    if (k < s.step) out.push({ kind: 'step' });
  }
  return out;
}

/** The scenario fields of a history: steps performed and attacks with their positions. */
export function positionOf(actions: readonly Action[]): Pick<Scenario, 'step' | 'attacks'> {
  let step = 0;
  const attacks: { after: number; cpu: number; what: AttackWhat }[] = [];
  for (const a of actions) {
    if (a.kind === 'step') step++;
    else attacks.push({ after: step, cpu: a.cpu, what: a.what });
  }
  return { step, attacks };
}

/** Builds a world and replays `actions` on it. */
export function worldAt(scenario: Scenario, actions: readonly Action[]): World {
  const w = new World(scenario);
  w.replay(actions);
  return w;
}
