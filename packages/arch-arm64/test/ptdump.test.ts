import { createMachine, PAGE_SIZE } from '@prmem/core';
import { describe, expect, it } from 'vitest';
import { arm64Of, arm64PtdumpLine, createArm64Backend, STAGE2_BITS } from '../src/index.js';

/**
 * Lines of a real arm64 kernel_page_tables (4 KiB pages), from Barry Song, "Re: [PATCH v4
 * 2/2] arm64: mm: hugetlb: Enable HUGETLB_PAGE_FREE_VMEMMAP for arm64", linux-kernel,
 * 1 Apr 2022 (the mail wrapped the long lines at a space; rejoined here).
 */
const REAL = [
  '0xfffffc0000000000-0xfffffc1180000000          70G PUD',
  '0xfffffc1181000000-0xfffffc1185000000          64M PMD       RW NX SHD AF NG     BLK UXN    MEM/NORMAL',
  '0xfffffc27e8091000-0xfffffc27e8098000          28K PTE       ro NX SHD AF NG         UXN    MEM/NORMAL',
  '0xfffffc8000000000-0xfffffe0000000000        1536G PGD',
];

// Descriptor bits (low word; the high word holds bits 32-63 shifted down).
const VALID = 1;
const PAGE = 2;
const RDONLY = 1 << 7;
const SHD = 3 << 8;
const AF = 1 << 10;
const NG = 1 << 11;
const PXN = 1 << 21;
const UXN = 1 << 22;

describe('arm64 ptdump in arch/arm64/mm/ptdump.c format', () => {
  it('prints the sample lines of a real kernel from the same descriptors', () => {
    const kernelRw = { lo: VALID | SHD | AF | NG, hi: PXN | UXN }; // a block: bit 1 clear
    const kernelRoPage = { lo: VALID | PAGE | RDONLY | SHD | AF | NG, hi: PXN | UXN };
    expect([
      arm64PtdumpLine(0xfffffc0000000000n, 0xfffffc1180000000n, 'PUD'),
      arm64PtdumpLine(0xfffffc1181000000n, 0xfffffc1185000000n, 'PMD', kernelRw),
      arm64PtdumpLine(0xfffffc27e8091000n, 0xfffffc27e8098000n, 'PTE', kernelRoPage),
      arm64PtdumpLine(0xfffffc8000000000n, 0xfffffe0000000000n, 'PGD'),
    ]).toEqual(REAL);
  });

  it("a machine's dump: linear-map blocks, a split block's pages, the protected range read-only", async () => {
    const m = await createMachine({
      arch: createArm64Backend({ linearMap: 'blocks-bbml2' }),
      cpus: 1,
      memoryMiB: 16,
    });
    m.finishBoot();
    const area = m.vmalloc(2 * PAGE_SIZE, { range: 'wr' });
    m.protect(area.start, area.size, 'ro');
    const lines = m.ptdump().trimEnd().split('\n');
    const shape = /^0x[0-9a-f]{16}-0x[0-9a-f]{16} {3}[ 0-9]{9}[KMGTPE] (PGD|PUD|PMD|PTE)( .*)?$/;
    for (const l of lines) if (!l.startsWith('---[')) expect(l).toMatch(shape);
    expect(lines[0]).toBe('---[ Linear Mapping start ]---');
    // Blocks where no protection split them, and the pages of the split one.
    expect(lines.some((l) => / PMD {7}RW NX SHD AF {8}BLK UXN {4}MEM\/NORMAL$/.test(l))).toBe(true);
    const ro = / PTE {7}ro NX SHD AF {12}UXN {4}MEM\/NORMAL$/;
    const wrStart = lines.indexOf('---[ Write-rare area start ]---');
    expect(lines[wrStart + 1]).toMatch(/^0xfffff00000000000-0xfffff00000002000 {11}8K/);
    expect(lines[wrStart + 1]).toMatch(ro);
    // The columns of mapped lines sit where the real kernel's are.
    for (const l of lines.filter((x) => x.includes('MEM/NORMAL')))
      expect(l.indexOf('MEM/NORMAL')).toBe(REAL[1].indexOf('MEM/NORMAL'));
  });

  it("EL2's stage 2 in KVM's stage2_page_tables format: S2AP, XN, AF, levels by number", async () => {
    const m = await createMachine({ arch: createArm64Backend(), cpus: 1, memoryMiB: 16 });
    m.finishBoot();
    const area = m.vmalloc(PAGE_SIZE, { range: 'wr' });
    m.protect(area.start, area.size, 'ro');
    const arch = arm64Of(m);
    const lines = arch.stage2Ptdump().trimEnd().split('\n');
    expect(lines[0]).toBe('---[ Guest IPA ]---');
    const rw = ' 3   R W px ux  AF    ';
    const roLine = ' 3   R   px ux  AF    ';
    expect(lines.some((l) => l.endsWith(rw))).toBe(true);
    // The registered frame is read-only at stage 2; EL2's own frames are not mapped.
    const pa = BigInt(area.pfns[0] * PAGE_SIZE);
    const hit = lines.find((l) => {
      const mm = /^0x([0-9a-f]{16})-0x([0-9a-f]{16})/.exec(l);
      return mm && BigInt(`0x${mm[1]}`) <= pa && pa < BigInt(`0x${mm[2]}`);
    });
    expect(hit?.endsWith(roLine)).toBe(true);
    const el2Pa = BigInt(arch.el2.stage2.rootPa);
    const hole = lines.find((l) => l.startsWith(`0x${el2Pa.toString(16).padStart(16, '0')}-`));
    expect(hole).toMatch(/K 3$/);
    // The line format is note_page()'s with stage 2's attribute strings.
    expect(
      arm64PtdumpLine(
        0n,
        0x200000n,
        '2',
        { lo: 1 | (1 << 6) | (1 << 10), hi: 1 << 21 },
        STAGE2_BITS,
      ),
    ).toBe('0x0000000000000000-0x0000000000200000           2M 2   R   PXNux  AF BLK');
  });
});
