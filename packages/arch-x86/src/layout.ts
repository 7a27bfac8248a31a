import type { KernelLayout } from '@prmem/core';

/**
 * Linux x86-64 with 4-level paging (Documentation/arch/x86/x86_64/mm.rst), as 48-bit
 * numbers: an address with bit 47 set is the kernel half and prints sign-extended.
 */
export const USER_END = 0x8000_0000_0000; // 0x0000800000000000: end of the user half
export const KERNEL_START = 0x8000_0000_0000; // 0xffff800000000000
export const DIRECT_MAP = 0x8880_0000_0000; // 0xffff888000000000: page_offset_base
export const VMALLOC_START = 0xc900_0000_0000; // 0xffffc90000000000: vmalloc_base
/**
 * The write-rare range is carved out of the top 9 TiB of vmalloc space
 * (0xffffe00000000000–0xffffe8ffffffffff), so vmalloc proper ends where it starts and a
 * target can be checked by its address alone.
 */
export const WR_START = 0xe000_0000_0000;
export const WR_END = 0xe900_0000_0000;
export const VMALLOC_END = WR_START;
export const VMEMMAP_START = 0xea00_0000_0000; // 0xffffea0000000000
export const HIGH_KERNEL = 0xffff_8000_0000; // 0xffffffff80000000: __START_KERNEL_map
export const IMAGE_START = 0xffff_8100_0000; // 0xffffffff81000000: _text
export const MODULES_START = 0xffff_a000_0000; // 0xffffffffa0000000

export const X86_LAYOUT: KernelLayout = {
  directMap: DIRECT_MAP,
  vmallocStart: VMALLOC_START,
  vmallocEnd: VMALLOC_END,
  wrStart: WR_START,
  wrEnd: WR_END,
  // 1 GiB each for the write-rare and the read-only pool ranges (of 9 TiB of room).
  wrDefaultMiB: 1024,
  imageStart: IMAGE_START,
  userEnd: USER_END,
  // Names as arch/x86/mm/dump_pagetables.c prints them (plus ours for the write-rare range).
  markers: [
    [0, 'User Space'],
    [KERNEL_START, 'Kernel Space'],
    [DIRECT_MAP, 'Low Kernel Mapping'],
    [VMALLOC_START, 'vmalloc() Area'],
    [WR_START, 'Write-rare Area'],
    [VMEMMAP_START, 'Vmemmap'],
    [HIGH_KERNEL, 'High Kernel Mapping'],
    [MODULES_START, 'Modules'],
  ],
};
