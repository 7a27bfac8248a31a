import { sessionOf } from '../src/index.js';
import { describe, expect, it } from 'vitest';
import { canonical, createMachine, drain, PAGE_SIZE } from '../src/index.js';
import { toyBackend } from '../src/testing/index.js';
import { toyMachine } from './helpers.js';

describe('trace', () => {
  it('exports Chrome Trace Event JSON with a thread per CPU and IPI flows', async () => {
    const m = await toyMachine({ cpus: 3, trace: true });
    const a = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    m.protect(a.start, a.size, 'wr', 1);
    const t = JSON.parse(JSON.stringify(m.toChromeTrace())) as {
      traceEvents: { ph: string; tid: number; id?: number; name: string; ts: number }[];
    };
    const names = t.traceEvents
      .filter((e) => e.ph === 'M' && e.name === 'thread_name')
      .map((e) => e.tid);
    expect(names).toEqual([0, 1, 2]);
    const starts = t.traceEvents.filter((e) => e.ph === 's');
    const ends = t.traceEvents.filter((e) => e.ph === 'f');
    expect(starts.length).toBeGreaterThan(0);
    expect(starts.every((s) => s.tid === 1)).toBe(true); // sent by CPU1
    for (const s of starts) {
      const f = ends.find((e) => e.id === s.id);
      expect(f).toBeDefined();
      expect(f!.tid).not.toBe(1);
      expect(f!.ts).toBeGreaterThanOrEqual(s.ts);
    }
  });

  it('uses the configured trace pid, so several runs can share one trace', async () => {
    const m = await createMachine({
      arch: toyBackend(),
      cpus: 2,
      memoryMiB: 4,
      trace: true,
      tracePid: 7,
    });
    m.protect(m.vmalloc(PAGE_SIZE).start, PAGE_SIZE, 'ro');
    const t = m.toChromeTrace();
    expect(new Set(t.traceEvents.map((e) => e.pid))).toEqual(new Set([7]));
    await expect(createMachine({ arch: toyBackend(), tracePid: 0 })).rejects.toMatchObject({
      code: 'ECONFIG',
    });
  });

  it('draws a write-rare window as a slice holding its steps, and nests every slice', async () => {
    const m = await toyMachine({ cpus: 2, trace: true });
    const va = m.defineStatic('.data..wr_after_init', 8, 'traced_var');
    m.finishBoot();
    m.resetStats();
    drain(sessionOf(m.mechanism, m.cpu(0), [{ kind: 'store', va, size: 8, lo: 7, hi: 0 }]));
    const t = m.toChromeTrace();
    const cpu0 = t.traceEvents.filter((e) => e.tid === 0 && e.ph !== 'M');
    const window = cpu0.find((e) => e.ph === 'B' && e.name === 'wr window · toy-remap');
    expect(window?.args).toMatchObject({ ops: 1, bytes: 8, mm: 'init_mm' });
    // B/E balanced per thread, each E closing the innermost open slice, and every flow
    // start/end inside an open slice of its thread (what Perfetto's importer requires).
    const stacks = new Map<number, string[]>();
    let depthMax = 0;
    for (const e of t.traceEvents) {
      const stack = stacks.get(e.tid) ?? [];
      stacks.set(e.tid, stack);
      if (e.ph === 'B') stack.push(e.name);
      else if (e.ph === 'E') expect(stack.pop()).toBe(e.name);
      else if (e.ph === 's' || e.ph === 'f') expect(stack.length).toBeGreaterThan(0);
      depthMax = Math.max(depthMax, stack.length);
    }
    for (const s of stacks.values()) expect(s).toEqual([]);
    expect(depthMax).toBeGreaterThanOrEqual(3); // window › step › counted event
    // Time order (stable), as the importer reads it.
    const ts = t.traceEvents.filter((e) => e.ph !== 'M').map((e) => e.ts);
    expect(ts).toEqual([...ts].sort((a, b) => a - b));
    expect(t).not.toHaveProperty('displayTimeUnit');
  });

  it('records nothing when disabled', async () => {
    const m = await toyMachine({ cpus: 2 });
    const a = m.vmalloc(PAGE_SIZE);
    m.protect(a.start, a.size, 'ro');
    expect(m.trace.events).toHaveLength(0);
  });
});

describe('stats', () => {
  it('charges IPI handling on the target clocks and the wait on the sender', async () => {
    const m = await toyMachine({ cpus: 4 });
    const a = m.vmalloc(PAGE_SIZE);
    m.resetStats();
    m.protect(a.start, a.size, 'ro', 0);
    const s = m.stats();
    expect(s.perCpu[0].events.ipiSent).toBe(s.events.ipiHandled);
    for (const c of [1, 2, 3]) {
      expect(s.perCpu[c].events.ipiHandled).toBe(s.events.ipiHandled / 3);
      expect(s.perCpu[c].cycles).toBeGreaterThan(0);
      // The sender waits for the last acknowledgement.
      expect(s.perCpu[0].cycles).toBeGreaterThanOrEqual(s.perCpu[c].cycles);
    }
  });

  it('gives identical figures for the same seed and program', async () => {
    const run = async () => {
      const m = await toyMachine({ cpus: 2, seed: 9 });
      const a = m.vmalloc(3 * PAGE_SIZE, { range: 'wr' });
      for (let i = 0; i < 100; i++) m.cpu(i % 2).write32(a.start + ((i * 52) % a.size), i);
      m.protect(a.start, a.size, 'wr');
      return m.stats();
    };
    expect(await run()).toEqual(await run());
  });

  it('resetStats zeroes every counter and clock', async () => {
    const m = await toyMachine();
    m.cpu(0).read32(m.vmalloc(PAGE_SIZE).start);
    expect(m.stats().cycles).toBeGreaterThan(0);
    m.resetStats();
    expect(m.stats().cycles).toBe(0);
    expect(Object.values(m.stats().events).every((n) => n === 0)).toBe(true);
  });
});

describe('ptdump', () => {
  it('prints runs of pages the way /sys/kernel/debug/page_tables does', async () => {
    const m = await toyMachine({ memoryMiB: 4 });
    const a = m.vmalloc(3 * PAGE_SIZE, { range: 'wr' });
    m.protect(a.start + PAGE_SIZE, PAGE_SIZE, 'ro');
    const dump = m.ptdump();
    const lines = dump.split('\n');
    expect(lines).toContain('---[ Write-rare Area ]---');
    const at = lines.indexOf('---[ Write-rare Area ]---');
    expect(lines[at + 1]).toMatch(
      new RegExp(
        `^${canonical(a.start)}-${canonical(a.start + PAGE_SIZE)}\\s+4K\\s+RW\\s+GLB NX\\s+pte$`,
      ),
    );
    expect(lines[at + 2]).toMatch(
      new RegExp(
        `^${canonical(a.start + PAGE_SIZE)}-${canonical(a.start + 2 * PAGE_SIZE)}\\s+4K\\s+ro\\s+GLB NX\\s+pte$`,
      ),
    );
    expect(lines[at + 3]).toMatch(/4K\s+RW/);
    // The direct map is one run, except the pages the protection made read-only.
    const direct = lines.filter((l) => l.startsWith('0xffff888'));
    expect(direct.filter((l) => /\sro\s/.test(l))).toHaveLength(1);
    expect(canonical(m.layout.directMap)).toBe('0xffff888000000000');
  });
});
