/**
 * Write-rare lists (prmem's `prlist`): the kernel's doubly linked `struct list_head`
 * ({ next, prev }, two canonical 8-byte pointers) living in write-rare memory, where
 * every pointer store goes through write-rare. Each operation reads the pointers it
 * needs, computes the kernel's stores in the kernel's order, validates every target,
 * and only then writes: non-RCU forms in one batch, RCU forms in stages around the
 * publishing `wrRcuAssignPointer`.
 */
import {
  type Cpu,
  checkVa,
  drain,
  fromCanonical,
  InvalidArgumentError,
  type Steps,
} from '@prmem/core';
import { type PlannedOp, runPlanned, type WrRunResult } from './engine.js';
import { ListCorruptionError } from './listerror.js';
import { checkCpu, validateTarget } from './target.js';
import { pointerStore, scalarStore } from './values.js';

/** Offsets and size of `struct list_head`. */
export const LIST_NEXT = 0;
export const LIST_PREV = 8;
export const LIST_HEAD_SIZE = 16;
/** POISON_POINTER_DELTA on x86-64 (CONFIG_ILLEGAL_POINTER_VALUE): non-canonical on purpose. */
export const POISON_POINTER_DELTA = 0xdead_0000_0000_0000n;
/** Stored in `next` by list_del: dereferencing it faults (non-canonical). */
export const LIST_POISON1 = 0x100n + POISON_POINTER_DELTA;
/** Stored in `prev` by list_del and list_del_rcu. */
export const LIST_POISON2 = 0x122n + POISON_POINTER_DELTA;
/** The security event a refused list corruption records. */
export const LIST_CORRUPT_EVENT = 'list-corruption';

const P1_LO = Number(LIST_POISON1 & 0xffff_ffffn);
const P2_LO = Number(LIST_POISON2 & 0xffff_ffffn);
const P_HI = Number(POISON_POINTER_DELTA >> 32n);

/** What a pointer slot holds, when it is not a pointer. */
const POISON1 = -2;
const POISON2 = -3;
const UNMAPPED = -4;
const NONCANONICAL = -1;

function describe(p: number): string {
  if (p === POISON1) return 'LIST_POISON1';
  if (p === POISON2) return 'LIST_POISON2';
  if (p === UNMAPPED) return 'an unmapped slot';
  if (p === NONCANONICAL) return 'a non-canonical value';
  return `0x${p.toString(16)}`;
}

type Value = number | bigint;
type Stage =
  | { readonly kind: 'stores'; readonly stores: { at: number; value: Value }[] }
  | { readonly kind: 'publish'; readonly at: number; readonly value: number }
  | { readonly kind: 'call'; readonly fn: () => void };

/**
 * The stores of one list operation, computed against the pointers as they will be:
 * reads see earlier stores of the same operation, as they would in the kernel's code.
 * Pointers are read as the kernel's tables map them (a software walk, like the target
 * check: no TLB fill, no counters), so a refused operation leaves every TLB as it was.
 */
class ListTx {
  readonly stages: Stage[] = [];
  private readonly overlay = new Map<number, Value>();
  constructor(
    private readonly cpu: Cpu,
    readonly operation: string,
  ) {}

  /** The pointer in slot `at`, or POISON1/POISON2/UNMAPPED/NONCANONICAL. */
  private load(at: number): number {
    const v = this.overlay.get(at);
    if (typeof v === 'number') return v;
    if (v === LIST_POISON1) return POISON1;
    if (v === LIST_POISON2) return POISON2;
    const b = at >= 0 && at + 8 <= 2 ** 48 ? this.cpu.owner.peek(at, 8) : null;
    if (!b) return UNMAPPED;
    const dv = new DataView(b.buffer);
    const lo = dv.getUint32(0, true);
    const hi = dv.getUint32(4, true);
    if (hi === P_HI && lo === P1_LO) return POISON1;
    if (hi === P_HI && lo === P2_LO) return POISON2;
    return fromCanonical(lo, hi);
  }

  /** `e->next` as it is (poison and garbage included), for the checks. */
  rawNext(e: number): number {
    return e < 0 ? UNMAPPED : this.load(e + LIST_NEXT);
  }

  rawPrev(e: number): number {
    return e < 0 ? UNMAPPED : this.load(e + LIST_PREV);
  }

  /** `e->next`, which must be a pointer: anything else is a corrupted list. */
  next(e: number): number {
    const p = this.rawNext(e);
    if (p < 0) this.corrupt(e, `${hex(e)}->next is ${describe(p)}`);
    return p;
  }

  prev(e: number): number {
    const p = this.rawPrev(e);
    if (p < 0) this.corrupt(e, `${hex(e)}->prev is ${describe(p)}`);
    return p;
  }

  /** Records the corruption (a security event) and refuses the operation; nothing is written yet. */
  corrupt(entry: number, detail: string): never {
    this.cpu.owner.reportSecurityEvent({
      kind: LIST_CORRUPT_EVENT,
      cpu: this.cpu.id,
      address: entry,
      size: LIST_HEAD_SIZE,
      operation: this.operation,
      detail,
    });
    throw new ListCorruptionError(this.operation, entry, this.cpu.id, detail);
  }

  private store(at: number, value: Value): void {
    this.overlay.set(at, value);
    const last = this.stages[this.stages.length - 1];
    if (last?.kind === 'stores') last.stores.push({ at, value });
    else this.stages.push({ kind: 'stores', stores: [{ at, value }] });
  }

  setNext(e: number, v: Value): void {
    this.store(e + LIST_NEXT, v);
  }

  setPrev(e: number, v: Value): void {
    this.store(e + LIST_PREV, v);
  }

  /** rcu_assign_pointer(list_next_rcu(e), v): a barrier, then one atomic store. */
  publishNext(e: number, v: number): void {
    this.overlay.set(e + LIST_NEXT, v);
    this.stages.push({ kind: 'publish', at: e + LIST_NEXT, value: v });
  }

  call(fn: () => void): void {
    this.stages.push({ kind: 'call', fn });
  }
}

const hex = (v: number) => `0x${v.toString(16)}`;

function checkNode(what: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** 48)
    throw new InvalidArgumentError(what, v, 'must be the address of a list_head');
}

function checkSync(sync: unknown): asserts sync is () => void {
  if (typeof sync !== 'function')
    throw new InvalidArgumentError('sync', sync, 'must be a function (a synchronize_rcu model)');
}

/** Validates every store of the operation, then runs its stages in order. */
function* commit(cpu: Cpu, operation: string, tx: ListTx): Steps<WrRunResult> {
  const plans = tx.stages.map((s): PlannedOp[] | (() => void) => {
    if (s.kind === 'call') return s.fn;
    const stores = s.kind === 'stores' ? s.stores : [{ at: s.at, value: s.value }];
    return stores.map(({ at, value }) => ({
      op: typeof value === 'bigint' ? scalarStore(at, value, 8) : pointerStore(at, value),
      // Pointer slots are naturally aligned, so each store is single-copy atomic.
      target: validateTarget(cpu, operation, at, 8, 8, false),
    }));
  });
  let total = { ops: 0, plainOps: 0, sessions: 0, windows: 0 };
  for (let i = 0; i < plans.length; i++) {
    const p = plans[i];
    if (typeof p === 'function') {
      p();
      yield 'synchronize_rcu';
      continue;
    }
    if (tx.stages[i].kind === 'publish') {
      cpu.smpMb();
      yield 'smp_mb';
    }
    const r = yield* runPlanned(cpu, p, true);
    total = {
      ops: total.ops + r.ops,
      plainOps: total.plainOps + r.plainOps,
      sessions: total.sessions + r.sessions,
      windows: total.windows + r.windows,
    };
  }
  return total;
}

/**
 * Runs a list operation: the list_heads it certainly writes (`writes`: [address, bytes])
 * are validated as write-rare targets first, then the kernel's reads and checks, then
 * every store is validated and the stores run.
 */
function* run(
  cpu: Cpu,
  operation: string,
  writes: readonly (readonly [number, number])[],
  build: (tx: ListTx) => void,
): Steps<WrRunResult> {
  for (const [va, len] of writes) validateTarget(cpu, operation, va, len, 8, false);
  const tx = new ListTx(cpu, operation);
  build(tx);
  return yield* commit(cpu, operation, tx);
}

// ---- the kernel's helpers, against a transaction, with CONFIG_LIST_HARDENED's checks ---

/**
 * __list_add_valid: `prev` and `next` are neighbours, and `n` is neither — so adding a
 * node twice in a row is refused. As in the kernel, `n`'s own pointers are not read (its
 * memory may hold anything, e.g. a stale entry of a list that was re-initialised), so a
 * second add of a node that sits elsewhere in a list is not caught here; prListCheck
 * (CONFIG_DEBUG_LIST) finds the damage afterwards.
 */
function addValid(tx: ListTx, n: number, prev: number, next: number): void {
  neighboursValid(tx, 'list_add', prev, next);
  if (n === prev || n === next)
    tx.corrupt(n, `list_add double add: new=${hex(n)}, prev=${hex(prev)}, next=${hex(next)}`);
}

/** `prev` and `next` point at each other, as the node going between them needs. */
function neighboursValid(tx: ListTx, op: string, prev: number, next: number): void {
  const np = tx.rawPrev(next);
  if (np !== prev)
    tx.corrupt(
      next,
      `${op} corruption: next->prev should be ${hex(prev)}, but was ${describe(np)}`,
    );
  const pn = tx.rawNext(prev);
  if (pn !== next)
    tx.corrupt(
      prev,
      `${op} corruption: prev->next should be ${hex(next)}, but was ${describe(pn)}`,
    );
}

/** __list_del_entry_valid: not poisoned, not NULL, and both neighbours point back at it. */
function delValid(tx: ListTx, e: number): { prev: number; next: number } {
  const next = tx.rawNext(e);
  const prev = tx.rawPrev(e);
  if (next === POISON1) tx.corrupt(e, `list_del corruption, ${hex(e)}->next is LIST_POISON1`);
  if (prev === POISON2) tx.corrupt(e, `list_del corruption, ${hex(e)}->prev is LIST_POISON2`);
  if (next <= 0)
    tx.corrupt(
      e,
      `list_del corruption, ${hex(e)}->next is ${next === 0 ? 'NULL' : describe(next)}`,
    );
  if (prev <= 0)
    tx.corrupt(
      e,
      `list_del corruption, ${hex(e)}->prev is ${prev === 0 ? 'NULL' : describe(prev)}`,
    );
  const pn = tx.rawNext(prev);
  if (pn !== e)
    tx.corrupt(e, `list_del corruption. prev->next should be ${hex(e)}, but was ${describe(pn)}`);
  const np = tx.rawPrev(next);
  if (np !== e)
    tx.corrupt(e, `list_del corruption. next->prev should be ${hex(e)}, but was ${describe(np)}`);
  return { prev, next };
}

function initHead(tx: ListTx, h: number): void {
  tx.setNext(h, h);
  tx.setPrev(h, h);
}

function add(tx: ListTx, n: number, prev: number, next: number): void {
  // __list_add
  addValid(tx, n, prev, next);
  tx.setPrev(next, n);
  tx.setNext(n, next);
  tx.setPrev(n, prev);
  tx.setNext(prev, n);
}

function addRcu(tx: ListTx, n: number, prev: number, next: number): void {
  // __list_add_rcu: the new node is complete before it is published.
  addValid(tx, n, prev, next);
  tx.setNext(n, next);
  tx.setPrev(n, prev);
  tx.publishNext(prev, n);
  tx.setPrev(next, n);
}

function delEntry(tx: ListTx, e: number): void {
  // __list_del_entry
  const { prev, next } = delValid(tx, e);
  tx.setPrev(next, prev);
  tx.setNext(prev, next);
}

/**
 * The checks before `node` takes `old`'s place (list_replace has none in the kernel; a
 * hardened list refuses the same corruption as list_del does): `old` is validly linked.
 * With `noSelf`, `node` must not be `old` (replace_init and replace_rcu of an entry by
 * itself would leave it linked but empty, or linked with a poisoned `prev`; a plain
 * replace by itself changes nothing and is allowed).
 */
function replaceValid(
  tx: ListTx,
  old: number,
  node: number,
  noSelf: boolean,
): { prev: number; next: number } {
  const r = delValid(tx, old);
  if (noSelf && node === old) tx.corrupt(node, `list_replace of ${hex(old)} by itself`);
  return r;
}

/**
 * The checks before `list`'s entries are joined between `prev` and `next`: `list` is not
 * the list it joins, its ends point back at it, and `prev`/`next` are neighbours.
 */
function spliceValid(tx: ListTx, list: number, prev: number, next: number): void {
  if (list === prev || list === next) tx.corrupt(list, `list_splice of ${hex(list)} into itself`);
  const first = tx.next(list);
  const last = tx.prev(list);
  if (tx.rawPrev(first) !== list)
    tx.corrupt(list, `list_splice corruption: first->prev should be ${hex(list)}`);
  if (tx.rawNext(last) !== list)
    tx.corrupt(list, `list_splice corruption: last->next should be ${hex(list)}`);
  neighboursValid(tx, 'list_splice', prev, next);
}

function splice(tx: ListTx, list: number, prev: number, next: number): void {
  // __list_splice
  spliceValid(tx, list, prev, next);
  const first = tx.next(list);
  const last = tx.prev(list);
  tx.setPrev(first, prev);
  tx.setNext(prev, first);
  tx.setNext(last, next);
  tx.setPrev(next, last);
}

function spliceRcu(tx: ListTx, list: number, prev: number, next: number, sync: () => void): void {
  // __list_splice_init_rcu
  spliceValid(tx, list, prev, next);
  const first = tx.next(list);
  const last = tx.prev(list);
  initHead(tx, list);
  tx.call(sync);
  tx.setNext(last, next);
  tx.publishNext(prev, first);
  tx.setPrev(first, prev);
  tx.setPrev(next, last);
}

// ---- the public operations (Steps forms, then synchronous forms) ----------------------

/** The list_head at `e` (both pointers), and one pointer of it. */
const whole = (e: number) => [e, LIST_HEAD_SIZE] as const;
const nextOf = (e: number) => [e + LIST_NEXT, 8] as const;
const prevOf = (e: number) => [e + LIST_PREV, 8] as const;

function start(cpu: Cpu, nodes: readonly (readonly [string, unknown])[]): void {
  checkCpu(cpu);
  for (const [what, v] of nodes) checkNode(what, v);
}

export function* prListInitSteps(cpu: Cpu, head: number): Steps<WrRunResult> {
  start(cpu, [['head', head]]);
  return yield* run(cpu, 'prListInit', [whole(head)], (tx) => initHead(tx, head));
}

/** list_add: inserts `node` right after `head`. */
export function* prListAddSteps(cpu: Cpu, node: number, head: number): Steps<WrRunResult> {
  start(cpu, [
    ['node', node],
    ['head', head],
  ]);
  return yield* run(cpu, 'prListAdd', [whole(node), nextOf(head)], (tx) =>
    add(tx, node, head, tx.next(head)),
  );
}

/** list_add_tail: inserts `node` right before `head` (at the tail). */
export function* prListAddTailSteps(cpu: Cpu, node: number, head: number): Steps<WrRunResult> {
  start(cpu, [
    ['node', node],
    ['head', head],
  ]);
  return yield* run(cpu, 'prListAddTail', [whole(node), prevOf(head)], (tx) =>
    add(tx, node, tx.prev(head), head),
  );
}

/** list_del: unlinks `entry` and poisons its pointers. */
export function* prListDelSteps(cpu: Cpu, entry: number): Steps<WrRunResult> {
  start(cpu, [['entry', entry]]);
  return yield* run(cpu, 'prListDel', [whole(entry)], (tx) => {
    delEntry(tx, entry);
    tx.setNext(entry, LIST_POISON1);
    tx.setPrev(entry, LIST_POISON2);
  });
}

/** list_del_init: unlinks `entry` and makes it an empty list. */
export function* prListDelInitSteps(cpu: Cpu, entry: number): Steps<WrRunResult> {
  start(cpu, [['entry', entry]]);
  return yield* run(cpu, 'prListDelInit', [whole(entry)], (tx) => {
    delEntry(tx, entry);
    initHead(tx, entry);
  });
}

function replace(tx: ListTx, old: number, node: number, noSelf: boolean): void {
  const { prev, next } = replaceValid(tx, old, node, noSelf);
  tx.setNext(node, next);
  tx.setPrev(next, node);
  tx.setPrev(node, prev);
  tx.setNext(prev, node);
}

/** list_replace: `node` takes `old`'s place; `old`'s pointers are left as they were. */
export function* prListReplaceSteps(cpu: Cpu, old: number, node: number): Steps<WrRunResult> {
  start(cpu, [
    ['old', old],
    ['node', node],
  ]);
  return yield* run(cpu, 'prListReplace', [whole(node)], (tx) => replace(tx, old, node, false));
}

/** list_replace_init: as prListReplace, then `old` becomes an empty list. */
export function* prListReplaceInitSteps(cpu: Cpu, old: number, node: number): Steps<WrRunResult> {
  start(cpu, [
    ['old', old],
    ['node', node],
  ]);
  return yield* run(cpu, 'prListReplaceInit', [whole(node), whole(old)], (tx) => {
    replace(tx, old, node, true);
    initHead(tx, old);
  });
}

/** list_move: unlinks `entry` and adds it after `head`. */
export function* prListMoveSteps(cpu: Cpu, entry: number, head: number): Steps<WrRunResult> {
  start(cpu, [
    ['entry', entry],
    ['head', head],
  ]);
  return yield* run(cpu, 'prListMove', [whole(entry), nextOf(head)], (tx) => {
    delEntry(tx, entry);
    add(tx, entry, head, tx.next(head));
  });
}

/** list_move_tail: unlinks `entry` and adds it before `head`. */
export function* prListMoveTailSteps(cpu: Cpu, entry: number, head: number): Steps<WrRunResult> {
  start(cpu, [
    ['entry', entry],
    ['head', head],
  ]);
  return yield* run(cpu, 'prListMoveTail', [whole(entry), prevOf(head)], (tx) => {
    delEntry(tx, entry);
    add(tx, entry, tx.prev(head), head);
  });
}

function* spliceOp(
  cpu: Cpu,
  operation: string,
  list: number,
  head: number,
  tail: boolean,
  reinit: boolean,
): Steps<WrRunResult> {
  start(cpu, [
    ['list', list],
    ['head', head],
  ]);
  return yield* run(cpu, operation, [], (tx) => {
    if (list === head) tx.corrupt(list, `list_splice of ${hex(list)} into itself`);
    if (tx.next(list) === list) return; // list_empty: nothing to splice
    if (tail) splice(tx, list, tx.prev(head), head);
    else splice(tx, list, head, tx.next(head));
    if (reinit) initHead(tx, list);
  });
}

/** list_splice: joins `list`'s entries after `head` (`list` itself is left stale). */
export const prListSpliceSteps = (cpu: Cpu, list: number, head: number) =>
  spliceOp(cpu, 'prListSplice', list, head, false, false);
/** list_splice_tail: joins `list`'s entries before `head`. */
export const prListSpliceTailSteps = (cpu: Cpu, list: number, head: number) =>
  spliceOp(cpu, 'prListSpliceTail', list, head, true, false);
/** list_splice_init: as prListSplice, then `list` becomes empty. */
export const prListSpliceInitSteps = (cpu: Cpu, list: number, head: number) =>
  spliceOp(cpu, 'prListSpliceInit', list, head, false, true);
/** list_splice_tail_init. */
export const prListSpliceTailInitSteps = (cpu: Cpu, list: number, head: number) =>
  spliceOp(cpu, 'prListSpliceTailInit', list, head, true, true);

// ---- RCU forms -----------------------------------------------------------------------

/** list_add_rcu: builds `node` fully, then publishes it with wrRcuAssignPointer. */
export function* prListAddRcuSteps(cpu: Cpu, node: number, head: number): Steps<WrRunResult> {
  start(cpu, [
    ['node', node],
    ['head', head],
  ]);
  return yield* run(cpu, 'prListAddRcu', [whole(node), nextOf(head)], (tx) =>
    addRcu(tx, node, head, tx.next(head)),
  );
}

/** list_add_tail_rcu. */
export function* prListAddTailRcuSteps(cpu: Cpu, node: number, head: number): Steps<WrRunResult> {
  start(cpu, [
    ['node', node],
    ['head', head],
  ]);
  return yield* run(cpu, 'prListAddTailRcu', [whole(node), prevOf(head)], (tx) =>
    addRcu(tx, node, tx.prev(head), head),
  );
}

/**
 * list_del_rcu: unlinks `entry` but keeps its `next`, so a reader standing on it can go
 * on; only `prev` is poisoned. Free the entry after a grace period.
 */
export function* prListDelRcuSteps(cpu: Cpu, entry: number): Steps<WrRunResult> {
  start(cpu, [['entry', entry]]);
  return yield* run(cpu, 'prListDelRcu', [prevOf(entry)], (tx) => {
    delEntry(tx, entry);
    tx.setPrev(entry, LIST_POISON2);
  });
}

/** list_replace_rcu: `node` is complete before it replaces `old` for readers. */
export function* prListReplaceRcuSteps(cpu: Cpu, old: number, node: number): Steps<WrRunResult> {
  start(cpu, [
    ['old', old],
    ['node', node],
  ]);
  return yield* run(cpu, 'prListReplaceRcu', [whole(node), prevOf(old)], (tx) => {
    const { prev, next } = replaceValid(tx, old, node, true);
    tx.setNext(node, next);
    tx.setPrev(node, prev);
    tx.publishNext(prev, node);
    tx.setPrev(next, node);
    tx.setPrev(old, LIST_POISON2);
  });
}

/**
 * list_splice_init_rcu: empties `list`, waits for readers of it (`sync`, e.g. a
 * synchronize_rcu model; the machine has no grace periods of its own), then publishes
 * its entries after `head`.
 */
export function* prListSpliceInitRcuSteps(
  cpu: Cpu,
  list: number,
  head: number,
  sync: () => void = () => {},
): Steps<WrRunResult> {
  start(cpu, [
    ['list', list],
    ['head', head],
  ]);
  checkSync(sync);
  return yield* run(cpu, 'prListSpliceInitRcu', [], (tx) => {
    if (list === head) tx.corrupt(list, `list_splice of ${hex(list)} into itself`);
    if (tx.next(list) === list) return;
    spliceRcu(tx, list, head, tx.next(head), sync);
  });
}

/** list_splice_tail_init_rcu. */
export function* prListSpliceTailInitRcuSteps(
  cpu: Cpu,
  list: number,
  head: number,
  sync: () => void = () => {},
): Steps<WrRunResult> {
  start(cpu, [
    ['list', list],
    ['head', head],
  ]);
  checkSync(sync);
  return yield* run(cpu, 'prListSpliceTailInitRcu', [], (tx) => {
    if (list === head) tx.corrupt(list, `list_splice of ${hex(list)} into itself`);
    if (tx.next(list) === list) return;
    spliceRcu(tx, list, tx.prev(head), head, sync);
  });
}

export const prListInit = (cpu: Cpu, head: number) => drain(prListInitSteps(cpu, head));
export const prListAdd = (cpu: Cpu, node: number, head: number) =>
  drain(prListAddSteps(cpu, node, head));
export const prListAddTail = (cpu: Cpu, node: number, head: number) =>
  drain(prListAddTailSteps(cpu, node, head));
export const prListDel = (cpu: Cpu, entry: number) => drain(prListDelSteps(cpu, entry));
export const prListDelInit = (cpu: Cpu, entry: number) => drain(prListDelInitSteps(cpu, entry));
export const prListReplace = (cpu: Cpu, old: number, node: number) =>
  drain(prListReplaceSteps(cpu, old, node));
export const prListReplaceInit = (cpu: Cpu, old: number, node: number) =>
  drain(prListReplaceInitSteps(cpu, old, node));
export const prListMove = (cpu: Cpu, entry: number, head: number) =>
  drain(prListMoveSteps(cpu, entry, head));
export const prListMoveTail = (cpu: Cpu, entry: number, head: number) =>
  drain(prListMoveTailSteps(cpu, entry, head));
export const prListSplice = (cpu: Cpu, list: number, head: number) =>
  drain(prListSpliceSteps(cpu, list, head));
export const prListSpliceTail = (cpu: Cpu, list: number, head: number) =>
  drain(prListSpliceTailSteps(cpu, list, head));
export const prListSpliceInit = (cpu: Cpu, list: number, head: number) =>
  drain(prListSpliceInitSteps(cpu, list, head));
export const prListSpliceTailInit = (cpu: Cpu, list: number, head: number) =>
  drain(prListSpliceTailInitSteps(cpu, list, head));
export const prListAddRcu = (cpu: Cpu, node: number, head: number) =>
  drain(prListAddRcuSteps(cpu, node, head));
export const prListAddTailRcu = (cpu: Cpu, node: number, head: number) =>
  drain(prListAddTailRcuSteps(cpu, node, head));
export const prListDelRcu = (cpu: Cpu, entry: number) => drain(prListDelRcuSteps(cpu, entry));
export const prListReplaceRcu = (cpu: Cpu, old: number, node: number) =>
  drain(prListReplaceRcuSteps(cpu, old, node));
export const prListSpliceInitRcu = (cpu: Cpu, list: number, head: number, sync?: () => void) =>
  drain(prListSpliceInitRcuSteps(cpu, list, head, sync));
export const prListSpliceTailInitRcu = (cpu: Cpu, list: number, head: number, sync?: () => void) =>
  drain(prListSpliceTailInitRcuSteps(cpu, list, head, sync));

// ---- reading lists (ordinary loads, as a reader does) --------------------------------

function checkMax(max: unknown): asserts max is number {
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 0)
    throw new InvalidArgumentError('max', max, 'must be a non-negative integer');
}

/** list_empty. */
export function prListEmpty(cpu: Cpu, head: number): boolean {
  checkCpu(cpu);
  checkVa(head, 'list head');
  return cpu.readPtr(head + LIST_NEXT) === head;
}

/** The entries of a list, following `next` (list_for_each); throws on a runaway cycle. */
export function prListEntries(cpu: Cpu, head: number, max = 1 << 20): number[] {
  return walk(cpu, head, LIST_NEXT, max);
}

/** The entries following `prev` (list_for_each_prev), tail first. */
export function prListEntriesReverse(cpu: Cpu, head: number, max = 1 << 20): number[] {
  return walk(cpu, head, LIST_PREV, max);
}

function walk(cpu: Cpu, head: number, field: number, max: number): number[] {
  checkCpu(cpu);
  checkVa(head, 'list head');
  checkMax(max);
  const out: number[] = [];
  for (let p = cpu.readPtr(head + field); p !== head; p = cpu.readPtr(p + field)) {
    if (out.length >= max)
      throw new InvalidArgumentError('list', head, `more than ${max} entries: a corrupted list`);
    out.push(p);
  }
  return out;
}

/**
 * CONFIG_DEBUG_LIST's check: for every node, `next->prev == node` and
 * `prev->next == node`. Returns the first inconsistency, or undefined.
 */
export function prListCheck(cpu: Cpu, head: number, max = 1 << 20): string | undefined {
  checkCpu(cpu);
  checkVa(head, 'list head');
  checkMax(max);
  let p = head;
  for (let n = 0; n <= max; n++) {
    const next = cpu.readPtr(p + LIST_NEXT);
    if (cpu.readPtr(next + LIST_PREV) !== p)
      return `next->prev of ${next.toString(16)} is not ${p.toString(16)}`;
    if (cpu.readPtr(cpu.readPtr(p + LIST_PREV) + LIST_NEXT) !== p)
      return `prev->next of ${p.toString(16)} is not itself`;
    p = next;
    if (p === head) return undefined;
  }
  return `more than ${max} entries`;
}
