import { checkSize, PAGE_SIZE } from './addr.js';
import type { ProtLevel } from './backend.js';
import { InvalidArgumentError, OutOfMemoryError, StateError } from './errors.js';
import type { Machine } from './machine.js';
import { PG } from './phys.js';

/** The static sections a caller can reserve variables in. */
export const SECTIONS = [
  '.rodata',
  '.data..ro_after_init',
  '.data..wr_after_init',
  '.data',
] as const;
export type SectionName = (typeof SECTIONS)[number];
/** The protection each section gets at finishBoot() (mark_rodata_ro). */
const SECTION_LEVEL: Readonly<Record<SectionName, ProtLevel>> = {
  '.rodata': 'ro',
  '.data..ro_after_init': 'ro',
  '.data..wr_after_init': 'wr',
  '.data': 'rw',
};

export interface Section {
  readonly name: SectionName;
  readonly start: number;
  readonly size: number;
  /** Frame of each page: the kernel image is physically fixed (`__pa_symbol`, no walk). */
  readonly pfns: Int32Array;
  used: number;
}

export interface StaticSymbol {
  readonly name: string;
  readonly va: number;
  readonly size: number;
  readonly section: SectionName;
}

/**
 * The kernel image: its static sections (mapped at boot, physically fixed), the symbols
 * defined in them, and the end of boot (mark_rodata_ro).
 * @internal a room of `Machine`, which is its public face
 */
export class ImageRoom {
  private readonly sectionMap = new Map<SectionName, Section>();
  /** The same sections as an array: `sectionOf` is on every write-rare check's path. */
  private readonly sectionList: Section[] = [];
  private readonly symbols = new Map<string, StaticSymbol>();
  private bootDone = false;

  constructor(private readonly m: Machine) {}

  /** Maps the sections after one another from the layout's image start, RW until boot ends. */
  mapSections(sectionPages: number): void {
    const { phys, kernelMm } = this.m;
    const pt = this.m.arch.pt;
    let va = this.m.layout.imageStart;
    for (const name of SECTIONS) {
      const pfns = phys.allocFrames(sectionPages);
      for (let i = 0; i < pfns.length; i++) {
        phys.frameFlags[pfns[i]] |= PG.KERNEL_IMAGE;
        pt.map(kernelMm, va + i * PAGE_SIZE, pfns[i] * PAGE_SIZE, {
          write: true,
          exec: false,
          global: true,
        });
      }
      const sec = {
        name,
        start: va,
        size: sectionPages * PAGE_SIZE,
        pfns: Int32Array.from(pfns),
        used: 0,
      };
      this.sectionMap.set(name, sec);
      this.sectionList.push(sec);
      va += sectionPages * PAGE_SIZE;
    }
  }

  defineStatic(section: SectionName, size: number, name: string): number {
    const sec = this.sectionMap.get(section);
    if (!sec)
      throw new InvalidArgumentError('section', section, `must be one of ${SECTIONS.join(', ')}`);
    checkSize(size, false, sec.size);
    if (typeof name !== 'string' || name.length === 0)
      throw new InvalidArgumentError('name', name, 'must be a non-empty string');
    if (this.symbols.has(name))
      throw new InvalidArgumentError('name', name, 'symbol already defined');
    if (this.bootDone)
      throw new StateError('EBOOTDONE', `cannot define static ${name} after finishBoot()`, {
        name,
      });
    const align = Math.min(8, 2 ** Math.ceil(Math.log2(size)));
    const off = Math.ceil(sec.used / align) * align;
    if (off + size > sec.size)
      throw new OutOfMemoryError(`section ${section}`, size, sec.size - off);
    sec.used = off + size;
    const va = sec.start + off;
    this.symbols.set(name, { name, va, size, section });
    return va;
  }

  symbol(name: string): StaticSymbol | undefined {
    return this.symbols.get(name);
  }

  section(name: SectionName): Section {
    const s = this.sectionMap.get(name);
    if (!s) throw new InvalidArgumentError('section', name, 'unknown section');
    return s;
  }

  sectionOf(va: number, len: number): Section | undefined {
    for (let i = 0; i < this.sectionList.length; i++) {
      const s = this.sectionList[i];
      if (va >= s.start && va + len <= s.start + s.size) return s;
    }
    return undefined;
  }

  get booted(): boolean {
    return this.bootDone;
  }

  /** Ends boot: `protect` moves each section to its level (rw sections stay). */
  finishBoot(protect: (start: number, size: number, level: ProtLevel) => void): void {
    if (this.bootDone) throw new StateError('EBOOTDONE', 'finishBoot() was already called');
    for (const s of this.sectionMap.values()) {
      const level = SECTION_LEVEL[s.name];
      if (level !== 'rw') protect(s.start, s.size, level);
    }
    this.bootDone = true;
  }

  /** The ceiling of a frame outside any area: `.data..wr_after_init` stays write-rare. */
  frameCeiling(pfn: number): 'wr' | 'ro' {
    if ((this.m.phys.frameFlags[pfn] & PG.KERNEL_IMAGE) === 0) return 'ro';
    const wr = this.sectionMap.get('.data..wr_after_init');
    return wr?.pfns.includes(pfn) ? 'wr' : 'ro';
  }
}
