import { formatUnknown, PrmemError } from '@prmem/core';

declare module '@prmem/core' {
  interface PrmemErrorCodes {
    /** A write-rare operation refused its target (`WriteRareViolation`). */
    EWRVIOLATION: true;
  }
}

/**
 * Why a write-rare target was refused.
 * - `read-only`: an RO pool area, `.rodata` or `.data..ro_after_init` (the attack prmem
 *   exists to catch: using the write-rare API on memory that must never change);
 * - `not-write-rare`: ordinary memory (`.data`, direct map, vmalloc, user half) or an area
 *   in the write-rare range without `VM.PMALLOC_WR`;
 * - `unmapped`: nothing mapped there (a guard page, a freed area, a wild pointer);
 * - `spans-areas`: the range starts in write-rare memory and runs into another area or
 *   section;
 * - `overflow`: the range runs past the end of its area or section, or past 2^48;
 * - `bad-address` / `bad-size`: not an integer address in [0, 2^48), not a positive
 *   integer size (or not 1/2/4/8 where an atomic size is required);
 * - `misaligned`: an atomic or RCU pointer target that is not naturally aligned.
 */
export type WrRefusalReason =
  | 'read-only'
  | 'not-write-rare'
  | 'unmapped'
  | 'spans-areas'
  | 'overflow'
  | 'bad-address'
  | 'bad-size'
  | 'misaligned';

/**
 * A write-rare operation refused its target before any byte moved. Every refusal is also
 * recorded as one `wr-refused` security event on the machine.
 */
export class WriteRareViolation extends PrmemError {
  readonly target: unknown;
  readonly size: unknown;
  readonly operation: string;
  readonly reason: WrRefusalReason;
  readonly cpu: number;
  constructor(
    operation: string,
    target: unknown,
    size: unknown,
    reason: WrRefusalReason,
    cpu: number,
    why: string,
  ) {
    super(
      'EWRVIOLATION',
      `${operation}: refused target ${formatUnknown(target)} (${formatUnknown(size)} bytes) on CPU${cpu}: ${reason}: ${why}`,
      { operation, target, size, reason, cpu },
    );
    this.target = target;
    this.size = size;
    this.operation = operation;
    this.reason = reason;
    this.cpu = cpu;
  }
}
