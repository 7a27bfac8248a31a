/**
 * Every rule of the conformance kit can fail: each case breaks one thing of the toy
 * backend, runs the rule that states it, and expects a ConformanceViolation from it
 * (the unbroken toy passes every rule: conformance.test.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  ACC_READ,
  type ArchImpl,
  type Backend,
  type Cpu,
  FAULT,
  GeneratorProgram,
  InvalidArgumentError,
  type Machine,
  PAGE_SIZE,
  runProgram,
  sessionOf,
  type Steps,
  TLBF,
  type WalkResult,
  type WriteRareMechanism,
  type WrOp,
} from '../src/index.js';
import {
  backendConformance,
  ConformanceViolation,
  conformanceRules,
  type ToyOptions,
  toyBackend,
} from '../src/testing/index.js';

/** The toy with one thing patched after it is attached to a machine. */
function broken(patch: (arch: ArchImpl, m: Machine) => void, opts: ToyOptions = {}): Backend {
  const toy = toyBackend(opts);
  return {
    ...toy,
    attach(m) {
      const arch = toy.attach(m);
      patch(arch, m);
      return arch;
    },
  };
}

type Walk = (cpu: Cpu, mm: Machine['kernelMm'], write: boolean, out: WalkResult) => number;
function patchWalk(wrap: (orig: Walk, m: Machine) => Walk): Backend {
  return broken((arch, m) => {
    const orig = arch.pt.walk.bind(arch.pt);
    arch.pt.walk = wrap(orig, m);
  });
}

function patchMechanism(wrap: (real: WriteRareMechanism) => Partial<WriteRareMechanism>): Backend {
  return broken((arch) => {
    const orig = arch.mechanism.bind(arch);
    arch.mechanism = (name) => {
      const real = orig(name);
      return { ...real, ...wrap(real) };
    };
  });
}

let sink: unknown;

const CASES: [rule: string, what: string, backend: Backend][] = [
  [
    'walk translates the VA in out.va',
    'a walk that reports the wrong leaf entry',
    patchWalk((orig) => (cpu, mm, write, out) => {
      const f = orig(cpu, mm, write, out);
      out.leafPa += 8;
      return f;
    }),
  ],
  [
    'walk allocates nothing',
    'a walk that boxes its VA',
    patchWalk((orig) => (cpu, mm, write, out) => {
      sink = { va: out.va };
      return orig(cpu, mm, write, out);
    }),
  ],
  [
    'tableFrames lists every table frame',
    'tableFrames with the root only',
    broken((arch) => {
      arch.pt.tableFrames = (mm) => [mm.rootPa / PAGE_SIZE];
    }),
  ],
  [
    'a walk writes only its own tables',
    'a walk that also writes the page it translates',
    patchWalk((orig, m) => (cpu, mm, write, out) => {
      const f = orig(cpu, mm, write, out);
      if (f === 0) m.phys.bytes[out.pa + 4095] ^= 1;
      return f;
    }),
  ],
  [
    'dirty: a write walk of a writable page sets and reports D',
    'a walk that never reports D',
    patchWalk((orig) => (cpu, mm, write, out) => {
      const f = orig(cpu, mm, write, out);
      out.flags &= ~TLBF.D;
      return f;
    }),
  ],
  [
    'a write walk of a page it may not write changes the tables exactly as a read walk',
    'a write walk that dirties a read-only page',
    patchWalk((orig, m) => (cpu, mm, write, out) => {
      const f = orig(cpu, mm, write, out);
      if (write && f === 0) m.phys.u32[out.leafPa >>> 2] |= 0x40;
      return f;
    }),
  ],
  [
    'comparators',
    'a checkAccess refusing reads of read-only pages without SLOW_R',
    broken((arch) => {
      const orig = arch.checkAccess.bind(arch);
      arch.checkAccess = (cpu, flags, access) =>
        access === ACC_READ && (flags & TLBF.W) === 0 ? FAULT.ARCH : orig(cpu, flags, access);
    }),
  ],
  [
    'flushLocalPage drops that page',
    'a flushLocalPage that does nothing',
    broken((arch) => {
      arch.flushLocalPage = () => {};
    }),
  ],
  [
    'flushLocalPage drops that page',
    'a flushLocalPage that drops the whole TLB',
    broken((arch) => {
      arch.flushLocalPage = (cpu) => {
        cpu.tlb.flushAll();
      };
    }),
  ],
  [
    'flushKernelRange of one page',
    'a flushKernelRange that flushes the local CPU only',
    broken((arch) => {
      arch.flushKernelRange = function* (cpu: Cpu, start: number, end: number): Steps {
        cpu.tlb.flushRange(start, end);
        yield 'local only';
      };
    }),
  ],
  [
    'flushKernelRange of all of vmalloc space',
    'a flushKernelRange that drops only its first page',
    broken((arch) => {
      const orig = arch.flushKernelRange.bind(arch);
      arch.flushKernelRange = (cpu, start) => orig(cpu, start, start + PAGE_SIZE);
    }),
  ],
  [
    'switchMm sets cpu.mm and cpu.asid',
    'a switchMm that forgets cpu.asid',
    broken((arch) => {
      arch.switchMm = (cpu, mm) => {
        cpu.mm = mm;
      };
    }),
  ],
  [
    "protecting to 'wr'",
    'a setProtection without the remote shootdown',
    toyBackend({ skipShootdown: true }),
  ],
  [
    "protecting to 'ro'",
    'a setProtection that leaves the direct-map alias writable',
    toyBackend({ keepAliasWritable: true }),
  ],
  [
    'toy-remap refuses a bad target',
    'a session that takes a step before validating',
    patchMechanism((real) => ({
      program: (cpu: Cpu, ops: readonly WrOp[]) =>
        new GeneratorProgram(
          (function* (): Steps {
            yield 'early';
            yield* sessionOf(real, cpu, ops);
          })(),
        ),
    })),
  ],
  [
    'toy-remap opens the window',
    'a mechanism that never marks its window open',
    broken((_arch, m) => {
      m.openWindow = () => {};
      m.closeWindow = () => {};
    }),
  ],
  [
    'toy-remap may be abandoned after any step',
    'a session that does not close its window when abandoned',
    patchMechanism((real) => ({
      program(cpu: Cpu, ops: readonly WrOp[]) {
        const p = real.program(cpu, ops);
        return { step: () => p.step(), abort: () => {} };
      },
    })),
  ],
  [
    'toy-remap writes exactly what a byte model',
    'a session that drops the last byte of a copy',
    patchMechanism((real) => ({
      program: (cpu: Cpu, ops: readonly WrOp[]) =>
        real.program(
          cpu,
          ops.map((op) =>
            op.kind === 'write' && op.data.length > 1
              ? { ...op, data: op.data.subarray(0, op.data.length - 1) }
              : op,
          ),
        ),
    })),
  ],
  [
    'toy-remap run straight through',
    'a run() fast path that forgets the last op',
    patchMechanism((real) => ({
      program(cpu: Cpu, ops: readonly WrOp[]) {
        const p = real.program(cpu, ops);
        const fast = real.program(cpu, ops.slice(0, -1));
        return { step: () => p.step(), abort: () => p.abort(), run: () => runProgram(fast) };
      },
    })),
  ],
];

function violationOf(e: unknown): ConformanceViolation | undefined {
  if (e instanceof ConformanceViolation) return e;
  const cause = (e as { cause?: unknown } | null)?.cause;
  return cause === undefined ? undefined : violationOf(cause);
}

describe('every rule of the kit reports a backend that breaks it', () => {
  for (const [rule, what, backend] of CASES)
    it(`"${rule}…" fails for ${what}`, async () => {
      const matching = conformanceRules(backend, { numRuns: 20, seed: 1 }).filter((r) =>
        r.name.startsWith(rule),
      );
      expect(matching).toHaveLength(1);
      let error: unknown;
      try {
        await matching[0].run();
      } catch (e) {
        error = e;
      }
      expect(violationOf(error), String(error)).toBeInstanceOf(ConformanceViolation);
    });

  it('the list of cases covers every rule the kit states for a backend', () => {
    const names = conformanceRules(toyBackend()).map((r) => r.name);
    const covered = names.filter((n) => CASES.some(([rule]) => n.startsWith(rule)));
    expect(covered).toEqual(names);
  });
});

describe('the kit refuses bad arguments with typed errors', () => {
  it('a value that is not a backend', () => {
    expect(() => conformanceRules({ name: 'x' } as unknown as Backend)).toThrow(
      InvalidArgumentError,
    );
  });
  it('a mechanism the backend does not declare, or a bad run count', () => {
    expect(() => conformanceRules(toyBackend(), { mechanisms: ['toy-rmap'] })).toThrow(
      /not a mechanism of toy/,
    );
    expect(() => conformanceRules(toyBackend(), { numRuns: 0 })).toThrow(InvalidArgumentError);
  });
  it('a runner without describe and it', () => {
    expect(() =>
      backendConformance(toyBackend(), { describe: () => {} } as unknown as Parameters<
        typeof backendConformance
      >[1]),
    ).toThrow(InvalidArgumentError);
  });
});

void sink;

describe('backendConformance registers one test per rule, grouped', () => {
  it('with the runner it is given, passing timeoutMs to it', () => {
    const seen: string[] = [];
    const timeouts: (number | undefined)[] = [];
    const path: string[] = [];
    backendConformance(
      toyBackend(),
      {
        describe: (name, body) => {
          path.push(name);
          body();
          path.pop();
        },
        it: (name, _body, timeoutMs) => {
          seen.push([...path, name].join(' > '));
          timeouts.push(timeoutMs);
        },
      },
      { timeoutMs: 9000 },
    );
    const rules = conformanceRules(toyBackend());
    expect(seen).toHaveLength(rules.length);
    expect(seen[0]).toBe(`toy conforms to the backend contract > page tables > ${rules[0].name}`);
    expect(seen.some((s) => s.includes('> mechanism toy-remap > '))).toBe(true);
    expect(new Set(timeouts)).toEqual(new Set([9000]));
    expect(() => conformanceRules(toyBackend(), { timeoutMs: -1 })).toThrow(InvalidArgumentError);
  });
});
