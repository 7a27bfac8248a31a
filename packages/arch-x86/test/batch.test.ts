import { createMachine, drain, PAGE_SIZE, VM, type WrOp, sessionOf } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { backend } from '../src/index.js';

describe('alias-mm windows with many ops', () => {
  it.each(['alias-mm', 'alias-mm-per-pool'])(
    '%s maps each target page once per window',
    async (mechanism) => {
      const m = await createMachine({ arch: backend, mechanism, cpus: 2, memoryMiB: 16 });
      const a = m.vmalloc(3 * PAGE_SIZE, { range: 'wr', flags: VM.PMALLOC | VM.PMALLOC_WR });
      m.protect(a.start, a.size, 'wr');
      m.resetStats();
      // 16 small writes to page 0, one write crossing from page 1 into page 2.
      const ops: WrOp[] = [];
      for (let i = 0; i < 16; i++)
        ops.push({ kind: 'write', va: a.start + i * 8, data: new Uint8Array(8).fill(i + 1) });
      ops.push({
        kind: 'write',
        va: a.start + 2 * PAGE_SIZE - 4,
        data: new Uint8Array(8).fill(0xee),
      });
      drain(sessionOf(m.mechanism, m.cpu(0), ops));
      const s = m.stats().events;
      expect(s.pteWrite).toBe(2 * 3); // 3 distinct pages: map + clear each
      expect(s.localFlushPage).toBe(3);
      expect(s.ipiSent).toBe(0);
      const r = m.cpu(1);
      for (let i = 0; i < 16; i++) expect(r.read8(a.start + i * 8)).toBe(i + 1);
      expect(Array.from(r.readBytes(a.start + 2 * PAGE_SIZE - 4, 8))).toEqual(
        new Array(8).fill(0xee),
      );
      expect(m.auditProtections()).toEqual([]);
    },
  );
});
