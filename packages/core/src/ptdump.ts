import { canonical } from './addr.js';
import type { Machine } from './machine.js';
import type { Mm } from './mm.js';
import { TLBF, TLBF_PKEY_MASK, TLBF_PKEY_SHIFT } from './tlb.js';

export interface PtdumpOptions {
  /** Only leaves in [start, end). */
  readonly start?: number;
  readonly end?: number;
}

const LEVEL_NAMES = ['', 'pte', 'pmd', 'pud', 'p4d', 'pgd'];

function human(bytes: number): string {
  const units: [number, string][] = [
    [2 ** 40, 'T'],
    [2 ** 30, 'G'],
    [2 ** 20, 'M'],
    [2 ** 10, 'K'],
  ];
  for (const [u, s] of units) if (bytes % u === 0 && bytes >= u) return `${bytes / u}${s}`;
  return `${bytes}`;
}

/**
 * A dump in the style of /sys/kernel/debug/page_tables: runs of virtually contiguous
 * pages with the same attributes, one line each, with `---[ name ]---` markers.
 */
export function ptdump(m: Machine, mm: Mm, opts: PtdumpOptions = {}): string {
  const lines: string[] = [];
  const markers = [...m.layout.markers].sort((a, b) => a[0] - b[0]);
  let mi = 0;
  let run: { start: number; end: number; flags: number; level: number } | undefined;
  const attr = (f: number) => {
    const pkey = (f & TLBF_PKEY_MASK) >>> TLBF_PKEY_SHIFT;
    return [
      (f & TLBF.W) !== 0 ? 'RW' : 'ro',
      (f & TLBF.U) !== 0 ? 'USR' : '   ',
      (f & TLBF.G) !== 0 ? 'GLB' : '   ',
      (f & TLBF.X) !== 0 ? 'x ' : 'NX',
      pkey ? `pkey=${pkey}` : '',
    ].join(' ');
  };
  const flush = () => {
    if (!run) return;
    const size = human(run.end - run.start).padStart(9);
    lines.push(
      `${canonical(run.start)}-${canonical(run.end)} ${size}     ${attr(run.flags)}  ${LEVEL_NAMES[run.level] ?? run.level}`.trimEnd(),
    );
    run = undefined;
  };
  const mask = TLBF.W | TLBF.U | TLBF.G | TLBF.X | TLBF_PKEY_MASK;
  m.arch.pt.forEachLeaf(mm, (va, _pa, flags, level) => {
    if (opts.start !== undefined && va < opts.start) return;
    if (opts.end !== undefined && va >= opts.end) return;
    while (mi < markers.length && markers[mi][0] <= va) {
      flush();
      lines.push(`---[ ${markers[mi][1]} ]---`);
      mi++;
    }
    const f = flags & mask;
    const size = 4096 * 512 ** (level - 1);
    if (run && run.end === va && run.flags === f && run.level === level) {
      run.end = va + size;
      return;
    }
    flush();
    run = { start: va, end: va + size, flags: f, level };
  });
  flush();
  return `${lines.join('\n')}\n`;
}
