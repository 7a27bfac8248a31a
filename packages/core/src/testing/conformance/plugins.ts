/**
 * The plug-in rules an arch package keeps: `backend.mechanisms` is its registry of
 * mechanism plug-ins, the architecture's own code never names a mechanism, and every
 * plug-in builds a machine that writes through it. The caller hands in its sources (core
 * reads no files), so the kit stays free of Node-only imports.
 */
import { createMachine } from '../../config.js';
import type { Backend } from '../../backend.js';
import type { Machine } from '../../machine.js';
import { runProgram } from '../../program.js';
import type { TestRunner } from './index.js';
import { check } from './world.js';

export interface PluginRegistry {
  readonly backend: Backend;
  /** The package's plug-ins, in registry order (each has at least a `name`). */
  readonly plugins: readonly { readonly name: string }[];
  readonly pluginOf: (name: string) => unknown;
  /** The package's accessor from a machine to its arch object. */
  readonly archOf: (m: Machine) => unknown;
  /** The architecture's own sources (everything outside src/mech/): file name and text. */
  readonly sources: readonly { readonly file: string; readonly text: string }[];
}

/** A source without its comments (they may name mechanisms; code may not). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

export function pluginConformance(reg: PluginRegistry, runner: TestRunner): void {
  const { backend, plugins } = reg;
  runner.describe(`${backend.name}: mechanisms are plug-ins`, () => {
    runner.it('backend.mechanisms is the registry: one plug-in per name, in order', async () => {
      const rule = 'plug-in registry';
      const names = plugins.map((p) => p.name);
      check(
        JSON.stringify(backend.mechanisms) === JSON.stringify(names),
        rule,
        () =>
          `backend.mechanisms ${JSON.stringify(backend.mechanisms)} is not the plug-ins' names ${JSON.stringify(names)}`,
      );
      check(
        backend.defaultMechanism === names[0],
        rule,
        () => 'the default is not the first plug-in',
      );
      for (const p of plugins)
        check(reg.pluginOf(p.name) === p, rule, () => `pluginOf(${p.name}) is not its plug-in`);
      check(
        reg.pluginOf('no-such-mechanism') === undefined,
        rule,
        () => 'pluginOf invents a plug-in',
      );
    });

    runner.it(
      'the architecture never names a mechanism: no mechanism name in a string outside src/mech/',
      async () => {
        check(reg.sources.length > 0, 'plug-in names', () => 'no architecture sources were given');
        for (const { file, text } of reg.sources) {
          const c = code(text);
          for (const name of backend.mechanisms)
            for (const q of ["'", '"', '`'])
              check(!c.includes(`${q}${name}${q}`), 'plug-in names', () => `${file} names ${name}`);
        }
      },
    );

    runner.it(
      'every plug-in builds a machine whose mechanism is its own and writes through it',
      async () => {
        for (const p of plugins) {
          const rule = `plug-in ${p.name}`;
          const m = await createMachine({
            arch: backend,
            mechanism: p.name,
            cpus: 2,
            memoryMiB: 8,
          });
          const va = m.defineStatic('.data..wr_after_init', 8, 'x');
          m.finishBoot();
          check(m.mechanism.name === p.name, rule, () => `the machine runs ${m.mechanism.name}`);
          check(reg.archOf(m) === m.arch, rule, () => 'archOf(machine) is not its arch');
          runProgram(
            m.mechanism.program(m.cpu(0), [{ kind: 'store', va, size: 8, lo: 0x1234, hi: 0 }]),
          );
          const got = m.peek(va, 8);
          check(
            got !== null &&
              got[0] === 0x34 &&
              got[1] === 0x12 &&
              got.subarray(2).every((b) => b === 0),
            rule,
            () => `the store left ${got ? [...got].join(',') : 'nothing'}`,
          );
        }
      },
    );
  });
}
