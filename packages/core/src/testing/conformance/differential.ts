/**
 * The write-rare differential: any sequence of write-rare ops, run through the
 * mechanism on any CPU, leaves memory exactly as a plain byte array given the same ops;
 * plain stores to the same bytes keep faulting. fast-check (an optional peer dependency
 * of @prmem/core) generates the sequences and shrinks a failure to a short one.
 */
import { type Backend, drain, PageFault, type WrOp } from '../../index.js';
import { sessionSteps } from './mechanism.js';
import type { ConformanceOptions, ConformanceRule } from './rule.js';
import { check, firstDiff, hex, makeWorld } from './world.js';

type Cmd =
  | { kind: 'write'; region: number; off: number; len: number; seed: number; cpu: number }
  | {
      kind: 'store';
      region: number;
      off: number;
      size: 1 | 2 | 4 | 8;
      lo: number;
      hi: number;
      cpu: number;
    }
  | { kind: 'set'; region: number; off: number; len: number; value: number; cpu: number }
  | { kind: 'rmw'; region: number; off: number; size: 1 | 2 | 4 | 8; add: number; cpu: number };

async function fastCheck(): Promise<typeof import('fast-check')> {
  try {
    return await import('fast-check');
  } catch (e) {
    throw new Error(
      `the write-rare differential needs fast-check (an optional peer dependency of @prmem/core): install fast-check@4 (${(e as Error).message})`,
    );
  }
}

export function differentialRule(
  backend: Backend,
  mechanism: string,
  opts: ConformanceOptions,
): ConformanceRule {
  return {
    group: `mechanism ${mechanism}`,
    name: `${mechanism} writes exactly what a byte model of the same ops holds (fast-check)`,
    async run() {
      const fc = await fastCheck();
      const w = await makeWorld(backend, { mechanism });
      const { m } = w;
      const mech = m.mechanism;
      const regions = [
        { va: w.wr.start, size: w.wr.size },
        { va: w.wrStatic, size: w.wrStaticSize },
      ];
      const models = regions.map((r) => m.peek(r.va, r.size) ?? new Uint8Array(r.size));
      const region = fc.integer({ min: 0, max: regions.length - 1 });
      const cpu = fc.integer({ min: 0, max: m.cpuCount - 1 });
      const size = fc.constantFrom<1 | 2 | 4 | 8>(1, 2, 4, 8);
      const off = fc.nat({ max: 3 * 4096 - 1 });
      const cmd: import('fast-check').Arbitrary<Cmd> = fc.oneof(
        fc.record({
          kind: fc.constant('write' as const),
          region,
          off,
          len: fc.integer({ min: 1, max: 300 }),
          seed: fc.nat(255),
          cpu,
        }),
        fc.record({
          kind: fc.constant('store' as const),
          region,
          off,
          size,
          lo: fc.nat({ max: 0xffff_ffff }),
          hi: fc.nat({ max: 0xffff_ffff }),
          cpu,
        }),
        fc.record({
          kind: fc.constant('set' as const),
          region,
          off,
          len: fc.integer({ min: 1, max: 5000 }),
          value: fc.nat(255),
          cpu,
        }),
        fc.record({
          kind: fc.constant('rmw' as const),
          region,
          off,
          size,
          add: fc.integer({ min: -1000, max: 1000 }),
          cpu,
        }),
      );
      const toOp = (c: Cmd): { op: WrOp; apply(model: Uint8Array, at: number): void } => {
        const r = regions[c.region];
        const span = c.kind === 'store' || c.kind === 'rmw' ? c.size : c.len;
        const len = Math.min(span, r.size);
        let at = Math.min(c.off, r.size - len);
        // An rmw is an atomic: naturally aligned (atomic_t, atomic64_t), as wr-ops issues it.
        if (c.kind === 'rmw') at -= at % c.size;
        const va = r.va + at;
        switch (c.kind) {
          case 'write': {
            const data = new Uint8Array(len).map((_, i) => (i * 7 + c.seed) & 0xff);
            return { op: { kind: 'write', va, data }, apply: (b) => b.set(data, at) };
          }
          case 'set':
            return {
              op: { kind: 'set', va, value: c.value, len },
              apply: (b) => b.fill(c.value, at, at + len),
            };
          case 'store': {
            const lo = c.size === 8 ? c.lo : c.lo % 2 ** (8 * c.size);
            const hi = c.size === 8 ? c.hi : 0;
            const v = (BigInt(hi) << 32n) | BigInt(lo);
            return {
              op: { kind: 'store', va, size: c.size, lo, hi },
              apply: (b) => putLe(b, at, c.size, v),
            };
          }
          case 'rmw': {
            const add = BigInt(c.add);
            return {
              op: { kind: 'rmw', va, size: c.size, fn: (old) => old + add, old: 0n },
              apply: (b) => putLe(b, at, c.size, getLe(b, at, c.size) + add),
            };
          }
        }
      };
      await fc.assert(
        fc.property(fc.array(cmd, { minLength: 1, maxLength: 8 }), fc.boolean(), (cmds, batch) => {
          // A batch is one session over ops of one area or section, as wr-ops groups them.
          if (batch && mech.batchable) for (const c of cmds) c.region = cmds[0].region;
          const runs = cmds.map(toOp);
          if (batch && mech.batchable) {
            drain(
              sessionSteps(
                mech,
                m.cpu(cmds[0].cpu),
                runs.map((r) => r.op),
              ),
            );
            cmds.forEach((c, i) => {
              runs[i].apply(models[c.region], runs[i].op.va - regions[c.region].va);
            });
          } else
            cmds.forEach((c, i) => {
              drain(sessionSteps(mech, m.cpu(c.cpu), [runs[i].op]));
              runs[i].apply(models[c.region], runs[i].op.va - regions[c.region].va);
            });
          regions.forEach((r, i) => {
            const got = m.peek(r.va, r.size);
            const at = got === null ? 0 : firstDiff(got, models[i]);
            check(
              at < 0,
              'differential',
              () =>
                `memory at ${hex(r.va + at)} is ${got?.[at]}, the byte model holds ${models[i][at]}`,
            );
          });
          for (let i = 0; i < m.cpuCount; i++) {
            let faulted = false;
            try {
              m.cpu(i).write8(regions[cmds[0].region].va, 0);
            } catch (e) {
              if (!(e instanceof PageFault)) throw e;
              faulted = true;
            }
            check(
              faulted,
              'differential',
              () => `cpu${i} writes write-rare memory with a plain store after the session`,
            );
          }
        }),
        { numRuns: opts.numRuns ?? 30, ...(opts.seed === undefined ? {} : { seed: opts.seed }) },
      );
    },
  };
}

function getLe(b: Uint8Array, at: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]);
  return v;
}

function putLe(b: Uint8Array, at: number, size: number, v: bigint): void {
  let x = BigInt.asUintN(size * 8, v);
  for (let i = 0; i < size; i++) {
    b[at + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}
