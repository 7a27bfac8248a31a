import { createMachine, type Machine, PAGE_SIZE, type WrOp, sessionOf } from '@prmem/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arm64Costs, createArm64Backend } from '../src/index.js';
import { arm64Machine, protectedAreas, wr } from './support/machine.js';

const AREA_PAGES = 3;

async function world(mechanism: 'hyp-assist' | 'alias-mm') {
  const m = await arm64Machine({ mechanism, cpus: 2 });
  const s = m.defineStatic('.data..wr_after_init', 256, 'wr_static');
  m.finishBoot();
  const { wrArea } = protectedAreas(m, AREA_PAGES);
  return { m, targets: [wrArea.start, s] as const, sizes: [AREA_PAGES * PAGE_SIZE, 256] as const };
}

/** The bytes behind the write-rare targets, read from physical memory. */
function image(m: Machine, starts: readonly number[], sizes: readonly number[]): Uint8Array {
  const out: Uint8Array[] = [];
  starts.forEach((start, i) => {
    for (let off = 0; off < sizes[i]; off += PAGE_SIZE) {
      const pa = m.translate(start + off);
      out.push(m.phys.bytes.slice(pa, pa + Math.min(PAGE_SIZE, sizes[i] - off)));
    }
  });
  return Buffer.concat(out);
}

const opArb = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    t: fc.integer({ min: 0, max: 1 }),
    off: fc.nat(),
    data: fc.uint8Array({ minLength: 1, maxLength: 5000 }),
  }),
  fc.record({
    kind: fc.constant('set' as const),
    t: fc.integer({ min: 0, max: 1 }),
    off: fc.nat(),
    value: fc.integer({ min: 0, max: 255 }),
    len: fc.integer({ min: 1, max: 300 }),
  }),
  fc.record({
    kind: fc.constant('rmw' as const),
    t: fc.integer({ min: 0, max: 1 }),
    off: fc.nat(),
    size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
    add: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  }),
);
type OpSpec = typeof opArb extends fc.Arbitrary<infer T> ? T : never;

/** Builds the op, clamped inside its target (wr-ops validates targets before a window). */
function toOp(spec: OpSpec, targets: readonly number[], sizes: readonly number[]): WrOp {
  const size = sizes[spec.t];
  if (spec.kind === 'rmw') {
    const off = (spec.off % (size / spec.size)) * spec.size;
    const bits = BigInt(spec.size * 8);
    return {
      kind: 'rmw',
      va: targets[spec.t] + off,
      size: spec.size,
      fn: (old) => BigInt.asUintN(Number(bits), old + spec.add),
      old: 0n,
    };
  }
  const len = Math.min(spec.kind === 'write' ? spec.data.length : spec.len, size);
  const off = spec.off % (size - len + 1);
  const va = targets[spec.t] + off;
  return spec.kind === 'write'
    ? { kind: 'write', va, data: spec.data.subarray(0, len) }
    : { kind: 'set', va, value: spec.value, len };
}

describe('hyp-assist vs alias-mm', () => {
  it('leave identical memory (and return identical old values) for the same writes; audits stay clean', async () => {
    const hyp = await world('hyp-assist');
    const ali = await world('alias-mm');
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        async (specs, batch) => {
          const a = specs.map((s) => toOp(s, hyp.targets, hyp.sizes));
          const b = specs.map((s) => toOp(s, ali.targets, ali.sizes));
          if (batch) {
            wr(hyp.m, 1, a);
            wr(ali.m, 1, b);
          } else {
            for (const op of a) wr(hyp.m, 0, [op]);
            for (const op of b) wr(ali.m, 0, [op]);
          }
          expect(b.map((o) => (o.kind === 'rmw' ? o.old : -1n))).toEqual(
            a.map((o) => (o.kind === 'rmw' ? o.old : -1n)),
          );
          const ia = image(hyp.m, hyp.targets, hyp.sizes);
          const ib = image(ali.m, ali.targets, ali.sizes);
          expect(Buffer.compare(ia, ib)).toBe(0);
          expect(hyp.m.auditProtections()).toEqual([]);
          expect(ali.m.auditProtections()).toEqual([]);
          expect(hyp.m.securityEvents()).toEqual([]);
          expect(ali.m.securityEvents()).toEqual([]);
        },
      ),
      { numRuns: 15 },
    );
  });

  it('hyp-assist holds no writable kernel mapping of a protected frame at any step of a session', async () => {
    const { m, targets } = await world('hyp-assist');
    const gen = sessionOf(m.mechanism, m.cpu(0), [
      { kind: 'set', va: targets[0] + 4000, value: 1, len: 200 },
      { kind: 'write', va: targets[1], data: new Uint8Array([1, 2]) },
    ]);
    let steps = 0;
    for (let r = gen.next(); !r.done; r = gen.next()) {
      steps++;
      expect(m.auditProtections()).toEqual([]);
    }
    expect(steps).toBe(2); // one HVC each
    expect(m.stats().events.hypercall).toBeGreaterThanOrEqual(2);
  });
});

describe('cost profiles', () => {
  it('KVM-style and thin hypervisors differ only in what EL2 costs; every other figure is marked an estimate', async () => {
    const kvm = arm64Costs('kvm');
    const thin = arm64Costs('thin');
    expect(kvm.hypercall?.cycles).toBe(6500);
    expect(thin.hypercall?.cycles).toBe(376);
    expect(kvm.hypercall?.source).toContain('ISCA 2016');
    for (const [name, fig] of Object.entries(kvm)) {
      if (name !== 'hypercall') expect([name, fig?.estimate]).toEqual([name, true]);
    }
    const run = async (hypervisor: 'kvm' | 'thin') => {
      const m = await createMachine({ arch: createArm64Backend({ hypervisor }), memoryMiB: 16 });
      const v = m.defineStatic('.data..wr_after_init', 8, 'v');
      m.finishBoot();
      m.resetStats();
      wr(m, 0, [{ kind: 'write', va: v, data: new Uint8Array(8) }]);
      return m.stats().maxCycles;
    };
    const [k, t] = [await run('kvm'), await run('thin')];
    expect(k - t).toBe(6500 - 376);
  });
});
