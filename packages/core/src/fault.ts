import { canonical } from './addr.js';
import { PrmemError } from './errors.js';

export type Access = 'read' | 'write' | 'exec';
export const ACC_READ = 0;
export const ACC_WRITE = 1;
export const ACC_EXEC = 2;
export const ACCESS_NAMES: readonly Access[] = ['read', 'write', 'exec'];

/** Fault codes a walk or a permission check returns; 0 means the access is allowed. */
export const FAULT = {
  NONE: 0,
  NOT_PRESENT: 1,
  WRITE_PROTECT: 2,
  EXEC_PROTECT: 3,
  PKEY: 4,
  /** Stage-2 permission fault (taken to EL2 on arm64). */
  STAGE2: 5,
  USER: 6,
  /** The MMU refused the access for an architecture-specific reason. */
  ARCH: 7,
} as const;

export type FaultReason =
  | 'not-present'
  | 'write-protect'
  | 'exec-protect'
  | 'pkey'
  | 'stage2'
  | 'user'
  | 'arch';

export const FAULT_REASONS: readonly FaultReason[] = [
  'not-present', // index 0 unused; kept for alignment with FAULT codes
  'not-present',
  'write-protect',
  'exec-protect',
  'pkey',
  'stage2',
  'user',
  'arch',
];

/** The model's oops: a kernel access the MMU refused. */
export class PageFault extends PrmemError {
  readonly address: number;
  readonly access: Access;
  readonly cpu: number;
  readonly reason: FaultReason;
  constructor(address: number, access: Access, cpu: number, reason: FaultReason) {
    super(
      'EFAULT',
      `BUG: unable to handle page fault for address: ${canonical(address)} (${access}, ${reason}) on CPU ${cpu}`,
      { address, access, cpu, reason },
    );
    this.address = address;
    this.access = access;
    this.cpu = cpu;
    this.reason = reason;
  }
}
