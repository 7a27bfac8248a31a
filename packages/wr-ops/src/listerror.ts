import { formatUnknown, PrmemError } from '@prmem/core';

declare module '@prmem/core' {
  interface PrmemErrorCodes {
    /** A list operation found its neighbours inconsistent (`ListCorruptionError`). */
    ELISTCORRUPT: true;
  }
}

/**
 * A list operation refused because the list is corrupted or the operation would corrupt
 * it (CONFIG_LIST_HARDENED's checks: a double add, a double delete, neighbours that do not
 * point back). Nothing was written; the refusal is recorded as one `list-corruption`
 * security event.
 */
export class ListCorruptionError extends PrmemError {
  readonly operation: string;
  readonly entry: number;
  readonly cpu: number;
  constructor(operation: string, entry: number, cpu: number, detail: string) {
    super(
      'ELISTCORRUPT',
      `${operation}: refused on CPU${cpu}: ${detail} (entry ${formatUnknown(entry)})`,
      {
        operation,
        entry,
        cpu,
        detail,
      },
    );
    this.operation = operation;
    this.entry = entry;
    this.cpu = cpu;
  }
}
