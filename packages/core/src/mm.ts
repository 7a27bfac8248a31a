import { canonical } from './addr.js';

export type MmKind = 'kernel' | 'user' | 'wr';

/**
 * An address space (`struct mm_struct`): the physical address of its root table and its
 * ASID/PCID. On x86 the root is the PML4 loaded into CR3; on arm64 it is the table of
 * the half the mm owns (TTBR1 for the kernel, TTBR0 for others).
 */
export class Mm {
  readonly id: number;
  readonly name: string;
  readonly kind: MmKind;
  readonly rootPa: number;
  readonly asid: number;

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
