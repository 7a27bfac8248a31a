/**
 * `@prmem/pool`: pmalloc pools — five protection modes, allocation downward in areas of
 * the reserved write-rare range, monotonic protection of all areas at once, tracked
 * areas (address → area → pool in O(1)), descriptors in a write-rare pool table, and
 * destruction as the only way to release memory. Creation-time fields live in a
 * read-only descriptor page per pool; only the fields that must change are write-rare.
 */
export { PoolError } from './errors.js';
export {
  MODE_BITS,
  MODES,
  PMALLOC_AUTO,
  PMALLOC_RO,
  PMALLOC_START,
  PMALLOC_WR,
  type PoolMode,
} from './modes.js';
export {
  createPool,
  type DestroyOptions,
  findPool,
  POOL_CORRUPT_EVENT,
  Pool,
  type PoolOptions,
  poolTable,
  pools,
} from './pool.js';
export {
  DESC_SIZE,
  FIXED_OFF as FIXED_OFFSETS,
  FLAG_DESTROYED,
  OFF as DESC_OFFSETS,
  TABLE_SLOTS,
} from './table.js';
