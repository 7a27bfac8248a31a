/**
 * The MMU model's reverse map: per frame, how many leaf mappings exist (in any mm) and
 * the VA of the first. Typed arrays, one slot per frame, as `struct page`'s _mapcount.
 */
export class FrameMapCount {
  readonly count: Uint16Array;
  /** The VA of the frame's first mapping, -1 if unknown or unmapped. */
  readonly firstVa: Float64Array;
  constructor(frames: number) {
    this.count = new Uint16Array(frames);
    this.firstVa = new Float64Array(frames).fill(-1);
  }

  add(pfn: number, va: number): void {
    if (this.count[pfn]++ === 0) this.firstVa[pfn] = va;
  }

  remove(pfn: number, va: number): void {
    if (this.count[pfn] > 0) this.count[pfn]--;
    // With aliases allowed the surviving mapping's VA is not tracked; only the debug mode
    // can have two, and it never reports this VA.
    if (this.count[pfn] === 0 || this.firstVa[pfn] === va) this.firstVa[pfn] = -1;
  }
}
