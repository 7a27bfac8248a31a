import {
  applyOpsViaCpu,
  type Cpu,
  drain,
  frameAreas,
  generatorMechanism,
  isWrFrame,
  opsSpan,
  PAGE_SIZE,
  pinWrFrames,
  refuseWrTarget,
  resolveWrFrames,
  StateError,
  unpinWrFrames,
  type Steps,
  type WriteRareMechanism,
  type WrOp,
} from '@prmem/core';
import type { NommuArch } from './arch.js';
import { VA32_LIMIT } from './layout.js';

/**
 * Write-rare by changing the one mapping in place. `lazy` skips the shootdown when
 * relaxing (RO → RW): other CPUs keep stale read-only entries, which cost them a spurious
 * fault if they write; only tightening (RW → RO) pays the IPIs. Either way the PTE is
 * writable for every CPU while the window is open: that is the mechanism's weakness.
 */
function* remapSession(arch: NommuArch, cpu: Cpu, ops: readonly WrOp[], lazy: boolean): Steps {
  if (ops.length === 0) return;
  const name = lazy ? 'lazy' : 'direct-remap';
  const m = arch.m;
  // Every op's own pages must be write-rare memory (operands first: a huge length is
  // refused before anything lists its pages).
  resolveWrFrames(cpu, name, ops, m.layout.userEnd);
  const { start, end } = opsSpan(ops);
  if (end > VA32_LIMIT)
    refuseWrTarget(cpu, name, start, end - start, 'bad-address', 'runs past 2^32');
  const s = start - (start % PAGE_SIZE);
  const e = Math.ceil(end / PAGE_SIZE) * PAGE_SIZE;
  // The window opens the whole span [s, e) to every CPU: every page of it — gaps between
  // the ops included — must be write-rare, or the window would open read-only memory.
  const pfns: number[] = [];
  for (let va = s; va < e; va += PAGE_SIZE) {
    const pa = m.translate(va);
    if (pa < 0)
      refuseWrTarget(
        cpu,
        name,
        va,
        PAGE_SIZE,
        'unmapped',
        'the window would span an unmapped page',
      );
    if (!isWrFrame(cpu, pa / PAGE_SIZE))
      refuseWrTarget(
        cpu,
        name,
        va,
        PAGE_SIZE,
        'not-write-rare',
        'the window would span memory that is not write-rare',
      );
    pfns.push(pa / PAGE_SIZE);
  }
  const areas = frameAreas(cpu, pfns);
  // Windows are serialized (as text_mutex serializes text_poke): one closing window must
  // not make the page read-only under another CPU's open one.
  while (arch.wrLockOwner !== -1) {
    if (arch.wrLockOwner === cpu.id)
      throw new StateError('EWRNESTED', `CPU ${cpu.id} already holds the write-rare lock`, {
        cpu: cpu.id,
      });
    yield 'wait: write-rare lock';
  }
  arch.wrLockOwner = cpu.id;
  let pinned = false;
  let preempted = false;
  let writable = false;
  let unflushed = false;
  let opened = false;
  try {
    pinWrFrames(cpu, pfns, areas);
    pinned = true;
    cpu.preemptCount++;
    preempted = true;
    arch.setKernelPtes(cpu, s, e, true);
    writable = true;
    if (lazy) {
      // Only the writer's own stale read-only entry is dropped; no IPI.
      arch.localFlushKernelRange(cpu, s, e);
      yield 'pte: writable (local flush only)';
    } else {
      yield 'pte: writable';
      yield* arch.flushKernelRange(cpu, s, e);
    }
    m.openWindow(cpu);
    opened = true;
    yield* applyOpsViaCpu(cpu, ops, 0);
    arch.setKernelPtes(cpu, s, e, false);
    writable = false;
    unflushed = true;
    yield 'pte: read-only';
    yield* arch.flushKernelRange(cpu, s, e);
    unflushed = false;
  } finally {
    // An op that threw, or an abandoned schedule: never leave the page writable.
    if (writable) arch.setKernelPtes(cpu, s, e, false);
    if (writable || unflushed) drain(arch.flushKernelRange(cpu, s, e));
    if (opened) m.closeWindow(cpu);
    if (preempted) cpu.preemptCount--;
    if (pinned) unpinWrFrames(cpu, pfns);
    arch.wrLockOwner = -1;
  }
}

export function directRemap(arch: NommuArch): WriteRareMechanism {
  return generatorMechanism({
    name: 'direct-remap',
    summary:
      'make the one mapping writable, IPI shootdown, write in place, read-only again, IPI shootdown (window open to every CPU)',
    batchable: true,
    session: (cpu, ops) => remapSession(arch, cpu, ops, false),
  });
}

export function lazyRemap(arch: NommuArch): WriteRareMechanism {
  return generatorMechanism({
    name: 'lazy',
    summary:
      'direct-remap without the shootdown on relaxing: stale RO entries take spurious faults; only tightening pays IPIs (window open to every CPU)',
    batchable: true,
    session: (cpu, ops) => remapSession(arch, cpu, ops, true),
  });
}
