import { sessionOf } from '../src/index.js';
import { describe, expect, it } from 'vitest';
import { drain, PAGE_SIZE } from '../src/index.js';
import { toyMachine } from './helpers.js';

describe('auditProtections', () => {
  it('is clean after boot and protection with proper shootdowns', async () => {
    const m = await toyMachine({ cpus: 3 });
    m.defineStatic('.data..wr_after_init', 8, 'x');
    const a = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    for (let c = 0; c < 3; c++) m.cpu(c).write32(a.start, 1);
    m.finishBoot();
    m.protect(a.start, a.size, 'ro');
    expect(m.auditProtections()).toEqual([]);
  });

  it('finds the stale writable TLB entry a skipped shootdown leaves on a remote CPU', async () => {
    const m = await toyMachine({ cpus: 3, skipShootdown: true });
    const a = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    m.cpu(2).write32(a.start, 1); // CPU2 caches a writable entry
    m.protect(a.start, a.size, 'wr', 0);
    const f = m.auditProtections();
    expect(f).toEqual([
      expect.objectContaining({
        where: 'tlb',
        cpu: 2,
        va: a.start,
        pa: a.pfns[0] * PAGE_SIZE,
        level: 'wr',
      }),
    ]);
    m.cpu(2).write32(a.start, 2); // and it is exploitable
    expect(m.cpu(0).read32(a.start)).toBe(2);
  });

  it('finds a writable PTE of a read-only frame (a page-table attack)', async () => {
    const m = await toyMachine();
    const a = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    m.protect(a.start, a.size, 'ro');
    m.arch.pt.protect(m.kernelMm, a.start, { write: true, exec: false, global: true });
    const f = m.auditProtections();
    expect(f).toContainEqual(
      expect.objectContaining({ where: 'pte', mm: 'init_mm', va: a.start, level: 'ro' }),
    );
    drain(m.arch.flushKernelRange(m.cpu(0), a.start, a.end));
    m.cpu(1).write32(a.start, 7); // on this MMU nothing else stops it
    expect(m.cpu(0).read32(a.start)).toBe(7);
  });

  it('allows the writer CPU its writable entries only while its window is open', async () => {
    const m = await toyMachine({ cpus: 2 });
    const a = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    m.protect(a.start, a.size, 'wr');
    const steps = sessionOf(m.mechanism, m.cpu(0), [
      { kind: 'write', va: a.start, data: new Uint8Array([1, 2, 3, 4]) },
    ]);
    const findings: number[] = [];
    for (let r = steps.next(); !r.done; r = steps.next())
      findings.push(m.auditProtections().filter((x) => x.where !== 'pte').length);
    // toy-remap makes the PTE writable for everyone: the audit reports the PTE during the
    // window (that is the mechanism's weakness), but never a TLB entry outside it.
    expect(m.auditProtections()).toEqual([]);
    expect(findings.every((n) => n === 0)).toBe(true);
    expect(m.cpu(1).read32(a.start)).toBe(0x04030201);
  });
});
