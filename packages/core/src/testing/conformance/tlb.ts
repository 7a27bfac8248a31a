/**
 * TLB maintenance rules: what each flush removes and what it keeps, on which CPUs, and
 * what a context switch must do to the CPU's state.
 */
import { type Backend, type Cpu, drain, PAGE_SIZE, PageFault } from '../../index.js';
import type { ConformanceRule } from './rule.js';
import { check, hex, makeWorld, type World } from './world.js';

const GROUP = 'TLB';

/** Reads every page on every CPU, so each CPU caches a translation of each. */
function fill(w: World, pages: readonly number[]): void {
  for (let i = 0; i < w.m.cpuCount; i++) for (const va of pages) w.m.cpu(i).read8(va);
}

const cached = (cpu: Cpu, va: number) => cpu.tlb.covers(va - (va % PAGE_SIZE), cpu.asid);

function plainPages(w: World): number[] {
  return [0, 1, 2, 3].map((i) => w.plain.start + i * PAGE_SIZE);
}

export function tlbRules(backend: Backend): ConformanceRule[] {
  return [
    {
      group: GROUP,
      name: 'flushLocalPage drops that page on this CPU only, for any address inside it',
      async run() {
        const w = await makeWorld(backend);
        const [p0, p1] = plainPages(w);
        const [c0, c1] = [w.m.cpu(0), w.m.cpu(1)];
        fill(w, [p0, p1]);
        check(
          cached(c0, p0) && cached(c1, p0),
          'flushLocalPage',
          () => `a read did not cache ${hex(p0)}`,
        );
        w.m.arch.flushLocalPage(c0, p0 + 0x123);
        check(!cached(c0, p0), 'flushLocalPage', () => `cpu0 still caches ${hex(p0)}`);
        check(cached(c0, p1), 'flushLocalPage', () => `it also dropped the next page ${hex(p1)}`);
        check(cached(c1, p0), 'flushLocalPage', () => `it dropped ${hex(p0)} on cpu1 too`);
      },
    },
    {
      group: GROUP,
      name: 'flushKernelRange of one page drops it on every CPU and keeps the pages around it',
      async run() {
        const w = await makeWorld(backend);
        const [p0, p1, p2] = plainPages(w);
        fill(w, [p0, p1, p2]);
        drain(w.m.arch.flushKernelRange(w.m.cpu(0), p1, p1 + PAGE_SIZE));
        for (let i = 0; i < w.m.cpuCount; i++) {
          const cpu = w.m.cpu(i);
          check(!cached(cpu, p1), 'flushKernelRange', () => `cpu${i} still caches ${hex(p1)}`);
          check(
            cached(cpu, p0) && cached(cpu, p2),
            'flushKernelRange',
            () => `cpu${i} lost a page outside the range [${hex(p1)}, ${hex(p1 + PAGE_SIZE)})`,
          );
        }
      },
    },
    {
      group: GROUP,
      name: 'flushKernelRange of all of vmalloc space drops every vmalloc page on every CPU',
      async run() {
        const w = await makeWorld(backend);
        const pages = [...plainPages(w)];
        fill(w, pages);
        const { vmallocStart, vmallocEnd } = w.m.layout;
        drain(w.m.arch.flushKernelRange(w.m.cpu(1), vmallocStart, vmallocEnd));
        for (let i = 0; i < w.m.cpuCount; i++)
          for (const va of pages)
            check(
              !cached(w.m.cpu(i), va),
              'flushKernelRange',
              () => `cpu${i} still caches ${hex(va)}`,
            );
      },
    },
    {
      group: GROUP,
      name: "switchMm sets cpu.mm and cpu.asid, keeps the kernel's translations and never lets one mm's entries translate in another",
      async run() {
        const w = await makeWorld(backend);
        const { m } = w;
        const cpu = m.cpu(0);
        const a = m.createMm('user', 'conformance-a');
        const b = m.createMm('user', 'conformance-b');
        check(a.asid !== b.asid, 'switchMm', () => `two live mms share ASID ${a.asid}`);
        // A kernel-only, non-global page at a user-half VA, mapped in `a` alone.
        const uva = 0x40_0000;
        const pfn = m.phys.allocFrame(a.id);
        m.phys.bytes.fill(0x5a, pfn * PAGE_SIZE, (pfn + 1) * PAGE_SIZE);
        // As vmalloc does: an MMU that forbids aliases takes the frame out of the direct map.
        m.arch.vmapFrames?.(cpu, [pfn]);
        m.arch.pt.map(a, uva, pfn * PAGE_SIZE, { write: true, exec: false, global: false });
        const kva = w.data;
        cpu.read8(kva);
        for (const mm of [a, b, a, m.kernelMm]) {
          m.switchMm(cpu, mm);
          check(
            cached(cpu, kva),
            'switchMm',
            () => `switching to ${mm.name} dropped the kernel's global translation of ${hex(kva)}`,
          );
          check(cpu.mm === mm, 'switchMm', () => `cpu.mm is ${cpu.mm.name}, not ${mm.name}`);
          check(
            cpu.asid === mm.asid,
            'switchMm',
            () => `cpu.asid is ${cpu.asid} after switching to ${mm.name} (asid ${mm.asid})`,
          );
          check(
            cpu.read8(kva) === m.peek(kva, 1)?.[0],
            'switchMm',
            () => `the kernel half reads differently in ${mm.name}`,
          );
          if (mm === a) {
            check(
              cpu.read8(uva) === 0x5a,
              'switchMm',
              () => `${hex(uva)} does not read its frame in ${mm.name}`,
            );
          } else {
            let fault: unknown;
            try {
              cpu.read8(uva);
            } catch (e) {
              fault = e;
            }
            check(
              fault instanceof PageFault,
              'switchMm',
              () =>
                `${hex(uva)}, mapped only in ${a.name}, still translates in ${mm.name}: a stale entry of another mm`,
            );
          }
        }
      },
    },
  ];
}
