import type { KernelLayout } from '@prmem/core';

/**
 * The 32-bit ARM kernel memory map (Documentation/arch/arm/memory.rst, arch/arm/mm/mmu.c)
 * with the default 3G/1G split. The model's VAs are 48-bit numbers; here they all stay
 * below 2^32.
 */
/** TASK_SIZE = PAGE_OFFSET - 16 MiB: user space ends where the modules area starts. */
export const TASK_SIZE = 0xbf00_0000;
/** MODULES_VADDR: the model places the kernel's static sections here (see README). */
export const MODULES_VADDR = 0xbf00_0000;
/** PAGE_OFFSET: the lowmem direct map of physical memory starts here. */
export const PAGE_OFFSET = 0xc000_0000;
/** VMALLOC_END on ARM. Above it: fixmap, vectors (not modelled). */
export const VMALLOC_END = 0xff80_0000;
/** The guard gap between the end of lowmem and vmalloc (VMALLOC_OFFSET). */
export const VMALLOC_OFFSET = 8 * 1024 * 1024;
/**
 * VMALLOC_START for the largest lowmem: VMALLOC_END minus the default 240 MiB of vmalloc
 * space (VMALLOC_MIN in mmu.c is 0xef800000, then + VMALLOC_OFFSET).
 */
export const VMALLOC_START = 0xf000_0000;
/**
 * The top 120 MiB of vmalloc space are room for the pool ranges: the write-rare range
 * (`wrRangeMiB`, default 56 MiB: two SELinux-sized DBs of 20 MiB in 64 KiB areas with
 * their guard pages) from here, then the read-only pool range of the same size.
 */
export const WR_START = 0xf800_0000;
/** Default `wrRangeMiB`. */
export const WR_DEFAULT_MIB = 56;
export const WR_END = VMALLOC_END;
/** The largest lowmem (direct map) the layout allows: 760 MiB, as Linux's default. */
export const LOWMEM_MAX_BYTES = VMALLOC_START - VMALLOC_OFFSET - PAGE_OFFSET;
/** ARM VAs are 32-bit: anything at or above this is a translation fault. */
export const VA32_LIMIT = 0x1_0000_0000;

export const NOMMU_LAYOUT: KernelLayout = {
  directMap: PAGE_OFFSET,
  vmallocStart: VMALLOC_START,
  vmallocEnd: WR_START,
  wrStart: WR_START,
  wrEnd: WR_END,
  wrDefaultMiB: WR_DEFAULT_MIB,
  imageStart: MODULES_VADDR,
  userEnd: TASK_SIZE,
  markers: [
    [0, 'User Space'],
    [MODULES_VADDR, 'Modules area (static sections)'],
    [PAGE_OFFSET, 'Lowmem (direct map)'],
    [VMALLOC_START, 'vmalloc() Area'],
    [WR_START, 'Write-rare Area'],
  ],
};
