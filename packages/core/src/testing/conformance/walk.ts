/**
 * Page-table rules: what `pt.walk` reads and writes, the accessed/dirty semantics, and
 * the TLB's comparators (which permissions the hit path checks without asking the arch).
 */
import { ACC_READ, ACC_WRITE, type Backend, PAGE_SIZE, TLBF, VM, WalkResult } from '../../index.js';
import type { ConformanceRule } from './rule.js';
import { check, hex, makeWorld, type World } from './world.js';

const GROUP = 'page tables';

/** Kernel VAs every backend maps: write-rare, read-only, writable vmalloc, statics, direct map. */
function samples(w: World): number[] {
  // The direct-map alias of a page table: mapped even where vmalloc'd frames leave the map.
  const alias = w.m.directMapVa(w.m.kernelMm.rootPa);
  return [
    w.wr.start,
    w.ro.start,
    w.plain.start,
    w.plain.start + 3 * PAGE_SIZE + 77,
    w.wrStatic,
    w.data,
    alias,
  ];
}

/** A VA in vmalloc space that nothing maps: the guard page after an area. */
const unmapped = (w: World) => w.plain.start + w.plain.size;

export function walkRules(backend: Backend): ConformanceRule[] {
  return [
    {
      group: GROUP,
      name: 'walk translates the VA in out.va and agrees with lookup',
      async run() {
        const w = await makeWorld(backend);
        const { m } = w;
        const pt = m.arch.pt;
        const cpu = m.cpu(0);
        const out = new WalkResult();
        const ref = new WalkResult();
        for (const va of samples(w)) {
          check(
            pt.lookup(m.kernelMm, va, ref),
            'walk',
            () => `lookup finds no mapping of ${hex(va)}`,
          );
          out.va = va;
          out.pa = -1;
          out.level = -1;
          out.leafPa = -1;
          out.fault = -1;
          const f = pt.walk(cpu, m.kernelMm, false, out);
          check(f === 0, 'walk', () => `a read walk of mapped ${hex(va)} returned fault ${f}`);
          check(out.fault === 0, 'walk', () => `out.fault ${out.fault} after a successful walk`);
          const want = m.translate(va);
          check(
            out.pa + (va % PAGE_SIZE) === want,
            'walk',
            () =>
              `walk of ${hex(va)}: out.pa ${hex(out.pa)}, the tables say ${hex(want - (va % PAGE_SIZE))}`,
          );
          check(
            out.level === ref.level && out.leafPa === ref.leafPa,
            'walk',
            () =>
              `walk of ${hex(va)} found leaf ${hex(out.leafPa)} at level ${out.level}, lookup ${hex(ref.leafPa)} at ${ref.level}`,
          );
        }
        out.va = unmapped(w);
        check(
          !pt.lookup(m.kernelMm, out.va, ref),
          'walk',
          () => `guard page ${hex(out.va)} is mapped`,
        );
        const f = pt.walk(cpu, m.kernelMm, false, out);
        check(
          f !== 0,
          'walk',
          () => `a walk of unmapped ${hex(out.va)} returned 0 (translation found)`,
        );
      },
    },
    {
      group: GROUP,
      name: 'walk allocates nothing (no boxed out.va, no garbage per TLB miss)',
      async run() {
        const w = await makeWorld(backend);
        const perWalk = walkAllocation(w);
        check(
          perWalk < 2,
          'walk allocation',
          () =>
            `the heap grows by ${perWalk.toFixed(1)} bytes per walk (median of batches); a walk must allocate nothing`,
        );
      },
    },
    {
      group: GROUP,
      name: 'tableFrames lists every table frame a walk reads',
      async run() {
        const w = await makeWorld(backend);
        const { m } = w;
        const frames = new Set(m.arch.pt.tableFrames(m.kernelMm));
        check(
          frames.has(m.kernelMm.rootPa / PAGE_SIZE),
          'tableFrames',
          () => `the root frame ${m.kernelMm.rootPa / PAGE_SIZE} is not listed`,
        );
        const ref = new WalkResult();
        for (const va of samples(w)) {
          m.arch.pt.lookup(m.kernelMm, va, ref);
          const pfn = Math.floor(ref.leafPa / PAGE_SIZE);
          check(
            frames.has(pfn),
            'tableFrames',
            () =>
              `the leaf of ${hex(va)} is in frame ${pfn}, which tableFrames does not list (${frames.size} listed)`,
          );
        }
      },
    },
    {
      group: GROUP,
      name: 'a walk writes only its own tables, allocates no frame, and a repeated walk writes nothing',
      async run() {
        const w = await makeWorld(backend);
        const { m } = w;
        const cpu = m.cpu(0);
        const frames = new Set(m.arch.pt.tableFrames(m.kernelMm));
        const out = new WalkResult();
        for (const va of samples(w))
          for (const write of [false, true]) {
            const before = m.phys.bytes.slice();
            const free = m.phys.freeFrames;
            out.va = va;
            m.arch.pt.walk(cpu, m.kernelMm, write, out);
            check(
              m.phys.freeFrames === free,
              'walk',
              () => `a walk of ${hex(va)} allocated frames`,
            );
            const changed = changedFrames(before, m.phys.bytes);
            const foreign = changed.filter((pfn) => !frames.has(pfn));
            check(
              foreign.length === 0,
              'walk',
              () =>
                `a ${write ? 'write' : 'read'} walk of ${hex(va)} wrote frame(s) ${foreign.join(', ')}, not page tables of the mm`,
            );
            const again = m.phys.bytes.slice();
            m.arch.pt.walk(cpu, m.kernelMm, write, out);
            const twice = changedFrames(again, m.phys.bytes);
            check(
              twice.length === 0,
              'walk',
              () =>
                `repeating a ${write ? 'write' : 'read'} walk of ${hex(va)} wrote frame(s) ${twice.join(', ')}`,
            );
          }
      },
    },
    {
      group: GROUP,
      name: 'dirty: a write walk of a writable page sets and reports D; a read walk leaves a clean page clean',
      async run() {
        const w = await makeWorld(backend);
        const { m } = w;
        const pt = m.arch.pt;
        const cpu = m.cpu(0);
        const out = new WalkResult();
        for (let va = w.plain.start; va < w.plain.start + w.plain.size; va += PAGE_SIZE) {
          pt.lookup(m.kernelMm, va, out);
          const clean = (out.flags & TLBF.D) === 0;
          out.va = va;
          pt.walk(cpu, m.kernelMm, false, out);
          if (clean) {
            pt.lookup(m.kernelMm, va, out);
            check((out.flags & TLBF.D) === 0, 'dirty', () => `a read walk dirtied ${hex(va)}`);
          }
          out.va = va;
          const f = pt.walk(cpu, m.kernelMm, true, out);
          check(f === 0 && (out.flags & TLBF.W) !== 0, 'dirty', () => `${hex(va)} is not writable`);
          check(
            (out.flags & TLBF.D) !== 0,
            'dirty',
            () => `a write walk of ${hex(va)} did not report D`,
          );
          pt.lookup(m.kernelMm, va, out);
          check(
            (out.flags & TLBF.D) !== 0,
            'dirty',
            () => `a write walk of ${hex(va)} did not set D in the entry`,
          );
        }
      },
    },
    {
      group: GROUP,
      name: 'a write walk of a page it may not write changes the tables exactly as a read walk',
      async run() {
        const w = await makeWorld(backend);
        const { m } = w;
        const cpu = m.cpu(0);
        const out = new WalkResult();
        // A page never written since it was mapped too: clean, where the arch maps clean.
        const fresh = m.vmalloc(PAGE_SIZE, {
          range: 'wr',
          flags: VM.PMALLOC | VM.PMALLOC_WR,
          name: 'conformance-clean',
        });
        m.protect(fresh.start, fresh.size, 'wr');
        for (const va of [fresh.start, w.wr.start, w.ro.start, w.wrStatic]) {
          const start = m.phys.bytes.slice();
          out.va = va;
          m.arch.pt.walk(cpu, m.kernelMm, false, out);
          check((out.flags & TLBF.W) === 0, 'dirty', () => `protected ${hex(va)} walks writable`);
          const afterRead = m.phys.bytes.slice();
          m.phys.bytes.set(start);
          out.va = va;
          m.arch.pt.walk(cpu, m.kernelMm, true, out);
          const diff = changedFrames(afterRead, m.phys.bytes);
          check(
            diff.length === 0,
            'dirty',
            () =>
              `a write walk of read-only ${hex(va)} wrote frame(s) ${diff.join(', ')} differently from a read walk`,
          );
        }
      },
    },
    {
      group: 'TLB',
      name: 'comparators: a cached translation whose access the arch refuses never takes the hit path',
      async run() {
        // The hit path compares `rtag` for reads and `wtag` for writes and calls no arch
        // code: `rtag` ignores the permission bits (a readable kernel page is the rule, so
        // an entry the arch may refuse reads of must carry SLOW_R), while `wtag` folds W
        // and D in (and SLOW_W), so a refused write always reaches checkAccess.
        const w = await makeWorld(backend);
        const { m } = w;
        const cpu = m.cpu(0);
        const out = new WalkResult();
        const vas = [...samples(w)];
        let n = 0;
        m.arch.pt.forEachLeaf(m.kernelMm, (va, _pa, _flags, level) => {
          if (level === 1 && n++ % 97 === 0) vas.push(va);
        });
        for (const va of vas) {
          out.va = va;
          if (m.arch.pt.walk(cpu, m.kernelMm, false, out) !== 0) continue;
          const flags = out.flags;
          if (m.arch.checkAccess(cpu, flags, ACC_READ) !== 0)
            check(
              (flags & TLBF.SLOW_R) !== 0,
              'comparator',
              () =>
                `reads of ${hex(va)} are refused by checkAccess but its flags ${hex(flags)} let the hit path read it (set SLOW_R)`,
            );
          const fastWrite =
            (flags & (TLBF.W | TLBF.D)) === (TLBF.W | TLBF.D) && (flags & TLBF.SLOW_W) === 0;
          if (m.arch.checkAccess(cpu, flags, ACC_WRITE) !== 0)
            check(
              !fastWrite,
              'comparator',
              () =>
                `writes to ${hex(va)} are refused by checkAccess but its flags ${hex(flags)} let the hit path write it`,
            );
        }
        // And through the CPU: a refused read stays refused once the entry is cached.
        const cpu1 = m.cpu(1);
        for (const va of vas) {
          let first: unknown = null;
          let second: unknown = null;
          try {
            cpu1.read8(va);
          } catch (e) {
            first = e;
          }
          try {
            cpu1.read8(va);
          } catch (e) {
            second = e;
          }
          check(
            (first === null) === (second === null),
            'comparator',
            () =>
              `a read of ${hex(va)} ${first === null ? 'passed' : 'faulted'} on a miss and ${second === null ? 'passed' : 'faulted'} on the hit`,
          );
        }
      },
    },
  ];
}

function changedFrames(a: Uint8Array, b: Uint8Array): number[] {
  // Word compares: a byte loop over all of physical memory is the slow part of the kit.
  const x = new Uint32Array(a.buffer, a.byteOffset, a.byteLength >>> 2);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.byteLength >>> 2);
  const words = PAGE_SIZE >>> 2;
  const out: number[] = [];
  for (let off = 0; off < x.length; off += words) {
    const end = off + words;
    for (let i = off; i < end; i++)
      if (x[i] !== y[i]) {
        out.push(off / words);
        break;
      }
  }
  return out;
}

interface MemoryUsage {
  memoryUsage(): { heapUsed: number };
}

/**
 * Heap growth per walk, the median of many batches: a scavenge inside a batch shows as a
 * drop, and the median ignores the few batches it hits. Kernel VAs are above 2^31, so a
 * VA passed by value to a helper that is not inlined is a fresh HeapNumber each time.
 */
function walkAllocation(w: World): number {
  const proc = (globalThis as { process?: Partial<MemoryUsage> }).process;
  if (typeof proc?.memoryUsage !== 'function')
    throw new Error('the allocation rule needs process.memoryUsage (run the kit under Node)');
  const usage = proc.memoryUsage.bind(proc);
  const { m } = w;
  const pt = m.arch.pt;
  const mm = m.kernelMm;
  const cpu = m.cpu(0);
  const out = new WalkResult();
  const a = w.plain.start;
  const b = w.wr.start + PAGE_SIZE;
  const c = m.directMapVa(mm.rootPa);
  const batch = 4096;
  const loop = (n: number) => {
    for (let i = 0; i < n; i++) {
      out.va = (i & 3) === 0 ? a : (i & 3) === 1 ? b : c;
      pt.walk(cpu, mm, (i & 3) === 0, out);
    }
  };
  for (let i = 0; i < 40; i++) loop(batch); // reach the optimising compiler first
  const deltas: number[] = [];
  for (let i = 0; i < 41; i++) {
    const before = usage().heapUsed;
    loop(batch);
    deltas.push(usage().heapUsed - before);
  }
  deltas.sort((x, y) => x - y);
  return deltas[deltas.length >> 1] / batch;
}
