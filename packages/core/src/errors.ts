/**
 * Every stable error code, as the keys of an interface: core lists its own here, and a
 * package that throws codes of its own adds them by declaration merging, so
 * `PrmemError.code` is the literal union of every code of the packages in the program:
 *
 * ```ts
 * declare module '@prmem/core' {
 *   interface PrmemErrorCodes {
 *     EPOOLARG: true;
 *   }
 * }
 * ```
 */
export interface PrmemErrorCodes {
  /** Not a valid virtual address (`BadAddressError`). */
  EBADADDR: true;
  /** A bad size or count (`BadSizeError`). */
  EBADSIZE: true;
  /** Any other invalid argument (`InvalidArgumentError`). */
  EINVAL: true;
  /** Frames, address space, ASIDs or a section exhausted (`OutOfMemoryError`). */
  ENOMEM: true;
  /** The configuration failed validation (`ConfigError`). */
  ECONFIG: true;
  /** A mechanism the backend does not offer (`UnknownMechanismError`). */
  EUNKNOWNMECH: true;
  /** No backend package by that name (`BackendNotFoundError`). */
  ENOBACKEND: true;
  /** The MMU refused an access (`PageFault`). */
  EFAULT: true;
  /** A write-rare mechanism refused its target (`WrTargetError`). */
  EWRTARGET: true;
  /** Static definitions or a second finishBoot() after boot. */
  EBOOTDONE: true;
  /** The target is in use: pinned by an open window, still owning areas, running an mm. */
  EBUSY: true;
  /** Not the owner's handle, or an alias mm loaded outside its mechanism. */
  EPERM: true;
  /** An area freed twice. */
  EDOUBLEFREE: true;
  /** A window's frame changed before the window opened. */
  ESTALE: true;
  /** Protection moved toward less restrictive. */
  EPROTDOWNGRADE: true;
  /** Protection past the ceiling of the memory. */
  ECEILING: true;
  /** A step would wait for another CPU with no scheduler to run it. */
  EDEADLK: true;
  /** A CPU took a write-rare lock it already holds. */
  EWRNESTED: true;
  /** The machine was disposed (`Machine.dispose`): its memory belongs to another. */
  EDISPOSED: true;
}

/** The literal union of every error code (core's and those packages add). */
export type PrmemErrorCode = keyof PrmemErrorCodes;

/**
 * Typed errors. Every error has a stable `code` and carries the offending value, so a
 * caller (or a test) can tell exactly what was refused without parsing messages.
 */
export class PrmemError extends Error {
  readonly code: PrmemErrorCode;
  readonly details: Readonly<Record<string, unknown>>;
  constructor(code: PrmemErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

/** A value that is not a valid virtual address (negative, fractional, past 2^48). */
export class BadAddressError extends PrmemError {
  readonly address: unknown;
  constructor(address: unknown, why: string) {
    super('EBADADDR', `bad address ${formatUnknown(address)}: ${why}`, { address });
    this.address = address;
  }
}

/** A size or count that is negative, fractional, zero where meaningless, or too large. */
export class BadSizeError extends PrmemError {
  readonly size: unknown;
  constructor(size: unknown, why: string) {
    super('EBADSIZE', `bad size ${formatUnknown(size)}: ${why}`, { size });
    this.size = size;
  }
}

/** Any other invalid argument: an unknown section, a bad alignment, a wrong level. */
export class InvalidArgumentError extends PrmemError {
  readonly value: unknown;
  constructor(what: string, value: unknown, why: string) {
    super('EINVAL', `invalid ${what} ${formatUnknown(value)}: ${why}`, { what, value });
    this.value = value;
  }
}

/** The frame allocator (or an address range) is exhausted; nothing was allocated. */
export class OutOfMemoryError extends PrmemError {
  readonly requested: number;
  readonly available: number;
  constructor(what: string, requested: number, available: number) {
    super('ENOMEM', `out of ${what}: requested ${requested}, available ${available}`, {
      requested,
      available,
    });
    this.requested = requested;
    this.available = available;
  }
}

/** The configuration failed validation. `issues` names every bad field and its value. */
export class ConfigError extends PrmemError {
  readonly issues: readonly { path: string; value: unknown; message: string }[];
  constructor(issues: { path: string; value: unknown; message: string }[]) {
    super(
      'ECONFIG',
      `invalid prmem config:\n${issues
        .map((i) => `  - ${i.path || '(root)'}: ${i.message} (got ${formatConfigValue(i.value)})`)
        .join('\n')}`,
      { issues },
    );
    this.issues = issues;
  }
}

/**
 * A config value as its author wrote it: numbers in decimal, strings quoted, objects and
 * arrays as (shortened) JSON — never `[object Object]`.
 */
export function formatConfigValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'function') return 'a function';
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined;
  }
  if (s === undefined) return formatUnknown(v);
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

/** A backend or mechanism name that nothing provides. */
export class UnknownMechanismError extends PrmemError {
  readonly mechanism: string;
  readonly available: readonly string[];
  constructor(arch: string, mechanism: string, available: readonly string[]) {
    super(
      'EUNKNOWNMECH',
      `arch ${arch} has no write-rare mechanism "${mechanism}" (available: ${available.join(', ')})`,
      { arch, mechanism, available },
    );
    this.mechanism = mechanism;
    this.available = available;
  }
}

/** The operation is not allowed in the machine's current state (e.g. boot already finished). */
export class StateError extends PrmemError {
  constructor(code: PrmemErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
  }
}

export function formatUnknown(v: unknown): string {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return `0x${v.toString(16)}`;
  if (typeof v === 'bigint') return `0x${v.toString(16)}n`;
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return String(v);
  } catch {
    return '[unprintable]';
  }
}
