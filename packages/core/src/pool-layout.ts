import type { Backend, KernelLayout } from './backend.js';
import { InvalidArgumentError } from './errors.js';

/** MiB in bytes. */
const MIB = 1024 * 1024;

/** The machine's layout: the backend's, with the pool ranges sized by the config. */
export interface MachineLayout extends KernelLayout {
  /** The read-only pool range: RO pools allocate here, apart from write-rare targets. */
  readonly roStart: number;
  readonly roEnd: number;
}

/**
 * The backend's layout with the pool ranges sized: the backend's [wrStart, wrEnd) is the
 * room it leaves for them; the write-rare range takes `wrRangeMiB` from its start and the
 * read-only pool range as much right after it.
 */
export function poolLayout(backend: Backend, wrRangeMiB?: number): MachineLayout {
  const L = backend.layout;
  const room = L.wrEnd - L.wrStart;
  const max = Math.floor(room / 2 / MIB);
  const mib = wrRangeMiB ?? L.wrDefaultMiB ?? Math.min(64, max);
  if (!Number.isInteger(mib) || mib < 1 || mib > max)
    throw new InvalidArgumentError(
      'wrRangeMiB',
      mib,
      `must be an integer in [1, ${max}]: ${backend.name} leaves ${Math.floor(room / MIB)} MiB for the write-rare and read-only pool ranges, of equal size`,
    );
  const wrEnd = L.wrStart + mib * MIB;
  return { ...L, wrEnd, roStart: wrEnd, roEnd: wrEnd + mib * MIB };
}
