import { formatUnknown, PrmemError, type PrmemErrorCode } from '@prmem/core';

declare module '@prmem/core' {
  /** The pool's codes (see `PoolError`). */
  interface PrmemErrorCodes {
    EPOOLMODE: true;
    EPOOLDOWNGRADE: true;
    EPOOLDESTROYED: true;
    EPOOLTABLE: true;
    EPOOLARG: true;
    EOVERFLOW: true;
    EPOOLCORRUPT: true;
  }
}

/**
 * A pool operation refused. Codes: `EPOOLMODE` (the mode does not allow it),
 * `EPOOLDOWNGRADE` (protection may only become more restrictive, never past the level
 * fixed at creation), `EPOOLDESTROYED` (use after destroy), `EPOOLTABLE` (the fixed pool
 * table is full), `EPOOLARG` (a bad argument: size, alignment, mode, name, an unknown or
 * malformed option), `EOVERFLOW` (calloc's product), `EPOOLCORRUPT` (the pool's metadata
 * in memory is inconsistent; also recorded as a `pool-metadata-corrupt` security event),
 * `EBUSY` (a write-rare window is writing one of the pool's frames), `ENOMEM` (from
 * createPool's up-front frame check). Nothing was changed when one is thrown.
 */
export class PoolError extends PrmemError {
  readonly pool: string;
  readonly value: unknown;
  constructor(code: PrmemErrorCode, pool: string, value: unknown, message: string) {
    super(code, `pool ${JSON.stringify(pool)}: ${message} (got ${formatUnknown(value)})`, {
      pool,
      value,
    });
    this.pool = pool;
    this.value = value;
  }
}
