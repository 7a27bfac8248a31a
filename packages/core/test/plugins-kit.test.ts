/** The plug-in rules of the kit pass for a clean registry and fail for each broken one. */
import { describe, expect, it } from 'vitest';
import {
  ConformanceViolation,
  type PluginRegistry,
  pluginConformance,
  toyBackend,
} from '../src/testing/index.js';

/** Runs the rules with a runner of our own: rule title → what its body threw (or null). */
async function results(reg: PluginRegistry): Promise<Map<string, unknown>> {
  const bodies: [string, () => Promise<void>][] = [];
  pluginConformance(reg, {
    describe: (_n, body) => body(),
    it: (n, body) => bodies.push([n, body]),
  });
  const out = new Map<string, unknown>();
  for (const [n, body] of bodies)
    out.set(
      n,
      await body().then(
        () => null,
        (e: unknown) => e,
      ),
    );
  return out;
}

const backend = toyBackend();
const plugin = { name: 'toy-remap' };
const clean: PluginRegistry = {
  backend,
  plugins: [plugin],
  pluginOf: (n) => (n === plugin.name ? plugin : undefined),
  archOf: (m) => m.arch,
  sources: [
    {
      file: 'arch.ts',
      text: "// the 'toy-remap' mechanism is named in a comment only\nconst x = 1;",
    },
  ],
};

describe('pluginConformance', () => {
  it('passes a clean registry', async () => {
    for (const [n, e] of await results(clean)) expect(e, n).toBeNull();
  });

  it.each([
    [
      'a source that tests a mechanism name',
      { sources: [{ file: 'arch.ts', text: "if (name === 'toy-remap') {}" }] },
      'names toy-remap',
    ],
    ['no sources at all', { sources: [] }, 'no architecture sources'],
    ['a pluginOf that invents plug-ins', { pluginOf: () => plugin }, 'invents'],
    [
      'a registry out of step with backend.mechanisms',
      { plugins: [plugin, { name: 'other' }] },
      'is not the plug-ins',
    ],
    ['an accessor that returns another object', { archOf: () => ({}) }, 'archOf'],
  ])('fails for %s', async (_what, patch, message) => {
    const errors = [...(await results({ ...clean, ...patch } as PluginRegistry)).values()].filter(
      (e) => e !== null,
    );
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toBeInstanceOf(ConformanceViolation);
    expect(String(errors[0])).toContain(message);
  });
});
