import { canonical } from './addr.js';

export type MmKind = 'kernel' | 'user' | 'wr';

/**
 * An address space (`struct mm_struct`): the physical address of its root table and its
 * ASID/PCID. On x86 the root is the PML4 loaded into CR3; on arm64 it is the table of
 * the half the mm owns (TTBR1 for the kernel, TTBR0 for others).
 */
export class Mm {
  // `declare`d: assigned first in the constructor, so V8 types the field exactly (docs/decisions.md §9).
  declare readonly id: number;
  declare readonly name: string;
  declare readonly kind: MmKind;
  declare readonly rootPa: number;
  declare readonly asid: number;

  constructor(id: number, name: string, kind: MmKind, rootPa: number, asid: number) {
    this.id = id;
    this.name = name;
    this.kind = kind;
    this.rootPa = rootPa;
    this.asid = asid;
  }

  toString(): string {
    return `mm#${this.id}(${this.name}, root=${canonical(this.rootPa)}, asid=${this.asid})`;
  }
}
