import { PAGE_SIZE } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { bits, DIRECT_MAP, x86PtdumpLine } from '../src/index.js';
import { machine } from './support/machine.js';

/**
 * Lines of real /sys/kernel/debug/kernel_page_tables output:
 * - Andrey Ryabinin, "Re: KASAN vs. boot-time switching between 4- and 5-level paging",
 *   linux-mm, 13 Jul 2017 (Message-ID 20939b37-efd8-2d32-0040-3682fff927c2@virtuozzo.com);
 * - a 5.0.0-rc2 Fedora kernel's dmesg quoted by Oscar Salvador, "Re: BUG: sleeping function
 *   called from invalid context at kernel/locking/mutex.c:908", linux-mm, 18 Jan 2019.
 */
const REAL = [
  '0xffff800000000000-0xffff808000000000         512G                               pud',
  '0x0000000000000000-0x0000000000001000           4K     RW     PCD         GLB NX pte',
  '0x0000000000001000-0x0000000000002000           4K                               pte',
  '0x0000000000002000-0x0000000000003000           4K     ro                 GLB NX pte',
  '0x0000000000008000-0x0000000000108000           1M     RW                 GLB NX pte',
  '0xffff999900200000-0xffff999909c00000         154M     RW         PSE     GLB NX pmd',
];

const { P, RW, PCD, PS, G, A, D, NX_HI } = bits;

describe('x86 ptdump in dump_pagetables.c format', () => {
  it('prints the sample lines of a real kernel from the same entries', () => {
    const line = (s: bigint, e: bigint, lo: number, hi: number, level: number) =>
      x86PtdumpLine(s, e, { lo, hi }, level);
    const got = [
      line(0xffff800000000000n, 0xffff808000000000n, 0, 0, 3),
      line(0n, 0x1000n, P | RW | PCD | A | D | G, NX_HI, 5),
      line(0x1000n, 0x2000n, 0, 0, 5),
      line(0x2000n, 0x3000n, P | A | G, NX_HI, 5),
      line(0x8000n, 0x108000n, P | RW | A | D | G, NX_HI, 5),
      line(0xffff999900200000n, 0xffff999909c00000n, P | RW | PS | A | D | G, NX_HI, 4),
    ];
    expect(got).toEqual(REAL);
  });

  it("a machine's dump: every line in the sample's columns, markers in address order, the split visible", async () => {
    const m = await machine({ cpus: 1, memoryMiB: 8 });
    m.finishBoot();
    const area = m.vmalloc(2 * PAGE_SIZE, { range: 'wr' });
    m.protect(area.start, area.size, 'ro');
    const dump = m.ptdump();
    const lines = dump.trimEnd().split('\n');
    const shape = /^0x[0-9a-f]{16}-0x[0-9a-f]{16} {3}[ 0-9]{9}[BKMGTPE] (.{30})(pgd|pud|pmd|pte)$/;
    const markerRe = /^---\[ (.+) \]---$/;
    const markers: string[] = [];
    for (const l of lines) {
      const mk = markerRe.exec(l);
      if (mk) markers.push(mk[1]);
      else expect(l).toMatch(shape);
    }
    expect(markers).toEqual([
      'User Space',
      'Kernel Space',
      'Low Kernel Mapping',
      'vmalloc() Area',
      'Write-rare Area',
      'Vmemmap',
      'High Kernel Mapping',
      'Modules',
    ]);
    // Columns sit exactly where the real kernel's are.
    for (const l of lines.filter((x) => x.includes(' RW ') || x.includes(' ro '))) {
      const ref = REAL[1];
      expect(l.indexOf('GLB')).toBe(ref.indexOf('GLB'));
    }
    // The direct map: 2 MiB pages, except the one the protected frames' aliases split.
    const alias = DIRECT_MAP + m.translate(area.start);
    const dm = lines.slice(lines.indexOf('---[ Low Kernel Mapping ]---'));
    expect(dm.some((l) => / RW {9}PSE {5}GLB NX pmd$/.test(l))).toBe(true);
    const hexa = (v: number) => `0xffff${v.toString(16).padStart(12, '0')}`;
    const aliasLine = dm.find((l) => l.startsWith(`${hexa(alias)}-`));
    expect(aliasLine).toMatch(/ {11}8K {5}ro {17}GLB NX pte$/);
    // The last run ends at the top of the address space, printed as 0 (normalize_addr).
    expect(lines.at(-1)).toMatch(/-0x0000000000000000 /);
  });
});
