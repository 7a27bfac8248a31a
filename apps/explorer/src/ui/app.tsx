import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ATTACKS, type CatalogueRun, runCatalogueAttack } from '../model/catalogue.js';
import { cpuState } from '../model/cpustate.js';
import { exploreRaces, type RaceBound, type RaceReport, replayRace } from '../model/races.js';
import {
  BACKENDS,
  DEFAULT_SCENARIO,
  OPERATION_TITLES,
  OPERATIONS,
  type Operation,
  parseScenario,
  type Scenario,
  scenarioFromQuery,
  scenarioToQuery,
} from '../model/scenario.js';
import { walkVa } from '../model/walk.js';
import {
  type Action,
  ATTACK_WHATS,
  type AttackOutcome,
  type AttackWhat,
  hex,
  positionOf,
  scenarioActions,
  World,
  worldAt,
} from '../model/world.js';
import { CpuCard } from './cpu.js';
import { Timeline } from './timeline.js';

/** The scenario of the URL, built; a link that cannot be run opens the default instead. */
function initialWorld(): { s: Scenario; w: World; error?: string } {
  try {
    const s = scenarioFromQuery(location.search);
    return { s, w: build(s) };
  } catch (e) {
    return { s: DEFAULT_SCENARIO, w: build(DEFAULT_SCENARIO), error: (e as Error).message };
  }
}

function build(s: Scenario): World {
  return worldAt(s, scenarioActions(s));
}

/** The last step and whatever followed it are dropped: step-back re-runs the rest. */
function withoutLastStep(actions: readonly Action[]): Action[] {
  let i = actions.length - 1;
  while (i >= 0 && actions[i].kind !== 'step') i--;
  return actions.slice(0, Math.max(i, 0));
}

const WHAT_TITLES: Readonly<Record<AttackWhat, string>> = {
  target: 'the target',
  alias: "the mechanism's alias",
  direct: 'the direct-map alias',
  ro: 'unrelated read-only data (.rodata)',
};

export function App() {
  const init = useMemo(initialWorld, []);
  const [scenario, setScenario] = useState<Scenario>(init.s);
  const [error, setError] = useState<string | undefined>(init.error);
  const world = useRef<World>(init.w);
  const [, setVersion] = useState(0);
  const [all, setAll] = useState(false);
  const [what, setWhat] = useState<AttackWhat>('target');
  const [outcome, setOutcome] = useState<AttackOutcome | undefined>();
  const [walkInput, setWalkInput] = useState('');
  const [walkMm, setWalkMm] = useState(0);
  const [dumpMm, setDumpMm] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState(400);
  const [attackId, setAttackId] = useState(ATTACKS[0]?.id ?? '');
  const [catResult, setCatResult] = useState<CatalogueRun | { error: string } | undefined>();
  const [bound, setBound] = useState<RaceBound>({ attempts: 1, maxSchedules: 500, op: 'assign' });
  const [race, setRace] = useState<RaceReport | { error: string } | undefined>();
  const [replayAt, setReplayAt] = useState(0);
  const t0 = useRef(0);
  const renderMs = useRef<HTMLSpanElement>(null);
  const prevDump = useRef<{ key: string; text: string }>({ key: '', text: '' });
  /** The dump last rendered, so a step does not compute the "before" dump again. */
  const lastDump = useRef<{ key: string; text: string }>({ key: '', text: '' });
  const lastWorld = useRef<unknown>(null);

  const w = world.current;
  const m = w.machine;
  const bump = () => setVersion((v) => v + 1);

  const replace = (next: World, s: Scenario) => {
    world.current = next;
    setScenario(s);
    setOutcome(undefined);
    bump();
  };

  const change = (patch: Partial<Record<keyof Scenario, unknown>>) => {
    try {
      const base: Record<string, unknown> = { ...scenario, ...patch, step: 0, attacks: [] };
      if (patch.arch !== undefined && patch.mechanism === undefined) delete base.mechanism;
      const s = parseScenario(base);
      setError(undefined);
      setRace(undefined);
      setCatResult(undefined);
      setPlaying(false);
      replace(new World(s), s);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const dumpKey = (mmIndex: number) => `${w.actions.length}:${mmIndex}`;
  const rememberDump = () => {
    const key = dumpKey(dumpMm);
    const mm = m.mms[dumpMm] ?? m.kernelMm;
    prevDump.current =
      lastDump.current.key === key && lastDump.current.text !== ''
        ? lastDump.current
        : { key, text: m.ptdump(mm) };
  };

  const step = () => {
    t0.current = performance.now();
    rememberDump();
    w.step();
    bump();
  };
  const stepBack = () => {
    t0.current = performance.now();
    const actions = withoutLastStep(w.actions);
    const next = worldAt(scenario, withoutLastStep(actions));
    // Keep the ptdump diff meaningful: the state before the step we land on.
    const mm = next.machine.mms[dumpMm] ?? next.machine.kernelMm;
    prevDump.current = { key: '', text: next.machine.ptdump(mm) };
    next.replay(actions.slice(next.actions.length));
    world.current = next;
    setOutcome(undefined);
    bump();
  };
  const reset = () => {
    t0.current = performance.now();
    prevDump.current = { key: '', text: '' };
    setPlaying(false);
    replace(new World({ ...scenario, step: 0 }), scenario);
  };
  const attack = (cpu: number) => {
    t0.current = performance.now();
    rememberDump();
    setOutcome(w.attack(cpu, what));
    bump();
  };

  useEffect(() => {
    if (!playing) return;
    const id = setInterval(() => {
      const cur = world.current;
      if (cur.done) {
        setPlaying(false);
        return;
      }
      t0.current = performance.now();
      cur.step();
      bump();
    }, speed);
    return () => clearInterval(id);
  }, [playing, speed]);

  // The URL holds the scenario and the position: a link reproduces it.
  useEffect(() => {
    const q = scenarioToQuery({ ...scenario, ...positionOf(w.actions) });
    if (location.search !== q) history.replaceState(null, '', q);
  });

  // Step render time: from the click to the committed, laid-out DOM.
  useLayoutEffect(() => {
    if (t0.current === 0) return;
    void document.body.offsetHeight;
    const ms = performance.now() - t0.current;
    t0.current = 0;
    if (renderMs.current) {
      renderMs.current.textContent = ms.toFixed(1);
      renderMs.current.dataset.ms = String(ms);
    }
  });

  const states = Array.from({ length: m.cpuCount }, (_, i) => cpuState(m, i, w.target, all));
  const last = w.history[w.history.length - 1];
  const label =
    w.steps === 0 ? 'ready: nothing performed yet' : `step ${w.steps}: ${lastStepLabel(w)}`;
  const mms = m.mms;
  const walkTarget = walkInput === '' ? hex(w.target) : walkInput;
  const parsedVa = Number.parseInt(walkTarget.replace(/^0x/i, ''), 16);
  const walk = walkVa(m, mms[walkMm] ?? m.kernelMm, Number.isNaN(parsedVa) ? -1 : parsedVa);
  const dumpMmObj = mms[dumpMm] ?? m.kernelMm;
  if (lastDump.current.key !== dumpKey(dumpMm) || lastWorld.current !== w.machine) {
    lastDump.current = { key: dumpKey(dumpMm), text: m.ptdump(dumpMmObj) };
    lastWorld.current = w.machine;
  }
  const dump = lastDump.current.text;
  const before = new Set(prevDump.current.text.split('\n'));
  const dumpLines = dump.split('\n').filter((l) => l !== '');
  const el2 = m.backend.name === 'arm64';
  const faults = w.history.flatMap((r) =>
    r.trace.filter((e) => e.cat === 'fault').map((e) => ({ step: r.index + 1, e })),
  );
  const backend = BACKENDS[scenario.arch];

  const runAttack = async () => {
    setCatResult(undefined);
    try {
      setCatResult(
        await runCatalogueAttack(attackId, scenario.arch, scenario.mechanism, scenario.seed),
      );
    } catch (e) {
      setCatResult({ error: (e as Error).message });
    }
  };
  const runExplore = () => {
    try {
      setRace(exploreRaces(scenario.arch, scenario.mechanism, bound));
      setReplayAt(0);
    } catch (e) {
      setRace({ error: (e as Error).message });
    }
  };
  const replay = useMemo(
    () =>
      race && 'schedules' in race && race.violation
        ? replayRace(
            scenario.arch,
            scenario.mechanism,
            race.bound,
            race.violation.choices,
            replayAt,
          )
        : undefined,
    [race, replayAt, scenario.arch, scenario.mechanism],
  );

  return (
    <main>
      <header>
        <h1>prmem explorer</h1>
        <p class="sub">
          A write-rare window, one architectural step at a time, on every CPU. The model is prmem's
          own packages running in this page.
        </p>
      </header>
      <section class="controls">
        <label>
          backend
          <select
            data-testid="arch"
            value={scenario.arch}
            onChange={(e) => change({ arch: e.currentTarget.value })}
          >
            {Object.keys(BACKENDS).map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          mechanism
          <select
            data-testid="mechanism"
            value={scenario.mechanism}
            onChange={(e) => change({ mechanism: e.currentTarget.value })}
          >
            {backend.mechanisms.map((x) => (
              <option key={x} value={x}>
                {x}
              </option>
            ))}
          </select>
        </label>
        <label>
          CPUs
          <input
            data-testid="cpus"
            type="number"
            min={1}
            max={8}
            value={scenario.cpus}
            onChange={(e) => change({ cpus: Number(e.currentTarget.value) })}
          />
        </label>
        <label>
          seed
          <input
            data-testid="seed"
            type="number"
            min={0}
            value={scenario.seed}
            onChange={(e) => change({ seed: Number(e.currentTarget.value) })}
          />
        </label>
        <label>
          operation
          <select
            data-testid="operation"
            value={scenario.op}
            onChange={(e) => change({ op: e.currentTarget.value as Operation })}
          >
            {OPERATIONS.map((o) => (
              <option key={o} value={o}>
                {OPERATION_TITLES[o]}
              </option>
            ))}
          </select>
        </label>
        <label class="row">
          <input
            type="checkbox"
            data-testid="fill"
            checked={scenario.fill}
            onChange={(e) => change({ fill: e.currentTarget.checked })}
          />{' '}
          fill every TLB first
        </label>
        <div class="buttons">
          <button type="button" data-testid="reset" onClick={reset}>
            reset
          </button>
          <button type="button" data-testid="step-back" disabled={w.steps === 0} onClick={stepBack}>
            step back
          </button>
          <button type="button" data-testid="step" disabled={w.done} onClick={step}>
            step
          </button>
          <button
            type="button"
            data-testid="play"
            disabled={w.done}
            onClick={() => setPlaying(!playing)}
          >
            {playing ? 'pause' : 'play'}
          </button>
          <label>
            every
            <select
              data-testid="speed"
              value={speed}
              onChange={(e) => setSpeed(Number(e.currentTarget.value))}
            >
              {[100, 400, 1000].map((v) => (
                <option key={v} value={v}>
                  {v} ms
                </option>
              ))}
            </select>
          </label>
        </div>
        {error ? (
          <p class="error" data-testid="error">
            {error}
          </p>
        ) : null}
      </section>

      <section class="status">
        <div
          data-testid="step-label"
          class="step-label"
          data-step={w.steps}
          data-done={String(w.done)}
        >
          {label}
        </div>
        <div class="meta">
          target {hex(w.target)} ({scenario.op}); last action cost{' '}
          {last ? last.deltas.map((d) => `CPU${d.cpu} ${Math.round(d.cycles)}`).join(', ') : '-'}{' '}
          cycles; rendered in{' '}
          <span data-testid="render-ms" ref={renderMs}>
            -
          </span>{' '}
          ms
          {w.error ? <span class="error"> the operation failed: {String(w.error)}</span> : null}
        </div>
      </section>

      <section class="attack-bar">
        <label>
          another CPU writes
          <select
            data-testid="attack-what"
            value={what}
            onChange={(e) => setWhat(e.currentTarget.value as AttackWhat)}
          >
            {ATTACK_WHATS.map((x) => (
              <option key={x} value={x}>
                {WHAT_TITLES[x]}
              </option>
            ))}
          </select>
        </label>
        <label>
          <input
            type="checkbox"
            data-testid="tlb-all"
            checked={all}
            onChange={(e) => setAll(e.currentTarget.checked)}
          />{' '}
          all TLB entries (else those of the target's frame)
        </label>
        <div
          data-testid="outcome"
          class={`outcome ${outcome ? (outcome.landed ? 'landed' : 'faulted') : ''}`}
          data-landed={outcome ? String(outcome.landed) : ''}
        >
          {outcome
            ? outcome.landed
              ? `LANDED: ${outcome.detail}`
              : outcome.fault
                ? `FAULT: ${outcome.detail} — fault record: address ${hex(outcome.fault.address)}, ${outcome.fault.access}, ${outcome.fault.reason}, CPU${outcome.fault.cpu}`
                : `refused: ${outcome.detail}`
            : 'no attack yet'}
        </div>
      </section>

      <section class="cpus">
        {states.map((s) => (
          <CpuCard key={s.id} state={s} onAttack={attack} canAttack />
        ))}
      </section>

      <section class="panel">
        <h2>Timeline</h2>
        <Timeline history={w.history} cpus={m.cpuCount} el2={el2} />
        {faults.length > 0 ? (
          <ul class="faults" data-testid="faults">
            {faults.map(({ step: s, e }, i) => (
              <li key={`f${i}`}>
                {`#${s} CPU${e.tid}: ${e.name} ${e.args ? JSON.stringify({ ...e.args, va: hex(Number(e.args.va)) }) : ''}`}
              </li>
            ))}
          </ul>
        ) : null}
      </section>

      <section class="panel two">
        <div>
          <h2>Page walk</h2>
          <label>
            VA
            <input
              data-testid="walk-va"
              value={walkTarget}
              onInput={(e) => setWalkInput(e.currentTarget.value)}
            />
          </label>
          <label>
            in mm
            <select
              data-testid="walk-mm"
              value={walkMm}
              onChange={(e) => setWalkMm(Number(e.currentTarget.value))}
            >
              {mms.map((mm, i) => (
                <option key={mm.id} value={i}>
                  {mm.name} (asid {mm.asid})
                </option>
              ))}
            </select>
          </label>
          <div
            data-testid="walk-result"
            class="walk"
            data-pa={walk.pa === undefined ? '' : String(walk.pa)}
          >
            <table>
              <tbody>
                {walk.levels.map((l) => (
                  <tr key={`${l.stage}${l.name}`} class={`stage${l.stage}`}>
                    <th>{l.name}</th>
                    <td class="raw">{l.raw}</td>
                    <td>{l.kind}</td>
                    <td class="fields">
                      {l.fields.map(([k, v]) => (
                        <span key={k} class="field">
                          {k}={v}{' '}
                        </span>
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p>
              {walk.pa !== undefined ? `→ PA ${hex(walk.pa)}` : `no translation: ${walk.fault}`}
            </p>
          </div>
        </div>
        <div>
          <h2>ptdump</h2>
          <select
            data-testid="ptdump-mm"
            value={dumpMm}
            onChange={(e) => setDumpMm(Number(e.currentTarget.value))}
          >
            {mms.map((mm, i) => (
              <option key={mm.id} value={i}>
                {mm.name}
              </option>
            ))}
          </select>
          <pre data-testid="ptdump" class="ptdump">
            {dumpLines.map((l, i) => (
              <div
                key={`${i}`}
                class={prevDump.current.text !== '' && !before.has(l) ? 'changed' : ''}
              >
                {l}
              </div>
            ))}
          </pre>
        </div>
      </section>

      <section class="panel two">
        <div>
          <h2>Attack catalogue</h2>
          <select
            data-testid="catalogue-attack"
            value={attackId}
            onChange={(e) => setAttackId(e.currentTarget.value)}
          >
            {ATTACKS.map((a) => (
              <option key={a.id} value={a.id}>
                {a.id}: {a.title}
              </option>
            ))}
          </select>
          <button type="button" data-testid="catalogue-run" onClick={runAttack}>
            run on {scenario.arch}/{scenario.mechanism}
          </button>
          <p class="desc">{ATTACKS.find((a) => a.id === attackId)?.description}</p>
          <div data-testid="catalogue-result" class="result">
            {catResult ? ('error' in catResult ? catResult.error : renderCat(catResult)) : null}
          </div>
        </div>
        <div>
          <h2>Races</h2>
          <p class="desc">
            Every interleaving of a writer on CPU0 and an attacker's plain writes on CPU1 (and
            nothing else), depth-first, up to the bound.
          </p>
          <label>
            writer does
            <select
              data-testid="explore-op"
              value={bound.op}
              onChange={(e) => setBound({ ...bound, op: e.currentTarget.value as RaceBound['op'] })}
            >
              <option value="assign">wrAssign</option>
              <option value="memcpy">wrMemcpy</option>
              <option value="protect">protect</option>
            </select>
          </label>
          <label>
            attacker writes
            <input
              data-testid="explore-attempts"
              type="number"
              min={1}
              max={4}
              value={bound.attempts}
              onChange={(e) => setBound({ ...bound, attempts: Number(e.currentTarget.value) })}
            />
          </label>
          <label>
            at most
            <input
              data-testid="explore-max"
              type="number"
              min={1}
              max={20000}
              value={bound.maxSchedules}
              onChange={(e) => setBound({ ...bound, maxSchedules: Number(e.currentTarget.value) })}
            />{' '}
            schedules
          </label>
          <button type="button" data-testid="explore" onClick={runExplore}>
            explore
          </button>
          <div
            data-testid="explore-result"
            class="result"
            data-window={race && 'schedules' in race ? String(race.violation !== undefined) : ''}
          >
            {race ? ('schedules' in race ? renderRace(race) : race.error) : null}
          </div>
          {replay && race && 'schedules' in race ? (
            <div class="replay" data-testid="replay">
              <button
                type="button"
                data-testid="replay-back"
                disabled={replayAt === 0}
                onClick={() => setReplayAt(replayAt - 1)}
              >
                back
              </button>
              <button
                type="button"
                data-testid="replay-step"
                disabled={replayAt >= replay.total}
                onClick={() => setReplayAt(replayAt + 1)}
              >
                next
              </button>{' '}
              step {replayAt} of {replay.total}
              <ol>
                {replay.steps.map((s, i) => (
                  <li key={`r${i}`}>
                    {s.program}: {s.label}
                  </li>
                ))}
              </ol>
              <p>
                {Array.from({ length: replay.machine.cpuCount }, (_, i) => {
                  const c = replay.machine.cpu(i);
                  return `CPU${i}: ${c.mm.name}${replay.machine.windowOpen(c) ? ', window open' : ''}${c.irqsDisabled ? ', IRQs off' : ''}`;
                }).join(' · ')}
              </p>
              {replay.violation ? <p class="error">{replay.violation}</p> : null}
            </div>
          ) : null}
        </div>
      </section>
    </main>
  );
}

function lastStepLabel(w: World): string {
  for (let i = w.history.length - 1; i >= 0; i--)
    if (w.history[i].kind === 'step') return w.history[i].label;
  return '';
}

function renderCat(run: CatalogueRun) {
  const r = run.result;
  return (
    <>
      <p data-outcome={r.outcome}>
        <b>{r.outcome}</b> (expected {r.expected}
        {r.match ? '' : ', MISMATCH'}) {r.reason ? `— ${r.reason}` : ''}
      </p>
      <p>{r.detail}</p>
      {r.refusal ? <p>refusal: {r.refusal}</p> : null}
      {r.events.length > 0 ? <p>security events: {r.events.join(', ')}</p> : null}
      <details data-testid="catalogue-steps">
        <summary>
          {run.steps.length} machine events of the traced run (outcome {run.tracedOutcome})
        </summary>
        <ol class="steps">
          {run.steps.map((e, i) => (
            <li key={`s${i}`}>
              {`CPU${e.tid} @${e.ts.toFixed(3)} µs ${e.cat}: ${e.name}${e.args ? ` ${JSON.stringify(e.args)}` : ''}`}
            </li>
          ))}
        </ol>
      </details>
    </>
  );
}

function renderRace(r: RaceReport) {
  return (
    <>
      <p>
        {r.schedules} schedules{' '}
        {r.complete
          ? '(every one within the bound)'
          : r.violation
            ? '(stopped at the first violating one)'
            : `(the bound of ${r.bound.maxSchedules} was reached first)`}{' '}
        in {r.ms} ms on {r.combo}, attacker writes ≤ {r.bound.attempts}.
      </p>
      <p>
        {r.violation ? (
          <b>write window exists: {r.violation.message}</b>
        ) : (
          <b>no write window: no schedule let another CPU's write land</b>
        )}
        {r.documentedWindow ? ' (the catalogue documents a window for this mechanism)' : ''}
      </p>
    </>
  );
}
