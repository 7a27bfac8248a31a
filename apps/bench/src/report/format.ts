import { EVENT_NAMES, type EventName } from '@prmem/core';
import type { ResultRow } from '../results.js';

/** A figure with sensible precision: integers grouped, small values with decimals. */
export function num(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 100) return Math.round(x).toLocaleString('en-US');
  if (a >= 10) return x.toFixed(1);
  if (a >= 0.01) return x.toFixed(2).replace(/\.?0+$/, '');
  if (a >= 0.0001) return x.toFixed(4).replace(/0+$/, '');
  return x.toExponential(1);
}

export function rate(opsPerSec: number): string {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)} M/s`;
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)} k/s`;
  return `${opsPerSec.toFixed(1)} /s`;
}

/** Events a reader compares mechanisms by (memAccess and wrBytes are payload, not overhead). */
export const KEY_EVENTS: readonly EventName[] = EVENT_NAMES.filter(
  (n) => n !== 'memAccess' && n !== 'wrBytes',
);

/** Non-zero overhead events of a row, `name n` joined. */
export function eventList(row: ResultRow, sep = ', '): string {
  const parts: string[] = [];
  for (const n of KEY_EVENTS) {
    const v = row.modeled.events[n];
    if (v > 0) parts.push(`${n} ${num(v)}`);
  }
  return parts.join(sep) || '—';
}

/** Unique values in first-seen order. */
export function uniq<T>(xs: Iterable<T>): T[] {
  return [...new Set(xs)];
}

/** (workload, phase) pairs in the order they were run. */
export function phasesOf(rows: readonly ResultRow[]): { workload: string; phase: string }[] {
  const seen = new Set<string>();
  const out: { workload: string; phase: string }[] = [];
  for (const r of rows) {
    const k = `${r.workload}\u0000${r.phase}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ workload: r.workload, phase: r.phase });
  }
  return out;
}
