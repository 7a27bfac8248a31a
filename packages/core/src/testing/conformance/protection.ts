/** Protection rules: setProtection takes write permission from every mapping, on every CPU. */
import { type Backend, type Cpu, PAGE_SIZE, PageFault, type ProtLevel, VM } from '../../index.js';
import type { ConformanceRule } from './rule.js';
import { check, firstDiff, hex, makeWorld } from './world.js';

const GROUP = 'protection';

function writeFaults(cpu: Cpu, va: number): boolean {
  try {
    cpu.write8(va, 0xee);
  } catch (e) {
    if (e instanceof PageFault) return true;
    throw e;
  }
  return false;
}

export function protectionRules(backend: Backend): ConformanceRule[] {
  const rule = (level: Exclude<ProtLevel, 'rw'>): ConformanceRule => ({
    group: GROUP,
    name: `protecting to '${level}' takes write permission from the pages and their direct-map alias on every CPU`,
    async run() {
      const w = await makeWorld(backend);
      const { m } = w;
      const flags = level === 'wr' ? VM.PMALLOC | VM.PMALLOC_WR : VM.PMALLOC;
      const area = m.vmalloc(2 * PAGE_SIZE, { range: 'wr', flags, name: `conformance-${level}` });
      const targets: number[] = [];
      for (let va = area.start; va < area.start + area.size; va += PAGE_SIZE) {
        targets.push(va);
        const alias = m.directMapVa(m.translate(va));
        targets.push(alias);
      }
      // Every CPU caches writable translations of the pages and of their alias first
      // (where the alias is mapped at all: an MMU that forbids aliases unmaps it).
      for (let i = 0; i < m.cpuCount; i++)
        for (const va of targets) {
          try {
            m.cpu(i).write8(va, i + 1);
          } catch (e) {
            if (!(e instanceof PageFault)) throw e;
          }
        }
      const before = m.peek(area.start, area.size);
      m.protect(area.start, area.size, level);
      for (let i = 0; i < m.cpuCount; i++)
        for (const va of targets)
          check(
            writeFaults(m.cpu(i), va),
            'setProtection',
            () =>
              `after protect('${level}') cpu${i} can still write ${hex(va)}${va === area.start || (va >= area.start && va < area.start + area.size) ? '' : ' (the direct-map alias)'}`,
          );
      const after = m.peek(area.start, area.size);
      check(
        before !== null && after !== null && firstDiff(before, after) === -1,
        'setProtection',
        () => 'protection (or a refused write) changed the contents',
      );
      check(
        m.cpu(1).read8(area.start) === after?.[0],
        'setProtection',
        () => 'a protected page is not readable',
      );
      const findings = m.auditProtections();
      check(
        findings.length === 0,
        'setProtection',
        () =>
          `the audit finds writable mappings of protected memory: ${JSON.stringify(findings[0])}`,
      );
    },
  });
  return [rule('wr'), rule('ro')];
}
