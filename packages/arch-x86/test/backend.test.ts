import { createMachine } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import defaultBackend, { backend, X86Arch } from '../src/index.js';

describe('the backend object', () => {
  it('is the named and the default export, and createMachine finds it by name', async () => {
    expect(defaultBackend).toBe(backend);
    expect(backend.defaultMechanism).toBe(backend.mechanisms[0]);
    const m = await createMachine({ arch: 'x86-64', memoryMiB: 4, cpus: 1 });
    expect(m.backend.name).toBe('x86-64');
    expect(m.arch).toBeInstanceOf(X86Arch);
    expect(m.mechanismName).toBe('alias-mm');
  });
});
