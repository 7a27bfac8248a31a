import type { TraceEvent } from '@prmem/core';
import type { StepRecord } from '../model/world.js';

const COL = 120;
const LANE = 46;
const LEFT = 56;

const SHORT: Readonly<Record<string, string>> = {
  pteWrite: 'pte',
  localFlushPage: 'invlpg',
  localFlushAll: 'flush all',
  localFlushAsid: 'flush asid',
  ipiSent: 'ipi→',
  ipiHandled: '→ipi',
  tlbiBroadcast: 'tlbi is',
  dsb: 'dsb',
  mmSwitch: 'mm switch',
  hypercall: 'hvc',
  fault: 'fault',
  spuriousFault: 'spurious',
  irqToggle: 'irq',
  cr0Write: 'cr0',
  pkrsWrite: 'pkrs',
  wrWindow: 'window',
  wrBytes: 'bytes',
  stage2Fault: 's2 fault',
  tlbMiss: 'miss',
  pageWalk: 'walk',
  cacheFlush: 'dcache',
  barrier: 'mb',
};

function kindOf(e: TraceEvent): string {
  if (e.cat === 'hvc') return 'hypercall';
  if (e.cat === 'fault') return 'fault';
  if (e.cat === 'tlbi') return 'tlbi';
  if (e.cat === 'mm') return 'mm';
  if (e.cat === 'security') return 'security';
  return e.cat;
}

/**
 * Events per CPU lane, one column per step: each CPU's counted events and modeled cycles,
 * IPIs as arrows from sender to target, hypercalls as arrows into an EL2 lane, faults with
 * their fault record.
 */
export function Timeline(props: { history: readonly StepRecord[]; cpus: number; el2: boolean }) {
  const { history, cpus, el2 } = props;
  const lanes = cpus + (el2 ? 1 : 0);
  const width = LEFT + Math.max(history.length, 4) * COL;
  const height = lanes * LANE + 24;
  const laneY = (i: number) => 20 + i * LANE;
  return (
    <div class="timeline-scroll">
      <svg
        data-testid="timeline"
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label="events per CPU, one column per step"
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="6"
            markerHeight="6"
            orient="auto"
          >
            <path d="M0,0 L10,5 L0,10 z" fill="#b03060" />
          </marker>
        </defs>
        {Array.from({ length: lanes }, (_, i) => (
          <g key={`lane${i}`}>
            <line
              x1={LEFT}
              x2={width}
              y1={laneY(i) + LANE / 2}
              y2={laneY(i) + LANE / 2}
              class="lane"
            />
            <text x={4} y={laneY(i) + LANE / 2 + 4} class="lane-name">
              {i < cpus ? `CPU${i}` : 'EL2'}
            </text>
          </g>
        ))}
        {history.map((rec, col) => {
          const x = LEFT + col * COL;
          const flows = new Map<number, { from?: number; to?: number }>();
          for (const e of rec.trace) {
            // IPI arrows only: a hypercall's flow (cat 'hvc') is drawn into the EL2 lane.
            if ((e.ph !== 's' && e.ph !== 'f') || e.cat !== 'ipi') continue;
            const f = flows.get(e.id ?? 0) ?? {};
            if (e.ph === 's') f.from = e.tid;
            else f.to = e.tid;
            flows.set(e.id ?? 0, f);
          }
          return (
            <g key={`c${rec.index}`} data-step={rec.index} class={`col ${rec.kind}`}>
              <text x={x + 4} y={12} class="col-label">
                {`${rec.index + 1}. ${rec.label}`.slice(0, 20)}
                <title>{rec.label}</title>
              </text>
              {rec.deltas.map((d) => {
                const names = Object.keys(d.events).filter(
                  (n) => n !== 'tlbMiss' && n !== 'pageWalk',
                );
                if (d.cycles === 0 && names.length === 0) return null;
                const y = laneY(d.cpu);
                return (
                  <g key={`d${d.cpu}`} data-cpu={d.cpu}>
                    <rect
                      x={x + 4}
                      y={y + 6}
                      width={COL - 8}
                      height={LANE - 12}
                      rx={3}
                      class="box"
                    />
                    <text x={x + 8} y={y + 20} class="ev">
                      {names
                        .map(
                          (n) =>
                            `${SHORT[n] ?? n}${(d.events[n as keyof typeof d.events] ?? 0) > 1 ? `×${d.events[n as keyof typeof d.events]}` : ''}`,
                        )
                        .join(' ')
                        .slice(0, 22)}
                    </text>
                    <text x={x + 8} y={y + 33} class="cyc">
                      {`${Math.round(d.cycles)} cyc`}
                    </text>
                    <title>{`CPU${d.cpu}: ${Math.round(d.cycles)} cycles (clock ${Math.round(d.clock)}); ${JSON.stringify(d.events)}`}</title>
                  </g>
                );
              })}
              {[...flows.values()].map((f, i) =>
                f.from !== undefined && f.to !== undefined ? (
                  <line
                    key={`f${i}`}
                    data-kind="ipi"
                    x1={x + 20 + i * 6}
                    x2={x + 20 + i * 6}
                    y1={laneY(f.from) + LANE / 2}
                    y2={laneY(f.to) + (f.to > f.from ? 6 : LANE - 6)}
                    class="ipi"
                    marker-end="url(#arrow)"
                  />
                ) : null,
              )}
              {rec.trace
                // Instants (faults, security events, ...) on CPU lanes, and each hypercall
                // once: the opening of its HVC slice on the calling CPU's track.
                .filter((e) => e.tid < cpus && (e.ph === 'i' || (e.ph === 'B' && e.cat === 'hvc')))
                .map((e, i) => {
                  const kind = kindOf(e);
                  const y = laneY(e.tid) + LANE / 2;
                  if (kind === 'hypercall' && el2)
                    return (
                      <g key={`t${i}`} data-kind="hypercall">
                        <line
                          x1={x + 60}
                          x2={x + 60}
                          y1={y}
                          y2={laneY(cpus) + 8}
                          class="hvc"
                          marker-end="url(#arrow)"
                        />
                        <text x={x + 64} y={laneY(cpus) + 28} class="ev">
                          {e.name}
                        </text>
                      </g>
                    );
                  return (
                    <g key={`t${i}`} data-kind={kind}>
                      <circle cx={x + COL - 14 - i * 8} cy={y - 12} r={4} class={`mark ${kind}`} />
                      <title>{`${e.name}${e.args ? ` ${JSON.stringify(e.args)}` : ''}`}</title>
                    </g>
                  );
                })}
            </g>
          );
        })}
      </svg>
    </div>
  );
}
