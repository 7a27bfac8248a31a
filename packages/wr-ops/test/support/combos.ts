/**
 * Every backend + mechanism the tests run on: core's reference toy backend, plus every
 * built-in arch package (core's registry: `repositoryBackends`, `backendCombos`).
 */
import {
  type BackendCombo,
  backendCombos,
  createMachine,
  type Machine,
  VM,
  type VmapArea,
} from '@prmem/core';
import { repositoryBackends } from '@prmem/core/testing';

export type Combo = BackendCombo;

export const BACKENDS = await repositoryBackends((pkg) => import(pkg));

/** Cost profiles change costs only: the tests run each backend's own. */
export const COMBOS: readonly Combo[] = backendCombos(BACKENDS, { profiles: false });

/**
 * Combinations that fail a test because of a bug in their backend (not in wr-ops), by
 * test key. Each entry runs as `it.fails`, so the suite notices when it gets fixed.
 * (Empty: arm64 alias-mm and the toy's remap now keep concurrent windows apart.)
 */
export const KNOWN_ISSUES: Readonly<Record<string, readonly string[]>> = {};

export function knownIssue(test: string, combo: Combo): boolean {
  return KNOWN_ISSUES[test]?.includes(combo.label) ?? false;
}

export const WR_FLAGS = VM.PMALLOC | VM.PMALLOC_WR;

/** A machine with write-rare memory of both kinds, and RO/ordinary memory to refuse. */
export interface World {
  readonly m: Machine;
  /** A 3-page write-rare pool area. */
  readonly pool: VmapArea;
  /** A second write-rare area (after the first one's guard page). */
  readonly pool2: VmapArea;
  /** An RO pool area (VM_PMALLOC without _WR), protected read-only. */
  readonly roPool: VmapArea;
  /** A pool area in the write-rare range whose pool is RO-mode but not protected yet. */
  readonly rwRoPool: VmapArea;
  /** An ordinary vmalloc area. */
  readonly vmalloc: VmapArea;
  /** 8 KiB in .data..wr_after_init (crosses a page boundary). */
  readonly wrStatic: number;
  readonly wrStaticSize: number;
  readonly rodata: number;
  readonly roAfterInit: number;
  readonly data: number;
}

export async function makeWorld(
  combo: Combo,
  opts: { cpus?: number; protect?: boolean; seed?: number } = {},
): Promise<World> {
  const m = await createMachine({
    arch: combo.backend,
    mechanism: combo.mechanism,
    cpus: opts.cpus ?? 2,
    memoryMiB: 16,
    seed: opts.seed ?? 7,
  });
  const rodata = m.defineStatic('.rodata', 64, 'const_table');
  const roAfterInit = m.defineStatic('.data..ro_after_init', 64, 'ro_after_init_var');
  m.defineStatic('.data..wr_after_init', 24, 'wr_pad'); // so wrStatic starts mid-page
  const wrStaticSize = 8192;
  const wrStatic = m.defineStatic('.data..wr_after_init', wrStaticSize, 'wr_static');
  const data = m.defineStatic('.data', 64, 'plain_var');
  const pool = m.vmalloc(3 * 4096, { range: 'wr', flags: WR_FLAGS, name: 'wr-pool' });
  const pool2 = m.vmalloc(4096, { range: 'wr', flags: WR_FLAGS, name: 'wr-pool-2' });
  const roPool = m.vmalloc(4096, { range: 'wr', flags: VM.PMALLOC, name: 'ro-pool' });
  const rwRoPool = m.vmalloc(4096, { range: 'wr', flags: VM.PMALLOC, name: 'ro-pool-unprotected' });
  const vmalloc = m.vmalloc(4096, { name: 'plain-vmalloc' });
  const cpu = m.cpu(0);
  // Recognizable contents everywhere, written while everything is still writable.
  for (const a of [pool, pool2, roPool, rwRoPool, vmalloc])
    cpu.writeBytes(a.start, pattern(a.size, a.id));
  cpu.writeBytes(wrStatic, pattern(wrStaticSize, 99));
  for (const va of [rodata, roAfterInit, data]) cpu.writeBytes(va, pattern(64, va % 251));
  if (opts.protect ?? true) {
    m.finishBoot();
    m.protect(pool.start, pool.size, 'wr');
    m.protect(pool2.start, pool2.size, 'wr');
    m.protect(roPool.start, roPool.size, 'ro');
  }
  m.resetStats();
  return {
    m,
    pool,
    pool2,
    roPool,
    rwRoPool,
    vmalloc,
    wrStatic,
    wrStaticSize,
    rodata,
    roAfterInit,
    data,
  };
}

export function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 17 + (i >> 8)) & 0xff;
  return b;
}

/** Undefined if equal, else where the first difference is (fast: no deep-equality walk). */
export function diffBytes(got: Uint8Array, want: Uint8Array): string | undefined {
  if (got.length !== want.length) return `length ${got.length} != ${want.length}`;
  if (Buffer.compare(got, want) === 0) return undefined;
  const i = got.findIndex((b, k) => b !== want[k]);
  return `byte ${i}: got ${got[i]}, want ${want[i]}`;
}

/**
 * The whole machine, for "a refused call changes nothing": physical memory, frame
 * metadata, free frames, every counter and clock (m.stats()), every CPU's TLB, the areas,
 * open windows, and the number of security events.
 */
export function machineState(m: Machine): { memory: Uint8Array; rest: string; events: number } {
  const b64 = (a: ArrayBufferView) =>
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
  const cpus = Array.from({ length: m.cpuCount }, (_, i) => i);
  return {
    memory: m.phys.bytes.slice(),
    events: m.securityEvents().length,
    rest: JSON.stringify({
      free: m.phys.freeFrames,
      frames: [m.phys.frameFlags, m.phys.frameOwner, m.phys.frameArea].map(b64),
      stats: m.stats(),
      tlbs: cpus.map((i) => {
        const t = m.cpu(i).tlb;
        return [t.tag, t.rtag, t.wtag, t.pa, t.addend, t.flags].map(b64).join('|');
      }),
      windows: cpus.map((i) => m.windowOpen(i)),
      areas: m.liveAreas.map((a) => `${a.id}:${a.level}:${a.flags}`),
    }),
  };
}

/** Throws unless only the security-event count changed, by `events`. */
export function expectUnchanged(
  before: ReturnType<typeof machineState>,
  after: ReturnType<typeof machineState>,
  events = 0,
): void {
  if (Buffer.compare(before.memory, after.memory) !== 0) {
    const i = before.memory.findIndex((b, k) => b !== after.memory[k]);
    throw new Error(`physical memory changed at pa 0x${i.toString(16)}`);
  }
  if (after.rest !== before.rest) {
    const a = JSON.parse(before.rest) as Record<string, unknown>;
    const b = JSON.parse(after.rest) as Record<string, unknown>;
    const keys = Object.keys(a).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    throw new Error(`machine state changed: ${keys.join(', ')}`);
  }
  if (after.events !== before.events + events)
    throw new Error(`${after.events - before.events} security events, expected ${events}`);
}
