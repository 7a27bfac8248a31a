/**
 * The verdict: one row per mechanism that a reader takes in at a glance — what one write
 * costs, how that cost grows with CPUs, what cross-CPU work it causes, and the security
 * properties the attack suite measured. The terminal summary and the report share it.
 */
import type { BenchResults, ResultRow } from '../results.js';

/** How a cost grows with the CPU count over the sweep. */
export interface Scaling {
  readonly kind: 'flat' | 'linear' | 'grows' | 'unknown';
  /** Least-squares slope, cycles per added CPU. */
  readonly slope: number;
  /** Exponent of the log–log fit (how fast a non-linear cost grows). */
  readonly exponent: number;
}

/** A growth under this fraction across the whole sweep counts as flat. */
export const FLAT_GROWTH = 0.05;
/** A straight line explaining this share of the variance counts as linear growth. */
export const LINEAR_R2 = 0.95;

function fit(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, x) => a + x, 0) / n;
  const my = ys.reduce((a, y) => a + y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
  }
  return sxx === 0 ? 0 : sxy / sxx;
}

/** Classifies cost against CPU count from (cpus, cycles) points. */
export function scalingOf(points: readonly { cpus: number; cycles: number }[]): Scaling {
  const pts = points.filter((p) => p.cycles > 0).sort((a, b) => a.cpus - b.cpus);
  if (pts.length < 2) return { kind: 'unknown', slope: 0, exponent: 0 };
  const xs = pts.map((p) => p.cpus);
  const ys = pts.map((p) => p.cycles);
  const slope = fit(xs, ys);
  const exponent = fit(xs.map(Math.log), ys.map(Math.log));
  const lo = Math.min(...ys);
  const growth = (Math.max(...ys) - lo) / lo;
  if (growth < FLAT_GROWTH) return { kind: 'flat', slope, exponent };
  // Linear when a straight line explains the points (R² of the least-squares fit).
  const my = ys.reduce((a, y) => a + y, 0) / ys.length;
  const mx = xs.reduce((a, x) => a + x, 0) / xs.length;
  let ssRes = 0;
  let ssTot = 0;
  for (let i = 0; i < xs.length; i++) {
    ssRes += (ys[i] - (my + slope * (xs[i] - mx))) ** 2;
    ssTot += (ys[i] - my) ** 2;
  }
  const r2 = ssTot === 0 ? 1 : 1 - ssRes / ssTot;
  return { kind: r2 >= LINEAR_R2 ? 'linear' : 'grows', slope, exponent };
}

export type Tone = 'good' | 'bad' | 'neutral' | 'unmeasured';

export interface PropertyCell {
  readonly text: string;
  readonly tone: Tone;
}

/** The four measured properties, with the answer that is good for a defender. */
export const PROPERTIES = [
  {
    key: 'windowVisibleToOtherCpus',
    label: 'write window visible to other CPUs',
    short: 'window seen by other CPUs',
    good: false,
  },
  {
    key: 'writableAliasReachable',
    label: 'writable alias reachable',
    short: 'writable alias',
    good: false,
  },
  {
    key: 'survivesPageTableAttack',
    label: 'survives a page-table attack',
    short: 'survives PT attack',
    good: true,
  },
  {
    key: 'windowOpensUnrelatedReadOnly',
    label: 'window opens unrelated read-only data',
    short: 'opens other RO data',
    good: false,
  },
] as const;

export interface VerdictRow {
  readonly variant: string;
  readonly assignCycles?: number;
  readonly memcpyCycles?: number;
  readonly scaling: Scaling;
  /** IPIs sent, broadcast TLBIs and hypercalls per wrAssign (full size). */
  readonly ipis?: number;
  readonly tlbis?: number;
  readonly hypercalls?: number;
  readonly properties: readonly PropertyCell[];
}

export const ASSIGN = { workload: 'wr-assign', phase: 'assign' } as const;
export const MEMCPY = { workload: 'wr-memcpy-page', phase: 'memcpy' } as const;

function row(
  r: BenchResults,
  variant: string,
  at: { workload: string; phase: string },
  scale: 'full' | 'sweep',
): ResultRow[] {
  return r.rows.filter(
    (x) =>
      x.variant === variant &&
      x.workload === at.workload &&
      x.phase === at.phase &&
      x.scale === scale,
  );
}

/** The scaling of a (workload, phase): its sweep if it has one. */
export function scalingFor(
  r: BenchResults,
  variant: string,
  at: { workload: string; phase: string },
): Scaling {
  return scalingOf(
    row(r, variant, at, 'sweep').map((x) => ({ cpus: x.cpus, cycles: x.modeled.cyclesPerOp })),
  );
}

export function propertyCells(r: BenchResults, variant: string): PropertyCell[] {
  const s = r.security.byVariant[variant];
  return PROPERTIES.map((p) => {
    if (!s?.summary) return { text: 'not measured', tone: 'unmeasured' as const };
    const v = s.summary[p.key];
    if (v === null) return { text: 'n/a', tone: 'neutral' as const };
    return { text: v ? 'yes' : 'no', tone: v === p.good ? ('good' as const) : ('bad' as const) };
  });
}

export function verdictRows(r: BenchResults): VerdictRow[] {
  return r.variants.map((v) => {
    const assign = row(r, v.id, ASSIGN, 'full')[0];
    const memcpy = row(r, v.id, MEMCPY, 'full')[0];
    return {
      variant: v.id,
      assignCycles: assign?.modeled.cyclesPerOp,
      memcpyCycles: memcpy?.modeled.cyclesPerOp,
      scaling: scalingFor(r, v.id, ASSIGN),
      ipis: assign?.modeled.events.ipiSent,
      tlbis: assign?.modeled.events.tlbiBroadcast,
      hypercalls: assign?.modeled.events.hypercall,
      properties: propertyCells(r, v.id),
    };
  });
}

/** `flat`, `linear, +1,600 cycles/CPU`, `grows ×n^0.5`. */
export function scalingText(s: Scaling, num: (x: number) => string): string {
  switch (s.kind) {
    case 'flat':
      return 'flat';
    case 'linear':
      return `linear, +${num(s.slope)} cycles/CPU`;
    case 'grows':
      return `grows ∝ CPUs^${s.exponent.toFixed(2)} (+${num(s.slope)} cycles/CPU)`;
    default:
      return '—';
  }
}
