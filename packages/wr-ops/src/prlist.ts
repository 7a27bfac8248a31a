/**
 * Write-rare lists (prmem's `prlist`): the kernel's doubly linked `struct list_head`
 * ({ next, prev }, two canonical 8-byte pointers) living in write-rare memory, where
 * every pointer store goes through write-rare. Each operation reads the pointers it
 * needs, computes the kernel's stores in the kernel's order, validates every target,
 * and only then writes: non-RCU forms in one batch, RCU forms in stages around the
 * publishing `wrRcuAssignPointer`.
 */
import { BadAddressError, type Cpu, drain, InvalidArgumentError, type Steps } from '@prmem/core';
import { type PlannedOp, runPlanned, type WrRunResult } from './engine.js';
import { checkTarget } from './target.js';
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

type Value = number | bigint;
type Stage =
  | { readonly kind: 'stores'; readonly stores: { at: number; value: Value }[] }
  | { readonly kind: 'publish'; readonly at: number; readonly value: number }
  | { readonly kind: 'call'; readonly fn: () => void };

/**
 * The stores of one list operation, computed against the pointers as they will be:
 * reads see earlier stores of the same operation, as they would in the kernel's code.
 */
class ListTx {
  readonly stages: Stage[] = [];
  private readonly overlay = new Map<number, Value>();
  constructor(private readonly cpu: Cpu) {}

  private read(at: number): number {
    const v = this.overlay.get(at);
    if (typeof v === 'bigint')
      throw new BadAddressError(at, 'poisoned list pointer (use after list_del)');
    return v ?? this.cpu.readPtr(at);
  }

  next(e: number): number {
    return this.read(e + LIST_NEXT);
  }

  prev(e: number): number {
    return this.read(e + LIST_PREV);
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

function checkNode(what: string, v: unknown): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new InvalidArgumentError(what, v, 'must be the address of a list_head');
}

/** Validates every store of the operation, then runs its stages in order. */
function* commit(cpu: Cpu, operation: string, tx: ListTx): Steps<WrRunResult> {
  const plans = tx.stages.map((s): PlannedOp[] | (() => void) => {
    if (s.kind === 'call') return s.fn;
    const stores = s.kind === 'stores' ? s.stores : [{ at: s.at, value: s.value }];
    return stores.map(({ at, value }) => ({
      op: typeof value === 'bigint' ? scalarStore(at, value, 8) : pointerStore(at, value),
      // Pointer slots are naturally aligned, so each store is single-copy atomic.
      target: checkTarget(cpu, operation, at, 8, { align: 8 }),
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

function* run(cpu: Cpu, operation: string, build: (tx: ListTx) => void): Steps<WrRunResult> {
  const tx = new ListTx(cpu);
  build(tx);
  return yield* commit(cpu, operation, tx);
}

// ---- the kernel's helpers, against a transaction -------------------------------------

function initHead(tx: ListTx, h: number): void {
  tx.setNext(h, h);
  tx.setPrev(h, h);
}

function add(tx: ListTx, n: number, prev: number, next: number): void {
  // __list_add
  tx.setPrev(next, n);
  tx.setNext(n, next);
  tx.setPrev(n, prev);
  tx.setNext(prev, n);
}

function addRcu(tx: ListTx, n: number, prev: number, next: number): void {
  // __list_add_rcu: the new node is complete before it is published.
  tx.setNext(n, next);
  tx.setPrev(n, prev);
  tx.publishNext(prev, n);
  tx.setPrev(next, n);
}

function delEntry(tx: ListTx, e: number): void {
  // __list_del_entry
  const prev = tx.prev(e);
  const next = tx.next(e);
  tx.setPrev(next, prev);
  tx.setNext(prev, next);
}

function splice(tx: ListTx, list: number, prev: number, next: number): void {
  // __list_splice
  const first = tx.next(list);
  const last = tx.prev(list);
  tx.setPrev(first, prev);
  tx.setNext(prev, first);
  tx.setNext(last, next);
  tx.setPrev(next, last);
}

function spliceRcu(tx: ListTx, list: number, prev: number, next: number, sync: () => void): void {
  // __list_splice_init_rcu
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

export function* prListInitSteps(cpu: Cpu, head: number): Steps<WrRunResult> {
  checkNode('head', head);
  return yield* run(cpu, 'prListInit', (tx) => initHead(tx, head));
}

/** list_add: inserts `node` right after `head`. */
export function* prListAddSteps(cpu: Cpu, node: number, head: number): Steps<WrRunResult> {
  checkNode('node', node);
  checkNode('head', head);
  return yield* run(cpu, 'prListAdd', (tx) => add(tx, node, head, tx.next(head)));
}

/** list_add_tail: inserts `node` right before `head` (at the tail). */
export function* prListAddTailSteps(cpu: Cpu, node: number, head: number): Steps<WrRunResult> {
  checkNode('node', node);
  checkNode('head', head);
  return yield* run(cpu, 'prListAddTail', (tx) => add(tx, node, tx.prev(head), head));
}

/** list_del: unlinks `entry` and poisons its pointers. */
export function* prListDelSteps(cpu: Cpu, entry: number): Steps<WrRunResult> {
  checkNode('entry', entry);
  return yield* run(cpu, 'prListDel', (tx) => {
    delEntry(tx, entry);
    tx.setNext(entry, LIST_POISON1);
    tx.setPrev(entry, LIST_POISON2);
  });
}

/** list_del_init: unlinks `entry` and makes it an empty list. */
export function* prListDelInitSteps(cpu: Cpu, entry: number): Steps<WrRunResult> {
  checkNode('entry', entry);
  return yield* run(cpu, 'prListDelInit', (tx) => {
    delEntry(tx, entry);
    initHead(tx, entry);
  });
}

/** list_replace: `node` takes `old`'s place; `old`'s pointers are left as they were. */
export function* prListReplaceSteps(cpu: Cpu, old: number, node: number): Steps<WrRunResult> {
  checkNode('old', old);
  checkNode('node', node);
  return yield* run(cpu, 'prListReplace', (tx) => {
    const next = tx.next(old);
    const prev = tx.prev(old);
    tx.setNext(node, next);
    tx.setPrev(next, node);
    tx.setPrev(node, prev);
    tx.setNext(prev, node);
  });
}

/** list_replace_init: as prListReplace, then `old` becomes an empty list. */
export function* prListReplaceInitSteps(cpu: Cpu, old: number, node: number): Steps<WrRunResult> {
  checkNode('old', old);
  checkNode('node', node);
  return yield* run(cpu, 'prListReplaceInit', (tx) => {
    const next = tx.next(old);
    const prev = tx.prev(old);
    tx.setNext(node, next);
    tx.setPrev(next, node);
    tx.setPrev(node, prev);
    tx.setNext(prev, node);
    initHead(tx, old);
  });
}

/** list_move: unlinks `entry` and adds it after `head`. */
export function* prListMoveSteps(cpu: Cpu, entry: number, head: number): Steps<WrRunResult> {
  checkNode('entry', entry);
  checkNode('head', head);
  return yield* run(cpu, 'prListMove', (tx) => {
    delEntry(tx, entry);
    add(tx, entry, head, tx.next(head));
  });
}

/** list_move_tail: unlinks `entry` and adds it before `head`. */
export function* prListMoveTailSteps(cpu: Cpu, entry: number, head: number): Steps<WrRunResult> {
  checkNode('entry', entry);
  checkNode('head', head);
  return yield* run(cpu, 'prListMoveTail', (tx) => {
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
  checkNode('list', list);
  checkNode('head', head);
  return yield* run(cpu, operation, (tx) => {
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
  checkNode('node', node);
  checkNode('head', head);
  return yield* run(cpu, 'prListAddRcu', (tx) => addRcu(tx, node, head, tx.next(head)));
}

/** list_add_tail_rcu. */
export function* prListAddTailRcuSteps(cpu: Cpu, node: number, head: number): Steps<WrRunResult> {
  checkNode('node', node);
  checkNode('head', head);
  return yield* run(cpu, 'prListAddTailRcu', (tx) => addRcu(tx, node, tx.prev(head), head));
}

/**
 * list_del_rcu: unlinks `entry` but keeps its `next`, so a reader standing on it can go
 * on; only `prev` is poisoned. Free the entry after a grace period.
 */
export function* prListDelRcuSteps(cpu: Cpu, entry: number): Steps<WrRunResult> {
  checkNode('entry', entry);
  return yield* run(cpu, 'prListDelRcu', (tx) => {
    delEntry(tx, entry);
    tx.setPrev(entry, LIST_POISON2);
  });
}

/** list_replace_rcu: `node` is complete before it replaces `old` for readers. */
export function* prListReplaceRcuSteps(cpu: Cpu, old: number, node: number): Steps<WrRunResult> {
  checkNode('old', old);
  checkNode('node', node);
  return yield* run(cpu, 'prListReplaceRcu', (tx) => {
    const next = tx.next(old);
    const prev = tx.prev(old);
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
  checkNode('list', list);
  checkNode('head', head);
  return yield* run(cpu, 'prListSpliceInitRcu', (tx) => {
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
  checkNode('list', list);
  checkNode('head', head);
  return yield* run(cpu, 'prListSpliceTailInitRcu', (tx) => {
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

/** list_empty. */
export function prListEmpty(cpu: Cpu, head: number): boolean {
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
