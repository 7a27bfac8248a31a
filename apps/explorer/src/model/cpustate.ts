import { bits, WR_PKEY } from '@prmem/arch-x86';
import { GLOBAL_TAG, type Machine, type Mm, PAGE_SIZE, TLBF, WalkResult } from '@prmem/core';
import { hex } from './world.js';

/** What a TLB entry translates, relative to the operation's target. */
export type EntryRole = 'target' | 'alias' | 'direct' | 'other';

export interface TlbRow {
  readonly slot: number;
  /** Page VA of the entry. */
  readonly va: number;
  readonly pa: number;
  readonly global: boolean;
  /** The ASID/PCID tag (GLOBAL_TAG for a global entry). */
  readonly asid: number;
  readonly writable: boolean;
  readonly dirty: boolean;
  readonly role: EntryRole;
  /** Why the entry no longer matches the tables, or undefined when it still does. */
  readonly stale?: string;
  /**
   * A non-global entry of a PCID this CPU will flush before it can use it again (x86's
   * lazily invalidated PCIDs, `ArchImpl.asidLive`): dead, whatever it translates.
   */
  readonly dead: boolean;
}

export interface CpuState {
  readonly id: number;
  readonly mm: string;
  readonly asid: number;
  /** Architecture registers, formatted (CR3, CR0, PKRS / TTBRs / TTBR0, DACR, CONTEXTIDR). */
  readonly regs: readonly (readonly [string, string])[];
  readonly irqsDisabled: boolean;
  /** preempt_count(): above 0, the task cannot be moved off this CPU. */
  readonly preemptCount: number;
  readonly inWindow: boolean;
  /** CR0.WP where the architecture has it. */
  readonly wp?: boolean;
  /** PKRS's bits for the write-rare protection key, where the architecture has PKS. */
  readonly pkrs?: { readonly key: number; readonly ad: boolean; readonly wd: boolean };
  /** Valid TLB entries: all of them, or those of the target's frame. */
  readonly tlb: readonly TlbRow[];
  /** Valid entries in the TLB, whatever the filter. */
  readonly tlbValid: number;
  /** A hash of the listed rows: equal hashes, same rows (the view re-renders a TLB only when it changes). */
  readonly tlbHash: number;
}

function formatRegs(regs: Readonly<Record<string, number>>): [string, string][] {
  const out: [string, string][] = [];
  const his = new Set<string>();
  // Registers kept as two 32-bit halves: cr3lo/cr3hi, TTBR1_EL1_LO/_HI.
  for (const n of Object.keys(regs)) {
    const pair = /^(.*?)(lo|_LO)$/.exec(n);
    if (pair && pair[1] + (pair[2] === 'lo' ? 'hi' : '_HI') in regs)
      his.add(pair[1] + (pair[2] === 'lo' ? 'hi' : '_HI'));
  }
  for (const n of Object.keys(regs).sort()) {
    if (his.has(n)) continue;
    const pair = /^(.*?)(lo|_LO)$/.exec(n);
    const hiName = pair ? pair[1] + (pair[2] === 'lo' ? 'hi' : '_HI') : '';
    if (pair && his.has(hiName)) {
      const v = (regs[hiName] >>> 0) * 2 ** 32 + (regs[n] >>> 0);
      out.push([pair[1].toUpperCase(), hex(v)]);
    } else out.push([n.toUpperCase(), hex(regs[n] >>> 0)]);
  }
  return out;
}

/** The mm a TLB tag belongs to (global entries: the kernel's). */
function mmOfTag(m: Machine, asid: number): Mm | undefined {
  if (asid === GLOBAL_TAG) return m.kernelMm;
  return m.mms.find((mm) => mm.asid === asid);
}

/**
 * One CPU's state as the explorer shows it. `target` is the operation's VA: entries of its
 * frame are classified as the target, an alias, or the direct-map alias. With `all`, every
 * valid entry is listed; otherwise only those of the target's frame.
 */
export function cpuState(m: Machine, id: number, target: number, all: boolean): CpuState {
  const cpu = m.cpu(id);
  const tlb = cpu.tlb;
  const w = new WalkResult();
  const tpa = m.translate(target);
  const frame = tpa < 0 ? -1 : tpa - (tpa % PAGE_SIZE);
  const page = target - (target % PAGE_SIZE);
  const direct = frame < 0 ? -1 : m.directMapVa(frame);
  const rows: TlbRow[] = [];
  let valid = 0;
  let hash = 0x811c9dc5;
  const mix = (v: number) => {
    hash = Math.imul(hash ^ (v | 0), 0x01000193);
    hash = Math.imul(hash ^ Math.floor(v / 2 ** 32), 0x01000193);
  };
  for (let slot = 0; slot < tlb.size; slot++) {
    const tag = tlb.tag[slot];
    if (!(tag >= 0)) continue;
    valid++;
    const asid = tag % PAGE_SIZE;
    const va = tag - asid;
    const pa = tlb.pa[slot];
    const role: EntryRole =
      pa !== frame ? 'other' : va === page ? 'target' : va === direct ? 'direct' : 'alias';
    if (!all && role === 'other') continue;
    const flags = tlb.flags[slot];
    const writable = (flags & TLBF.W) !== 0;
    let stale: string | undefined;
    const mm = mmOfTag(m, asid);
    if (!mm) stale = 'no mm has this ASID';
    else if (!m.arch.pt.lookup(mm, va, w) || w.fault !== 0) stale = `unmapped in ${mm.name}`;
    else if (w.pa !== pa) stale = `${mm.name} maps it to ${hex(w.pa)}`;
    else if (writable && (w.flags & TLBF.W) === 0) stale = `read-only in ${mm.name}`;
    mix(slot);
    mix(tag);
    mix(pa);
    mix(flags);
    mix(stale === undefined ? 0 : stale.length + 1);
    const dead = asid !== GLOBAL_TAG && m.arch.asidLive?.(cpu, asid) === false;
    mix(role.length + (dead ? 16 : 0));
    rows.push({
      slot,
      va,
      pa,
      global: asid === GLOBAL_TAG,
      asid,
      writable,
      dirty: (flags & TLBF.D) !== 0,
      role,
      dead,
      ...(stale ? { stale } : {}),
    });
  }
  const cr0 = cpu.regs.cr0;
  const pkrs = cpu.regs.pkrs;
  return {
    id,
    mm: cpu.mm.name,
    asid: cpu.asid,
    regs: formatRegs(cpu.regs),
    irqsDisabled: cpu.irqsDisabled,
    preemptCount: cpu.preemptCount,
    inWindow: m.windowOpen(cpu),
    ...(cr0 !== undefined ? { wp: (cr0 & bits.CR0_WP) !== 0 } : {}),
    ...(pkrs !== undefined
      ? {
          pkrs: {
            key: WR_PKEY,
            ad: (pkrs & bits.pkrsAd(WR_PKEY)) !== 0,
            wd: (pkrs & bits.pkrsWd(WR_PKEY)) !== 0,
          },
        }
      : {}),
    tlb: rows,
    tlbValid: valid,
    tlbHash: hash >>> 0,
  };
}
