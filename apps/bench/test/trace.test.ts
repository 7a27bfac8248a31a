import { createMachine, EL2_TID, sessionOf } from '@prmem/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { discoverVariants } from '../src/variants.js';
import { loadPoolApi } from '../src/pool-api.js';
import { runBench, type TraceFile } from '../src/runner.js';
import { checkTrace } from '../src/trace-check.js';
import { protectPoolWorkload, wrAssignWorkload } from '../src/workloads/index.js';

async function benchTrace(workload = wrAssignWorkload): Promise<TraceFile> {
  const { variants } = await discoverVariants();
  const pool = await loadPoolApi();
  const out = await runBench({
    variants,
    workloads: [workload],
    cpus: [4],
    referenceCpus: 4,
    quick: true,
    base: { seed: 1, clockGHz: 3 },
    ...(typeof pool === 'string' ? {} : { pool }),
    skipped: [],
    trace: true,
    attacks: false,
  });
  if (!out.trace) throw new Error('no trace');
  // What trace.json holds: the document as JSON, read back.
  return JSON.parse(JSON.stringify(out.trace)) as TraceFile;
}

describe('trace.json of a real bench run (every backend and mechanism)', () => {
  let trace: TraceFile;
  beforeAll(async () => {
    trace = await benchTrace();
  });

  it('passes the rules of Perfetto’s JSON importer', () => {
    const r = checkTrace(trace);
    expect(r.problems).toEqual([]);
    expect(r.slices).toBeGreaterThan(0);
    expect(r.maxDepth).toBeGreaterThanOrEqual(3); // window › step › instruction
  });

  it('draws every mechanism’s window as a slice with its steps and instructions nested', async () => {
    const r = checkTrace(trace);
    const { variants } = await discoverVariants();
    expect(r.namesByProcess.size).toBe(variants.length);
    for (const [proc, names] of r.namesByProcess) {
      const mech = proc.split(' · ')[0].split('/')[1];
      expect(names, proc).toContain(`wr window · ${mech}`);
      expect(
        [...names].some((n) => /write-rare store/.test(n)),
        proc,
      ).toBe(true);
    }
    const of = (id: string) => r.namesByProcess.get(`${id} · wr-assign`) ?? new Set();
    for (const n of ['set_pte alias', 'PTE write', 'mov cr3', 'INVLPG', 'switch_mm back'])
      expect(of('x86-64/alias-mm'), n).toContain(n);
    expect(of('x86-64/cr0-wp')).toContain('mov cr0 (WP)');
    expect(of('x86-64/pks')).toContain('WRMSR IA32_PKRS');
    for (const n of ['MSR TTBR0_EL1', 'TLBI VAE1', 'PTE write'])
      expect(of('arm64[kvm]/alias-mm'), n).toContain(n);
    expect(of('arm64[thin]/hyp-assist')).toContain('HVC write_64');
    expect(of('arm64[thin]/hyp-assist')).toContain('EL2: write_64');
    for (const n of ['IPI send: flush_tlb_kernel_range', 'IPI handler: flush_tlb_kernel_range'])
      expect(of('nommu-alias/direct-remap'), n).toContain(n);
  });

  it('puts EL2 work on an EL2 track joined to the HVC by a flow, and carries addresses in args', () => {
    const ev = trace.traceEvents;
    const procOf = new Map(
      ev
        .filter((e) => e.ph === 'M' && e.name === 'process_name')
        .map((e) => [e.pid, String(e.args?.name)]),
    );
    const hyp = [...procOf].find(([, n]) => n.startsWith('arm64[kvm]/hyp-assist'))?.[0];
    const el2 = ev.filter((e) => e.pid === hyp && e.tid >= EL2_TID);
    expect(el2.some((e) => e.ph === 'B' && e.name.startsWith('EL2: '))).toBe(true);
    expect(
      ev.some(
        (e) => e.pid === hyp && e.ph === 'M' && e.tid === EL2_TID && e.args?.name === 'CPU 0 · EL2',
      ),
    ).toBe(true);
    const hvcFlows = ev.filter((e) => e.pid === hyp && e.cat === 'hvc' && e.ph === 's');
    expect(hvcFlows.length).toBeGreaterThan(0);
    const alias = [...procOf].find(([, n]) => n.startsWith('x86-64/alias-mm ·'))?.[0];
    const window = ev.find(
      (e) => e.pid === alias && e.ph === 'B' && e.name.startsWith('wr window'),
    );
    const targets = window?.args?.targets as { va: string; pa: string | null }[] | undefined;
    const target = targets?.[0] ?? { va: '', pa: null };
    expect(target.va).toMatch(/^0xffff/);
    expect(target.pa).toMatch(/^0x[0-9a-f]+$/);
    expect(window?.args).toMatchObject({ mm: 'init_mm', ops: 1, bytes: 8 });
    const ends = ev.filter((e) => e.pid === alias && e.ph === 'E');
    expect(ends.some((e) => e.name === 'mov cr3' && typeof e.args?.pcid === 'number')).toBe(true);
    expect(ends.some((e) => e.name === 'INVLPG' && /^0x/.test(String(e.args?.va)))).toBe(true);
    expect(ends.some((e) => e.name === 'PTE write' && /^0x/.test(String(e.args?.pa)))).toBe(true);
  });

  it('keeps flow ids unique across the merged runs', () => {
    const starts = trace.traceEvents.filter((e) => e.ph === 's').map((e) => e.id);
    expect(starts.length).toBeGreaterThan(0);
    expect(new Set(starts).size).toBe(starts.length);
    expect(new Set(trace.traceEvents.filter((e) => e.ph === 's').map((e) => e.pid)).size).toBe(
      // nommu-alias (2 mechanisms send IPIs) and both arm64 hyp-assist profiles (HVC flows)
      4,
    );
  });

  it('stays valid for the pool workload (shootdowns at protect/destroy)', async () => {
    const r = checkTrace(await benchTrace(protectPoolWorkload));
    expect(r.problems).toEqual([]);
    expect(r.flows).toBeGreaterThan(0);
  });
});

describe('a traced window that does not finish', () => {
  it('stays balanced when a schedule abandons it half-way, and says it was aborted', async () => {
    const { variants } = await discoverVariants();
    const alias = variants.find((v) => v.id === 'x86-64/alias-mm');
    if (!alias) throw new Error('no x86-64/alias-mm');
    const m = await createMachine({ arch: alias.backend, cpus: 2, memoryMiB: 8, trace: true });
    const va = m.defineStatic('.data..wr_after_init', 8, 'v');
    m.finishBoot();
    m.resetStats(); // the trace starts here
    const steps = sessionOf(m.mechanism, m.cpu(0), [{ kind: 'store', va, size: 8, lo: 1, hi: 0 }]);
    for (let i = 0; i < 3; i++) steps.next(); // IRQs off, alias mapped, alias mm loaded
    steps.return(undefined); // the schedule abandons the window here
    const t = JSON.parse(JSON.stringify(m.toChromeTrace())) as TraceFile;
    expect(checkTrace(t).problems).toEqual([]);
    const closing = t.traceEvents.filter((e) => e.ph === 'E' && e.name === 'wr window · alias-mm');
    expect(closing).toHaveLength(1);
    expect(closing[0].args).toMatchObject({ aborted: true });
    // The unwinding (PTE clear, INVLPG, switch back, IRQs on) is drawn inside the abort.
    const names = t.traceEvents.filter((e) => e.ph === 'B').map((e) => e.name);
    expect(names.slice(names.indexOf('abort'))).toEqual([
      'abort',
      'PTE write',
      'INVLPG',
      'mov cr3',
      'cli/sti',
    ]);
  });
});

describe('checkTrace', () => {
  const meta = [
    { ph: 'M', name: 'process_name', pid: 1, tid: 0, ts: 0, args: { name: 'p' } },
    { ph: 'M', name: 'thread_name', pid: 1, tid: 0, ts: 0, args: { name: 'CPU 0' } },
    { ph: 'M', name: 'thread_name', pid: 1, tid: 1, ts: 0, args: { name: 'CPU 1' } },
  ];
  const rules = (events: object[]) =>
    checkTrace({ traceEvents: [...meta, ...events] }).problems.map((p) => p.rule);

  it('finds a flow outside any slice, as the old trace had', () => {
    expect(
      rules([
        { ph: 's', name: 'ipi', cat: 'ipi', id: 1, pid: 1, tid: 0, ts: 1 },
        { ph: 'B', name: 'h', cat: 'ipi', pid: 1, tid: 1, ts: 2 },
        { ph: 'f', bp: 'e', name: 'ipi', cat: 'ipi', id: 1, pid: 1, tid: 1, ts: 2 },
        { ph: 'E', name: 'h', cat: 'ipi', pid: 1, tid: 1, ts: 3 },
      ]),
    ).toEqual(['flow enclosed']);
  });

  it('finds a repeated flow id, an unbalanced slice, a nesting error and a missing name', () => {
    const s = (ts: number) => [
      { ph: 'B', name: 'w', cat: 'x', pid: 1, tid: 0, ts },
      { ph: 's', name: 'ipi', cat: 'ipi', id: 7, pid: 1, tid: 0, ts },
      { ph: 'E', name: 'w', cat: 'x', pid: 1, tid: 0, ts: ts + 1 },
    ];
    expect(rules([...s(1), ...s(5)])).toContain('flow id');
    expect(rules([{ ph: 'B', name: 'w', cat: 'x', pid: 1, tid: 0, ts: 1 }])).toEqual(['balanced']);
    expect(
      rules([
        { ph: 'B', name: 'a', cat: 'x', pid: 1, tid: 0, ts: 1 },
        { ph: 'B', name: 'b', cat: 'x', pid: 1, tid: 0, ts: 2 },
        { ph: 'E', name: 'a', cat: 'x', pid: 1, tid: 0, ts: 3 },
        { ph: 'E', name: 'b', cat: 'x', pid: 1, tid: 0, ts: 4 },
      ]),
    ).toEqual(['balanced', 'balanced']);
    expect(rules([{ ph: 'i', s: 't', name: 'x', cat: 'x', pid: 1, tid: 9, ts: 1 }])).toEqual([
      'metadata',
    ]);
  });

  it('orders events as Perfetto does: by truncated nanoseconds, file order for ties', () => {
    // E written before its B but later in time: fine once sorted.
    expect(
      rules([
        { ph: 'E', name: 'a', cat: 'x', pid: 1, tid: 0, ts: 0.0029 },
        { ph: 'B', name: 'a', cat: 'x', pid: 1, tid: 0, ts: 0.001 },
      ]),
    ).toEqual([]);
    // Same nanosecond after truncation: file order decides, and E-before-B breaks.
    expect(
      rules([
        { ph: 'E', name: 'a', cat: 'x', pid: 1, tid: 0, ts: 0.0019 },
        { ph: 'B', name: 'a', cat: 'x', pid: 1, tid: 0, ts: 0.001 },
      ]),
    ).toEqual(['balanced', 'balanced']);
  });
});
