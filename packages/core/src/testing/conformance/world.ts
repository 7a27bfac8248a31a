/**
 * The machine every conformance rule starts from: two CPUs, a protected write-rare pool
 * area, a read-only pool area, an ordinary vmalloc area and write-rare statics, built with
 * the backend under test alone (nothing of any other backend is imported).
 */
import {
  type Backend,
  createMachine,
  type Machine,
  PAGE_SIZE,
  VM,
  type VmapArea,
} from '../../index.js';

export interface World {
  readonly m: Machine;
  /** Three pages of write-rare pool memory, protected 'wr'. */
  readonly wr: VmapArea;
  /** One page of a read-only pool, protected 'ro'. */
  readonly ro: VmapArea;
  /** Four pages of ordinary vmalloc memory (writable). */
  readonly plain: VmapArea;
  /** 6 KiB of `.data..wr_after_init`, starting mid-page. */
  readonly wrStatic: number;
  readonly wrStaticSize: number;
  /** A plain `.data` variable (writable, not write-rare). */
  readonly data: number;
}

export interface WorldOptions {
  readonly mechanism?: string;
  readonly cpus?: number;
  readonly seed?: number;
}

export const WR_STATIC_SIZE = 6144;

export async function makeWorld(backend: Backend, opts: WorldOptions = {}): Promise<World> {
  const m = await createMachine({
    arch: backend,
    ...(opts.mechanism === undefined ? {} : { mechanism: opts.mechanism }),
    cpus: opts.cpus ?? 2,
    memoryMiB: 16,
    seed: opts.seed ?? 11,
  });
  m.defineStatic('.data..wr_after_init', 40, 'conformance_pad');
  const wrStatic = m.defineStatic('.data..wr_after_init', WR_STATIC_SIZE, 'conformance_wr');
  const data = m.defineStatic('.data', 64, 'conformance_data');
  const wr = m.vmalloc(3 * PAGE_SIZE, {
    range: 'wr',
    flags: VM.PMALLOC | VM.PMALLOC_WR,
    name: 'conformance-wr',
  });
  const ro = m.vmalloc(PAGE_SIZE, { range: 'wr', flags: VM.PMALLOC, name: 'conformance-ro' });
  const plain = m.vmalloc(4 * PAGE_SIZE, { name: 'conformance-plain' });
  const cpu = m.cpu(0);
  for (const a of [wr, ro, plain]) cpu.writeBytes(a.start, pattern(a.size, a.id));
  cpu.writeBytes(wrStatic, pattern(WR_STATIC_SIZE, 5));
  m.finishBoot();
  m.protect(wr.start, wr.size, 'wr');
  m.protect(ro.start, ro.size, 'ro');
  m.resetStats();
  return { m, wr, ro, plain, wrStatic, wrStaticSize: WR_STATIC_SIZE, data };
}

/** Recognisable bytes, different per seed. */
export function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return b;
}

/** A failed rule: what was expected, what the backend did. */
export class ConformanceViolation extends Error {
  constructor(
    readonly rule: string,
    message: string,
  ) {
    super(`${rule}: ${message}`);
    this.name = 'ConformanceViolation';
  }
}

export function check(cond: boolean, rule: string, message: () => string): asserts cond {
  if (!cond) throw new ConformanceViolation(rule, message());
}

export const hex = (n: number) => `0x${n.toString(16)}`;

/** Index of the first differing byte, or -1 when equal (lengths included). */
export function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
