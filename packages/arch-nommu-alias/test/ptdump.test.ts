import { createMachine, PAGE_SIZE } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import {
  armPtdumpLine,
  backend,
  L_PTE_MT_WRITEALLOC,
  L_PTE_RDONLY,
  L_PTE_SHARED,
  L_PTE_XN,
  SECT_APX,
  SECT_S,
  SECT_XN,
} from '../src/index.js';

/**
 * Lines of a real 32-bit ARM kernel_page_tables (QEMU vexpress-a15), from Hailong Liu,
 * "[PATCH v2] ARM: ptdump: add KASAN regions" as quoted in its review, linux-kernel,
 * 20 Jan 2021.
 */
const REAL = [
  '0x6ee00000-0x7af00000         193M     RW NX SHD MEM/CACHED/WBWA',
  '0x7b000000-0x7f000000          64M     ro NX SHD MEM/CACHED/WBWA',
];

describe('32-bit ARM ptdump in arch/arm/mm/dump.c format', () => {
  it('prints the sample lines of a real kernel from the same Linux PTEs', () => {
    const rw = L_PTE_XN | L_PTE_SHARED | L_PTE_MT_WRITEALLOC;
    expect([
      armPtdumpLine(0x6ee00000, 0x7af00000, 4, rw),
      armPtdumpLine(0x7b000000, 0x7f000000, 4, rw | L_PTE_RDONLY),
    ]).toEqual(REAL);
    // A section (pmd level): AP and APX print as one field.
    expect(armPtdumpLine(0xc0000000, 0xc0100000, 3, SECT_APX | (1 << 10) | SECT_XN | SECT_S)).toBe(
      '0xc0000000-0xc0100000           1M     ro NX SHD',
    );
  });

  it("a machine's dump: markers, the protected pages read-only, frames moved out of lowmem", async () => {
    const m = await createMachine({ arch: backend, cpus: 1, memoryMiB: 16 });
    m.finishBoot();
    const area = m.vmalloc(2 * PAGE_SIZE, { range: 'wr' });
    m.protect(area.start, area.size, 'ro');
    const lines = m.ptdump().trimEnd().split('\n');
    expect(lines[0]).toBe('---[ Modules ]---');
    expect(lines.filter((l) => l.startsWith('---['))).toEqual([
      '---[ Modules ]---',
      '---[ Kernel Mapping ]---',
      '---[ vmalloc() Area ]---',
      '---[ Write-rare Area ]---',
      '---[ vmalloc() End ]---',
    ]);
    for (const l of lines.filter((x) => !x.startsWith('---[')))
      expect(l).toMatch(
        /^0x[0-9a-f]{8}-0x[0-9a-f]{8} {3}[ 0-9]{9}[KMGTPE] {4} (RW|ro) (NX|x ) SHD MEM\/CACHED\/WBWA$/,
      );
    const wr = lines.indexOf('---[ Write-rare Area ]---');
    expect(lines[wr + 1]).toBe(
      `0x${area.start.toString(16)}-0x${(area.start + 2 * PAGE_SIZE).toString(16)}           8K     ro NX SHD MEM/CACHED/WBWA`,
    );
    // The frames left lowmem (no alias): a hole in the Kernel Mapping runs.
    const dm = m.directMapVa(area.pfns[0] * PAGE_SIZE);
    const covering = lines.find((l) => {
      const mm = /^0x([0-9a-f]{8})-0x([0-9a-f]{8})/.exec(l);
      return mm && Number.parseInt(mm[1], 16) <= dm && dm < Number.parseInt(mm[2], 16);
    });
    expect(covering).toBeUndefined();
  });
});
