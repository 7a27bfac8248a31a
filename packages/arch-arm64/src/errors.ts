import { PrmemError } from '@prmem/core';

declare module '@prmem/core' {
  /** arm64's codes: EL2's refusals (`HVC_REFUSAL`) and the arch's own state errors. */
  interface PrmemErrorCodes {
    EHVC_UNREGISTERED: true;
    EHVC_READONLY: true;
    EHVC_SPANS_RANGES: true;
    EHVC_OVERFLOW: true;
    EHVC_OVERLAP: true;
    EHVC_LESS_RESTRICTIVE: true;
    EHVC_NOT_MAPPED: true;
    EHVC_REMAPPED: true;
    EHVC_BADARG: true;
    /** EL2 is used before boot set it up. */
    ENOEL2: true;
    /** A second kernel mm. */
    EKERNELMM: true;
    /** The ASID space is exhausted (no rollover model). */
    EASID: true;
    /** An mm is created before the kernel mm. */
    ENOKERNELMM: true;
    /** A mechanism other than the one the machine was built for. */
    EMECHANISM: true;
  }
}

/** Why EL2 refused a hypercall. Stable codes: tests and callers match on them. */
export const HVC_REFUSAL = {
  /** The target does not lie wholly inside a registered range. */
  UNREGISTERED: 'EHVC_UNREGISTERED',
  /** The target lies in a range registered read-only (not write-mediated). */
  READONLY: 'EHVC_READONLY',
  /** The target touches two or more registered ranges. */
  SPANS_RANGES: 'EHVC_SPANS_RANGES',
  /** dst + size runs past the 48-bit VA space, or the size is absurd. */
  OVERFLOW: 'EHVC_OVERFLOW',
  /** A registration overlaps a registered range (by VA or by physical frame). */
  OVERLAP: 'EHVC_OVERLAP',
  /** A registration or unregistration would make a range less restrictive. */
  LESS_RESTRICTIVE: 'EHVC_LESS_RESTRICTIVE',
  /** The range is not (or not wholly) mapped by the kernel's stage 1, or maps EL2 memory. */
  NOT_MAPPED: 'EHVC_NOT_MAPPED',
  /** Stage 1 now maps the target VA to another frame than the one registered. */
  REMAPPED: 'EHVC_REMAPPED',
  /** A malformed call: unknown function, unaligned range or atomic, bad value. */
  BAD_ARGUMENT: 'EHVC_BADARG',
} as const;

export type HvcRefusalCode = (typeof HVC_REFUSAL)[keyof typeof HVC_REFUSAL];

/** EL2 refused a hypercall; nothing was written or changed. */
export class HypercallRefused extends PrmemError {
  readonly call: string;
  readonly address: unknown;
  readonly size: unknown;
  constructor(code: HvcRefusalCode, call: string, address: unknown, size: unknown, why: string) {
    super(code, `HVC ${call} refused (${code}): ${why}`, { call, address, size });
    this.call = call;
    this.address = address;
    this.size = size;
  }
}
