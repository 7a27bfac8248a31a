import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  drain,
  type Machine,
  PAGE_SIZE,
  PageFault,
  PhysMem,
  PrmemError,
  sessionOf,
} from '../src/index.js';
import { toyMachine } from './helpers.js';

// A size no other test of this file's process uses, so the spare memories are ours.
const MIB = 5;

/** A machine on new memory: builds until one is not recycled (the others stay alive). */
async function freshMachine(trace: boolean): Promise<Machine> {
  const held: Machine[] = [];
  for (;;) {
    const m = await toyMachine({ memoryMiB: MIB, trace, cpus: 2 });
    if (!m.phys.recycled) {
      for (const h of held) h.dispose();
      return m;
    }
    held.push(m);
  }
}

type Step =
  | { k: 'alloc'; pages: number; wr: boolean }
  | { k: 'write'; area: number; off: number; v: number; cpu: number }
  | { k: 'protect'; area: number; level: 'wr' | 'ro' }
  | { k: 'wr'; area: number; off: number; v: number }
  | { k: 'free'; area: number; quarantine: boolean };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    k: fc.constant('alloc' as const),
    pages: fc.integer({ min: 1, max: 3 }),
    wr: fc.boolean(),
  }),
  fc.record({
    k: fc.constant('write' as const),
    area: fc.nat(7),
    off: fc.nat(3 * PAGE_SIZE - 4),
    v: fc.nat(),
    cpu: fc.nat(1),
  }),
  fc.record({
    k: fc.constant('protect' as const),
    area: fc.nat(7),
    level: fc.constantFrom('wr' as const, 'ro' as const),
  }),
  fc.record({
    k: fc.constant('wr' as const),
    area: fc.nat(7),
    off: fc.nat(3 * PAGE_SIZE - 4),
    v: fc.nat(255),
  }),
  fc.record({ k: fc.constant('free' as const), area: fc.nat(7), quarantine: fc.boolean() }),
);

/** Runs the steps (refusals recorded, not thrown) and fingerprints everything observable. */
function runAndFingerprint(m: Machine, steps: readonly Step[]): string {
  const owner = m.registerOwner('dispose-test');
  const wrVar = m.defineStatic('.data..wr_after_init', 8, 'v');
  m.cpu(0).write32(wrVar, 0x1234);
  m.finishBoot();
  const areas: ReturnType<Machine['vmalloc']>[] = [];
  const log: string[] = [];
  for (const s of steps) {
    try {
      const a = areas.length > 0 && 'area' in s ? areas[s.area % areas.length] : undefined;
      if (s.k === 'alloc')
        areas.push(
          m.vmalloc(s.pages * PAGE_SIZE, s.wr ? { range: 'wr', owner, ceiling: 'wr' } : { owner }),
        );
      else if (!a) log.push('none');
      else if (s.k === 'write') m.cpu(s.cpu).write32(a.start + (s.off % (a.size - 4)), s.v >>> 0);
      else if (s.k === 'protect') m.protect(a.start, a.size, s.level, 0, owner);
      else if (s.k === 'wr') {
        const va = a.start + (s.off % (a.size - 1));
        log.push(
          ...sessionOf(m.mechanism, m.cpu(1), [{ kind: 'write', va, data: Uint8Array.of(s.v) }]),
        );
      } else m.vfree(a, { quarantine: s.quarantine, owner }, 1);
      log.push('ok');
    } catch (e) {
      log.push(e instanceof PrmemError ? e.code : String(e));
    }
  }
  drain(
    m.arch.flushKernelRange(m.cpu(0), areas[0]?.start ?? 0, (areas[0]?.start ?? 0) + PAGE_SIZE),
  );
  const h = createHash('sha256');
  h.update(log.join(','));
  h.update(m.phys.bytes);
  for (const a of [m.phys.frameFlags, m.phys.frameOwner, m.phys.frameArea])
    h.update(new Uint8Array(a.buffer));
  h.update(
    JSON.stringify([m.phys.freeFrames, m.stats(), m.securityEvents(), m.auditProtections()]),
  );
  for (let i = 0; i < m.cpuCount; i++) h.update(JSON.stringify([...m.cpu(i).tlb.entries()]));
  if (m.trace.enabled) h.update(JSON.stringify(m.toChromeTrace()));
  return h.digest('hex');
}

describe('Machine.dispose: memory recycled for the next machine', () => {
  it('a machine on a disposed machine’s memory runs every program exactly as one on new memory', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(stepArb, { maxLength: 30 }),
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(MIB * 1024 * 1024 - 1), fc.integer({ min: 1, max: 255 })), {
          maxLength: 50,
        }),
        async (steps, trace, junk) => {
          const fresh = await freshMachine(trace);
          const want = runAndFingerprint(fresh, steps);
          // Leave garbage anywhere, in chunks it used and chunks it never touched.
          for (const [pa, v] of junk) fresh.phys.bytes[pa] = v;
          fresh.phys.bytes[fresh.phys.size - 1] = 0xee;
          fresh.dispose();
          const again = await toyMachine({ memoryMiB: MIB, trace, cpus: 2 });
          expect(again.phys.recycled).toBe(true);
          expect(runAndFingerprint(again, steps)).toBe(want);
          again.dispose();
        },
      ),
      { numRuns: 25 },
    );
  });

  it('recycled memory reads all zero, whatever the last machine left anywhere in it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(MIB * 1024 * 1024 - 1), fc.integer({ min: 1, max: 255 })), {
          minLength: 1,
          maxLength: 40,
        }),
        (junk) => {
          const p = new PhysMem(MIB);
          for (const [pa, v] of junk) p.bytes[pa] = v;
          p.release();
          const q = new PhysMem(MIB);
          expect(q.recycled).toBe(true);
          const nonZero = q.bytes.findIndex((b) => b !== 0);
          expect(nonZero).toBe(-1);
          q.release();
        },
      ),
      { numRuns: 30 },
    );
  });

  it('moves the memory: every view of the old machine is detached, none reaches the new one', async () => {
    const m = await toyMachine({ memoryMiB: MIB });
    const kept = m.phys.bytes;
    const keptU32 = m.phys.u32;
    m.dispose();
    expect(m.disposed).toBe(true);
    expect(kept.length).toBe(0);
    expect(keptU32.length).toBe(0);
    const next = await toyMachine({ memoryMiB: MIB });
    expect(next.phys.recycled).toBe(true);
    next.phys.bytes[100] = 7;
    expect(kept[100]).toBeUndefined();
    next.dispose();
  });

  it('a disposed machine refuses its entry points, and a CPU kept from before faults', async () => {
    const m = await toyMachine({ memoryMiB: MIB });
    const cpu = m.cpu(0);
    const a = m.vmalloc(PAGE_SIZE);
    cpu.write32(a.start, 42);
    expect(cpu.read32(a.start)).toBe(42); // a TLB hit now
    m.dispose();
    for (const call of [
      () => m.cpu(0),
      () => m.vmalloc(PAGE_SIZE),
      () => m.createMm('user', 'u'),
      () => m.protect(a.start, PAGE_SIZE, 'ro'),
      () => m.protectSteps(a.start, PAGE_SIZE, 'ro'),
      () => m.auditProtections(),
      () => m.ptdump(),
    ])
      expect(call).toThrow(expect.objectContaining({ code: 'EDISPOSED' }));
    expect(() => cpu.read32(a.start)).toThrow(PageFault);
    expect(() => cpu.write32(a.start, 1)).toThrow(PageFault);
    expect(m.peek(a.start, 4)).toBeNull();
    m.dispose(); // a second call does nothing
    expect(m.disposed).toBe(true);
    // Memory released behind the machine's back counts as disposed too.
    const n = await toyMachine({ memoryMiB: MIB });
    n.phys.release();
    expect(n.disposed).toBe(true);
    expect(() => n.cpu(0)).toThrow(expect.objectContaining({ code: 'EDISPOSED' }));
  });
});
