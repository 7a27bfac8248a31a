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
  /** Stage-2 fault (taken to EL2 on arm64). */
  STAGE2: 5,
  USER: 6,
  /** The MMU refused the access for an architecture-specific reason (e.g. an ARM domain fault). */
  ARCH: 7,
  /** A paging-structure entry has a reserved bit set (x86 #PF with RSVD). */
  RSVD: 8,
} as const;

export type FaultReason =
  | 'not-present'
  | 'write-protect'
  | 'exec-protect'
  | 'pkey'
  | 'stage2'
  | 'user'
  | 'arch'
  | 'reserved-bit';

export const FAULT_REASONS: readonly FaultReason[] = [
  'not-present', // index 0 unused; kept for alignment with FAULT codes
  'not-present',
  'write-protect',
  'exec-protect',
  'pkey',
  'stage2',
  'user',
  'arch',
  'reserved-bit',
];

/** x86 #PF error-code bits (Intel SDM Vol. 3A, "Interrupt 14—Page-Fault Exception"). */
export const PF_ERR = {
  /** 0: the page was not present; 1: a protection violation (or a reserved bit). */
  P: 1 << 0,
  /** The access was a write. */
  W: 1 << 1,
  /** The access was a user-mode access (always 0 for the model's kernel). */
  U: 1 << 2,
  /** A reserved bit was set in some paging-structure entry. */
  RSVD: 1 << 3,
  /** The access was an instruction fetch. */
  I: 1 << 4,
  /** A protection-key violation. */
  PK: 1 << 5,
  /** A shadow-stack access (never made by the model). */
  SS: 1 << 6,
} as const;

/** What an x86 CPU hands the #PF handler: the error code pushed on the stack, and CR2. */
export interface X86FaultRecord {
  readonly arch: 'x86';
  readonly errorCode: number;
  /** CR2: the faulting linear address (a 48-bit number; printed sign-extended). */
  readonly cr2: number;
}

/**
 * What an arm64 CPU hands the handler: ESR_ELx (EC, IL, ISS with WnR, S1PTW and the fault
 * status code) and FAR_ELx; for a fault taken to EL2, HPFAR_EL2 with the faulting IPA.
 */
export interface Arm64FaultRecord {
  readonly arch: 'arm64';
  /** The exception level the fault is taken to: 1 (the kernel) or 2 (the hypervisor). */
  readonly el: 1 | 2;
  /** Which translation stage faulted. */
  readonly stage: 1 | 2;
  readonly esr: number;
  /** ESR.EC: 0x20/0x21 instruction abort (lower/same EL), 0x24/0x25 data abort. */
  readonly ec: number;
  /** ISS.WnR: the access was a write (data aborts only). */
  readonly wnr: boolean;
  /** ISS.S1PTW: a stage-2 fault on a stage-1 translation-table walk. */
  readonly s1ptw: boolean;
  /** DFSC/IFSC, ISS[5:0]: the fault kind and the level of the lookup that faulted. */
  readonly fsc: number;
  /** FAR_ELx: the faulting VA. */
  readonly far: number;
  /** HPFAR_EL2 (stage-2 faults): FIPA, bits [43:4] = IPA[51:12]. */
  readonly hpfar?: number;
  /** The faulting IPA's page, as HPFAR gives it (stage-2 faults). */
  readonly ipa?: number;
}

/** What an ARMv6 CPU records: the DFSR/IFSR status (with domain and WnR) and DFAR/IFAR. */
export interface ArmV6FaultRecord {
  readonly arch: 'armv6';
  /** DFSR for data aborts, IFSR for prefetch aborts. */
  readonly fsr: number;
  /** The status field FS[4:0] (FS[4] is FSR bit 10). */
  readonly status: number;
  readonly domain: number;
  readonly wnr: boolean;
  /** DFAR or IFAR. */
  readonly far: number;
  readonly prefetch: boolean;
}

export type FaultRecord = X86FaultRecord | Arm64FaultRecord | ArmV6FaultRecord;

/** The record as the kernel's oops prints it (`#PF: error_code(0x0003)`, `ESR = 0x...`). */
export function formatFaultRecord(r: FaultRecord): string {
  const hex = (v: number, w: number) => `0x${v.toString(16).padStart(w, '0')}`;
  if (r.arch === 'x86') return `#PF: error_code(${hex(r.errorCode, 4)}) CR2 ${canonical(r.cr2)}`;
  if (r.arch === 'arm64') {
    const s2 = r.hpfar !== undefined ? ` HPFAR_EL2 = ${hex(r.hpfar, 16)}` : '';
    return `ESR_EL${r.el} = ${hex(r.esr, 16)} FAR_EL${r.el} = ${canonical(r.far)}${s2}`;
  }
  return `${r.prefetch ? 'IFSR' : 'DFSR'} = ${hex(r.fsr, 8)} ${r.prefetch ? 'IFAR' : 'DFAR'} = ${hex(r.far, 8)}`;
}

/** The model's oops: a kernel access the MMU refused. */
export class PageFault extends PrmemError {
  readonly address: number;
  readonly access: Access;
  readonly cpu: number;
  readonly reason: FaultReason;
  /** The fault as the hardware reports it, when the backend provides one. */
  readonly record: FaultRecord | undefined;
  constructor(
    address: number,
    access: Access,
    cpu: number,
    reason: FaultReason,
    record?: FaultRecord,
  ) {
    super(
      'EFAULT',
      `BUG: unable to handle page fault for address: ${canonical(address)} (${access}, ${reason}) on CPU ${cpu}${record ? `; ${formatFaultRecord(record)}` : ''}`,
      { address, access, cpu, reason, ...(record ? { record } : {}) },
    );
    this.address = address;
    this.access = access;
    this.cpu = cpu;
    this.reason = reason;
    this.record = record;
  }
}
