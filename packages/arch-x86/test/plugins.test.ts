import { readdirSync, readFileSync } from 'node:fs';
import { createMachine, runProgram } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { archOf, backend, MECHANISMS, PLUGINS, pluginOf } from '../src/index.js';

const SRC = new URL('../src/', import.meta.url);

/** The architecture's own sources: everything outside src/mech/. */
const archSources = readdirSync(SRC)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => ({ f, text: code(readFileSync(new URL(f, SRC), 'utf8')) }));

/** A source without its comments (they may name mechanisms; code may not). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

describe('mechanisms are plug-ins', () => {
  it('backend.mechanisms is the registry: one plug-in per name, in order', () => {
    expect(backend.mechanisms).toEqual(PLUGINS.map((p) => p.name));
    expect(MECHANISMS).toEqual(backend.mechanisms);
    expect(backend.defaultMechanism).toBe(PLUGINS[0].name);
    for (const p of PLUGINS) expect(pluginOf(p.name)).toBe(p);
    expect(pluginOf('no-such-mechanism')).toBeUndefined();
  });

  it('the architecture never names a mechanism: no mechanism name in a string outside src/mech/', () => {
    for (const { f, text } of archSources)
      for (const name of MECHANISMS)
        for (const q of ["'", '"', '`'])
          expect(text, `${f} names ${name}`).not.toContain(`${q}${name}${q}`);
  });

  it('every plug-in builds a machine whose mechanism is its own and writes through it', async () => {
    for (const p of PLUGINS) {
      const m = await createMachine({ arch: backend, mechanism: p.name, cpus: 2, memoryMiB: 8 });
      const va = m.defineStatic('.data..wr_after_init', 8, 'x');
      m.finishBoot();
      expect(m.mechanism.name).toBe(p.name);
      expect(archOf(m)).toBe(m.arch);
      runProgram(
        m.mechanism.program(m.cpu(0), [{ kind: 'store', va, size: 8, lo: 0x1234, hi: 0 }]),
      );
      expect(m.peek(va, 8)).toEqual(new Uint8Array([0x34, 0x12, 0, 0, 0, 0, 0, 0]));
    }
  });
});
