import { canonical, PrmemError } from '@prmem/core';

declare module '@prmem/core' {
  interface PrmemErrorCodes {
    /** A second mapping of a frame on a VIPT aliasing D-cache (`AliasRefusedError`). */
    EALIAS: true;
  }
}

/**
 * The MMU model refused a second mapping of a frame: on a VIPT aliasing D-cache the two
 * virtual addresses could index different cache sets and see different data.
 */
export class AliasRefusedError extends PrmemError {
  readonly pfn: number;
  /** The frame's existing mapping. */
  readonly existingVa: number;
  /** The mapping that was refused. */
  readonly va: number;
  constructor(pfn: number, existingVa: number, va: number) {
    super(
      'EALIAS',
      `refusing to map pfn 0x${pfn.toString(16)} at ${canonical(va)}: it is already mapped at ${canonical(existingVa)} (an alias on a VIPT aliasing D-cache)`,
      { pfn, existingVa, va },
    );
    this.pfn = pfn;
    this.existingVa = existingVa;
    this.va = va;
  }
}
