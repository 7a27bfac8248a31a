import { EVENT_NAMES } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { backend, FLUSH_CEILING } from '../src/index.js';

describe('cost table', () => {
  it('every figure has a source; the cited measurements are the published ones', () => {
    for (const [name, fig] of Object.entries(backend.costs)) {
      expect(EVENT_NAMES).toContain(name);
      expect(fig?.source.length).toBeGreaterThan(10);
      expect(fig?.cycles).toBeGreaterThanOrEqual(0);
    }
    const c = backend.costs;
    expect(c.localFlushPage?.cycles).toBe(260);
    expect(c.localFlushPage?.source).toMatch(/Molnar/);
    expect(c.mmSwitch?.cycles).toBe(96);
    // IPI cost split so that a one-page remote flush adds up to Hansen's 1,276 cycles.
    const onePage =
      (c.ipiSent?.cycles ?? 0) + (c.ipiHandled?.cycles ?? 0) + (c.localFlushPage?.cycles ?? 0);
    expect(onePage).toBe(1276);
    for (const n of ['ipiSent', 'ipiHandled', 'cr0Write', 'pkrsWrite', 'irqToggle'] as const) {
      expect(c[n]?.estimate).toBe(true);
    }
    // The ceiling is the break-even: a full flush costs what 33 INVLPGs cost, so one page
    // more than the ceiling is the first range a full flush makes cheaper.
    const full = c.localFlushAll?.cycles ?? 0;
    const page = c.localFlushPage?.cycles ?? 0;
    expect(FLUSH_CEILING * page).toBeLessThanOrEqual(full);
    expect((FLUSH_CEILING + 1) * page).toBeGreaterThan(full);
    expect(c.localFlushAll?.source).toMatch(/2,283/);
  });
});
