import { InvalidArgumentError } from './errors.js';
import { PhysMem } from './phys.js';

/** Numbers a leaf is passed as: va, pa, flags, level. */
const FIELDS = 4;
/** Scan kinds per table (see `LeafMemo.slotsOf`). */
const KINDS = 16;

function checkWord(what: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff)
    throw new InvalidArgumentError(what, v, 'must be an integer in [0, 2^32)');
}

/** Node's memcmp; absent in a browser, where no table is cached (the walk always scans). */
const compareBytes: ((a: Uint8Array, b: Uint8Array) => number) | undefined =
  typeof globalThis.Buffer?.compare === 'function' ? globalThis.Buffer.compare : undefined;

/** What one scan of a table picked, and the table's bytes when it did. */
interface TableScan {
  /** The table in the memory `phys` (the store serves machine after machine). */
  view: Uint8Array;
  phys: PhysMem;
  readonly snapshot: Uint8Array;
  slots: Int32Array;
  /** The protected-frame generation of the scan (see `TableScans.sync`). */
  gen: number;
}

/** Snapshots are carved from slabs of this many bytes (one allocation per 16 tables). */
const SLAB = 65536;

/**
 * The slots each table's last masked scan picked, for the next audit of that memory. A scan's picks are a function of the table's bytes and of the frames' flags in
 * the mask, nothing else: a table whose bytes are identical to its snapshot (compared
 * byte for byte, whoever wrote memory and however) under an unchanged set of flagged
 * frames picks the same slots again. Nothing here trusts a write to have been seen.
 */
class TableScans {
  readonly byTable = new Map<number, TableScan>();
  /** The frame flags at the last sync, to see whether any frame's mask bits changed. */
  readonly flags: Uint16Array;
  readonly flagBytes: Uint8Array;
  /** The memory served, and its live frame flags as bytes for the compare. */
  phys: PhysMem;
  nowBytes: Uint8Array;
  gen = 0;
  mask = 0;
  /** Scratch for a scan's picks, one per kind (a walk has one scan of a kind at a time). */
  readonly picks: Int32Array[] = [];
  private slab = new Uint8Array(0);
  private slabUsed = 0;

  constructor(phys: PhysMem) {
    this.phys = phys;
    this.flags = new Uint16Array(phys.frameFlags);
    this.flagBytes = new Uint8Array(this.flags.buffer);
    const now = phys.frameFlags;
    this.nowBytes = new Uint8Array(now.buffer, now.byteOffset, now.byteLength);
  }

  /**
   * Serves `phys` from now on: a machine of the same size (and backend, the caller's
   * concern). The kept scans stay: they are checked against this memory's bytes.
   */
  bind(phys: PhysMem): void {
    if (phys === this.phys) return;
    if (phys.frameCount !== this.flags.length)
      throw new InvalidArgumentError(
        'memory',
        phys.frameCount,
        `must have ${this.flags.length} frames`,
      );
    this.phys = phys;
    const now = phys.frameFlags;
    this.nowBytes = new Uint8Array(now.buffer, now.byteOffset, now.byteLength);
  }

  /** The scan's view of its table, moved to the memory now served. */
  viewOf(t: TableScan, table: number): Uint8Array {
    if (t.phys !== this.phys) {
      t.view = this.phys.bytes.subarray(table, table + t.view.length);
      t.phys = this.phys;
    }
    return t.view;
  }

  /** A snapshot of `view`, from the current slab. */
  snapshotOf(view: Uint8Array): Uint8Array {
    const n = view.length;
    if (n > SLAB) return view.slice();
    if (this.slabUsed + n > this.slab.length) {
      this.slab = new Uint8Array(SLAB);
      this.slabUsed = 0;
    }
    const snap = this.slab.subarray(this.slabUsed, this.slabUsed + n);
    this.slabUsed += n;
    snap.set(view);
    return snap;
  }

  /** Whether some frame's bits in `mask` differ from the snapshot (two frames a word). */
  private changed(mask: number): boolean {
    const now = this.phys.frameFlags;
    const was = this.flags;
    let i = 0;
    if (now.byteOffset % 4 === 0) {
      const a = new Uint32Array(now.buffer, now.byteOffset, now.length >>> 1);
      const b = new Uint32Array(was.buffer, 0, was.length >>> 1);
      const m16 = mask & 0xffff;
      const m2 = (m16 | (m16 << 16)) >>> 0;
      for (let w = 0; w < a.length; w++) if (((a[w] ^ b[w]) & m2) !== 0) return true;
      i = a.length * 2;
    }
    for (; i < now.length; i++) if (((now[i] ^ was[i]) & mask) !== 0) return true;
    return false;
  }

  /** Starts a pass with `mask`: a new generation if any frame's bits in it changed. */
  sync(mask: number, compare: (a: Uint8Array, b: Uint8Array) => number): void {
    const now = this.phys.frameFlags;
    if (mask !== this.mask) {
      this.mask = mask;
      this.gen++;
    } else if (compare(this.nowBytes, this.flagBytes) === 0) return;
    else if (this.changed(mask)) this.gen++;
    this.flags.set(now);
  }
}

/**
 * One audit's help for `forEachLeaf` walks with a frame mask (nothing writes memory while
 * it is in use; make a new one for the next pass):
 *
 * - Every mm of a machine maps the kernel half through root entries with the same value
 *   at the same index, and a subtree's leaves are a function of that entry and of memory
 *   alone: `find`/`begin`/`add`/`end`/`replay` let a walk deliver a shared subtree's
 *   leaves to the next mm without walking it again.
 * - `slotsOf`/`keepSlots` carry across audits the slots a table's scan picked (present
 *   entries, and leaves with a flagged frame), valid while the table's bytes and the
 *   flagged frames are what they were: a walk then visits those slots only.
 */
export class LeafMemo {
  /** The frame-flag mask of the walks (a memo answers walks with this mask only). */
  readonly frameMask: number;
  /** Root-entry index → record number. */
  private readonly byIndex = new Map<number, number>();
  /** Per record: entry lo, entry hi, first leaf, end of leaves (in `leaves`, by field). */
  private readonly records: number[] = [];
  private readonly leaves: number[] = [];
  private open = -1;
  private readonly scans: TableScans | undefined = undefined;

  /**
   * With `phys`, table scans of that memory are kept for the next memo: in a fresh store,
   * or in the store of `previous` (which may have served another machine of the same
   * size and backend; see `slotsOf`). Only a holder of `previous` can reach its store:
   * what another memo keeps is its own.
   */
  constructor(frameMask: number, phys?: PhysMem, previous?: LeafMemo) {
    checkWord('frame mask', frameMask);
    if (frameMask === 0) throw new InvalidArgumentError('frame mask', frameMask, 'must be nonzero');
    if (phys !== undefined && !(phys instanceof PhysMem))
      throw new InvalidArgumentError('memory', phys, 'must be a PhysMem');
    if (previous !== undefined && !(previous instanceof LeafMemo))
      throw new InvalidArgumentError('previous memo', previous, 'must be a LeafMemo');
    this.frameMask = frameMask;
    if (compareBytes === undefined || phys === undefined) return;
    const s = previous?.scans ?? new TableScans(phys);
    s.bind(phys);
    s.sync(frameMask, compareBytes);
    this.scans = s;
  }

  /** The record of root entry `index` holding (lo, hi), or -1. */
  find(index: number, lo: number, hi: number): number {
    checkWord('root entry index', index);
    checkWord('root entry word', lo);
    checkWord('root entry word', hi);
    const r = this.byIndex.get(index);
    if (r === undefined) return -1;
    const rec = this.records;
    return rec[r * 4] === lo && rec[r * 4 + 1] === hi ? r : -1;
  }

  /** Starts recording the leaves below root entry `index` = (lo, hi), until `end()`. */
  begin(index: number, lo: number, hi: number): void {
    checkWord('root entry index', index);
    checkWord('root entry word', lo);
    checkWord('root entry word', hi);
    if (this.open >= 0) throw new InvalidArgumentError('memo record', index, 'one is open');
    const r = this.records.length / 4;
    this.records.push(lo, hi, this.leaves.length, this.leaves.length);
    this.byIndex.set(index, r);
    this.open = r;
  }

  /** A leaf of the open record (what the walk passes to its callback). */
  add(va: number, pa: number, flags: number, level: number): void {
    if (this.open < 0) throw new InvalidArgumentError('memo record', va, 'none is open');
    this.leaves.push(va, pa, flags, level);
  }

  end(): void {
    if (this.open < 0) throw new InvalidArgumentError('memo record', this.open, 'none is open');
    this.records[this.open * 4 + 3] = this.leaves.length;
    this.open = -1;
  }

  /** Calls `fn` with every leaf of record `r`, in the order they were added. */
  replay(r: number, fn: (va: number, pa: number, flags: number, level: number) => void): void {
    const rec = this.records;
    if (!Number.isInteger(r) || r < 0 || r * 4 >= rec.length || r === this.open)
      throw new InvalidArgumentError('memo record', r, 'no such closed record');
    const l = this.leaves;
    for (let i = rec[r * 4 + 2], end = rec[r * 4 + 3]; i < end; i += FIELDS)
      fn(l[i], l[i + 1], l[i + 2], l[i + 3]);
  }

  /**
   * The slots the last scan of the `size`-byte table at `table` picked, in order, if its
   * bytes and the flagged frames are unchanged since; otherwise undefined (scan it, then
   * `keepSlots`). `kind` (0 to 15) tells scans with different picks apart: a table's
   * level, as one table can be reached at two levels. A walk that keeps picks must make
   * them from the kind, the table's bytes, the frame flags under the mask and the memory
   * size alone: they serve the next machine of the same backend too.
   */
  slotsOf(table: number, kind: number, size: number): Int32Array | undefined {
    const s = this.scans;
    if (s === undefined || compareBytes === undefined) return undefined;
    const t = s.byTable.get(table * KINDS + kind);
    if (t === undefined || t.gen !== s.gen || t.view.length !== size) return undefined;
    return compareBytes(s.viewOf(t, table), t.snapshot) === 0 ? t.slots : undefined;
  }

  /**
   * A scratch array of at least `n` slots for a full scan of kind `kind` to note its
   * picks in (one per kind: a walk has one scan of a kind in progress at a time), or
   * undefined when this memo keeps no scans.
   */
  pickBuffer(kind: number, n: number): Int32Array | undefined {
    const s = this.scans;
    if (s === undefined) return undefined;
    if (!Number.isInteger(kind) || kind < 0 || kind >= KINDS)
      throw new InvalidArgumentError('scan kind', kind, `must be an integer in [0, ${KINDS})`);
    if (!Number.isInteger(n) || n < 0 || n > 65536)
      throw new InvalidArgumentError('slot count', n, 'must be an integer in [0, 65536]');
    let b = s.picks[kind];
    if (b === undefined || b.length < n) s.picks[kind] = b = new Int32Array(n);
    return b;
  }

  /** Keeps what a full scan of the table picked (`slots[0..n)`), with a snapshot of it. */
  keepSlots(table: number, kind: number, size: number, slots: ArrayLike<number>, n: number): void {
    const s = this.scans;
    if (s === undefined) return;
    const bytes = s.phys.bytes;
    if (!Number.isInteger(kind) || kind < 0 || kind >= KINDS)
      throw new InvalidArgumentError('scan kind', kind, `must be an integer in [0, ${KINDS})`);
    if (
      !Number.isInteger(table) ||
      !Number.isInteger(size) ||
      table < 0 ||
      size <= 0 ||
      table + size > bytes.length
    )
      throw new InvalidArgumentError('table', table, `must be a range of ${bytes.length} bytes`);
    if (!Number.isInteger(n) || n < 0 || n > slots.length)
      throw new InvalidArgumentError('slot count', n, `must be in [0, ${slots.length}]`);
    let t = s.byTable.get(table * KINDS + kind);
    if (t === undefined || t.view.length !== size) {
      const view = bytes.subarray(table, table + size);
      const snapshot = s.snapshotOf(view);
      t = { view, phys: s.phys, snapshot, slots: new Int32Array(n), gen: s.gen };
      s.byTable.set(table * KINDS + kind, t);
    } else t.snapshot.set(s.viewOf(t, table));
    if (t.slots.length !== n) t.slots = new Int32Array(n);
    for (let i = 0; i < n; i++) t.slots[i] = slots[i];
    t.gen = s.gen;
  }
}
