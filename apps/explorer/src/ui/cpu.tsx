import { GLOBAL_TAG } from '@prmem/core';
import { memo } from 'preact/compat';
import type { CpuState, TlbRow } from '../model/cpustate.js';
import { hex } from '../model/world.js';

function RowImpl({ r }: { r: TlbRow }) {
  return (
    <tr
      class={`role-${r.role}${r.stale ? ' stale' : ''}${r.dead ? ' dead' : ''}`}
      data-role={r.role}
      data-global={String(r.global)}
      data-asid={String(r.asid)}
      data-writable={String(r.writable)}
      data-stale={String(r.stale !== undefined)}
      data-dead={String(r.dead)}
      title={r.dead ? 'dead: this PCID is flushed before the CPU can use it again' : undefined}
    >
      <td>{r.slot}</td>
      <td>{hex(r.va)}</td>
      <td>{hex(r.pa)}</td>
      <td>{r.asid === GLOBAL_TAG ? 'global' : `asid ${r.asid}`}</td>
      <td>{r.writable ? 'W' : '-'}</td>
      <td>{r.dirty ? 'D' : '-'}</td>
      <td>{r.role === 'other' ? '' : r.role}</td>
      <td>{r.stale ?? (r.dead ? 'dead PCID' : '')}</td>
    </tr>
  );
}

/** A row is re-rendered only when its entry changed. */
const Row = memo(
  RowImpl,
  (a, b) =>
    a.r.va === b.r.va &&
    a.r.pa === b.r.pa &&
    a.r.asid === b.r.asid &&
    a.r.writable === b.r.writable &&
    a.r.dirty === b.r.dirty &&
    a.r.role === b.r.role &&
    a.r.stale === b.r.stale &&
    a.r.dead === b.r.dead,
);

function TlbTableImpl({ cpu, rows }: { cpu: number; rows: readonly TlbRow[]; sig: number }) {
  return (
    <table class="tlb" data-testid={`tlb-cpu-${cpu}`}>
      <thead>
        <tr>
          <th>slot</th>
          <th>VA</th>
          <th>PA</th>
          <th>tag</th>
          <th>W</th>
          <th>D</th>
          <th>what</th>
          <th>stale?</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <Row key={r.slot} r={r} />
        ))}
      </tbody>
    </table>
  );
}

/** Re-rendered only when the rows changed (a step at 1,024 entries touches few of them). */
const TlbTable = memo(TlbTableImpl, (a, b) => a.sig === b.sig && a.cpu === b.cpu);

export function CpuCard(props: {
  state: CpuState;
  onAttack: (cpu: number) => void;
  canAttack: boolean;
}) {
  const s = props.state;
  return (
    <section class={`cpu${s.inWindow ? ' in-window' : ''}`} data-testid={`cpu-${s.id}`}>
      <h3>
        CPU{s.id}
        {s.inWindow ? <span class="badge window">write window open</span> : null}
        {s.irqsDisabled ? <span class="badge irq">IRQs off</span> : null}
      </h3>
      <dl class="regs">
        <dt>mm</dt>
        <dd data-testid={`mm-cpu-${s.id}`}>{s.mm}</dd>
        <dt>ASID/PCID</dt>
        <dd>{s.asid}</dd>
        <dt>IRQs</dt>
        <dd>{s.irqsDisabled ? 'disabled' : 'enabled'}</dd>
        <dt>preempt count</dt>
        <dd>{s.preemptCount}</dd>
        {s.wp !== undefined ? (
          <>
            <dt>CR0.WP</dt>
            <dd data-testid={`wp-cpu-${s.id}`}>
              {s.wp ? '1' : '0 (supervisor writes ignore R/W)'}
            </dd>
          </>
        ) : null}
        {s.pkrs !== undefined ? (
          <>
            <dt>PKRS key {s.pkrs.key}</dt>
            <dd data-testid={`pkrs-cpu-${s.id}`}>
              AD={s.pkrs.ad ? 1 : 0} WD={s.pkrs.wd ? 1 : 0}
              {s.pkrs.wd ? '' : ' (writes allowed)'}
            </dd>
          </>
        ) : null}
        {s.regs.map(([k, v]) => (
          <>
            <dt key={`k${k}`}>{k}</dt>
            <dd key={`v${k}`}>{v}</dd>
          </>
        ))}
      </dl>
      <div class="tlb-head">
        TLB: {s.tlb.length} shown of {s.tlbValid} valid
      </div>
      <div class={s.tlb.length > 12 ? 'tlb-scroll tall' : 'tlb-scroll'}>
        <TlbTable cpu={s.id} rows={s.tlb} sig={s.tlbHash} />
      </div>
      <button
        type="button"
        data-testid={`attack-cpu-${s.id}`}
        disabled={!props.canAttack}
        onClick={() => props.onAttack(s.id)}
      >
        CPU{s.id}: try a plain write
      </button>
    </section>
  );
}
