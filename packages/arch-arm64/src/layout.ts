import type { KernelLayout } from '@prmem/core';

/**
 * The kernel half of the model's 48-bit VA space is bit 47 set (TTBR1, printed
 * 0xffff8000_00000000 and up), the user half bit 47 clear (TTBR0).
 *
 * The linear map sits where arm64 Linux put PAGE_OFFSET before 5.4 with VA_BITS=48
 * (0xffff800000000000). Real kernels put vmalloc, modules and the image *below* it
 * (pre-5.4) or the linear map below everything (5.4+, 0xffff000000000000); the model has
 * only the upper 128 TiB, so vmalloc, the write-rare range and the image follow the
 * linear map instead. The write-rare range is this model's own (HKIP gives each pool type
 * a vmalloc sub-range, which is the same idea).
 */
export const ARM64_LAYOUT: KernelLayout = {
  directMap: 0x8000_0000_0000,
  vmallocStart: 0xc000_0000_0000,
  vmallocEnd: 0xf000_0000_0000,
  wrStart: 0xf000_0000_0000,
  wrEnd: 0xf100_0000_0000,
  // 1 GiB each for the write-rare and the read-only pool ranges (of 1 TiB of room).
  wrDefaultMiB: 1024,
  imageStart: 0xf800_0000_0000,
  userEnd: 0x8000_0000_0000,
  markers: [
    [0, 'User Space (TTBR0)'],
    [0x8000_0000_0000, 'Linear Mapping (TTBR1)'],
    [0xc000_0000_0000, 'vmalloc() Area'],
    [0xf000_0000_0000, 'Write-rare Area'],
    [0xf800_0000_0000, 'Kernel Image'],
  ],
};

/** First VA of the kernel half: bit 47. */
export const KERNEL_HALF = 2 ** 47;

/**
 * Where alias-mm places its window: a page-aligned base drawn from machine.random() in
 * [ALIAS_MIN, ALIAS_MAX), like x86's randomized poking_addr.
 */
export const ALIAS_MIN = 0x0010_0000_0000;
export const ALIAS_MAX = 0x7f00_0000_0000;
/** Pages one alias window maps at most (one level-3 table's worth). */
export const ALIAS_WINDOW_PAGES = 512;
