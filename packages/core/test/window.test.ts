import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BracketWindow,
  type Cpu,
  ProgramSequence,
  type Step,
  type StepProgram,
  stepsOf,
  type WindowBracket,
} from '../src/index.js';

/** A writer of `n` steps that records them in `log`. */
function writer(log: string[], n: number, tag = 'w'): StepProgram {
  let i = 0;
  return {
    step: (): Step | null => {
      if (i >= n) return null;
      log.push(`${tag}${i}`);
      return `${tag}${i++}`;
    },
    abort: () => log.push(`${tag}-abort`),
  };
}

/** Brackets that record enter/exit and check exit gets what enter saved. */
function brackets(log: string[], n: number): WindowBracket[] {
  return Array.from({ length: n }, (_, b) => ({
    open: `open${b}`,
    close: `close${b}`,
    enter: () => {
      log.push(`enter${b}`);
      return `saved${b}`;
    },
    exit: (_cpu: Cpu, saved: unknown) => {
      expect(saved).toBe(`saved${b}`);
      log.push(`exit${b}`);
    },
  }));
}

const cpu = {} as Cpu;

describe('BracketWindow', () => {
  it('opens in order, writes, closes in reverse; stopped after k steps, closes what is open', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 4 }),
        fc.nat({ max: 12 }),
        (nb, nw, k) => {
          const log: string[] = [];
          const p = new BracketWindow(cpu, brackets(log, nb), writer(log, nw));
          // The reference: every step of a full run, as the window's own labels.
          const full = [
            ...Array.from({ length: nb }, (_, b) => [`open${b}`, `enter${b}`]),
            ...Array.from({ length: nw }, (_, i) => [`w${i}`, `w${i}`]),
            ...Array.from({ length: nb }, (_, b) => [`close${nb - 1 - b}`, `exit${nb - 1 - b}`]),
          ];
          const labels: Step[] = [];
          for (let i = 0; i < k; i++) {
            const l = p.step();
            if (l === null) break;
            labels.push(l);
          }
          const taken = labels.length;
          expect(labels).toEqual(full.slice(0, taken).map(([l]) => l));
          p.abort();
          p.abort();
          expect(p.step()).toBeNull();
          // Abort closes the brackets still open, innermost first, after telling the writer
          // if it was running (all brackets open, the writer not yet finished).
          const closed = Math.max(0, taken - nb - nw);
          const stillOpen = Math.min(taken, nb) - closed;
          // A window that returned null has nothing left to close.
          const ended = taken < k;
          const writing = !ended && taken >= nb && taken <= nb + nw;
          const expected = [
            ...full.slice(0, taken).map(([, e]) => e),
            ...(writing ? ['w-abort'] : []),
            ...Array.from({ length: ended ? 0 : stillOpen }, (_, i) => `exit${stillOpen - 1 - i}`),
          ];
          expect(log).toEqual(expected);
        },
      ),
    );
  });

  it('an empty window takes no step and closes nothing', () => {
    const log: string[] = [];
    expect([...stepsOf(new BracketWindow(cpu, brackets(log, 2), writer(log, 0), true))]).toEqual(
      [],
    );
    expect(log).toEqual([]);
  });
});

describe('ProgramSequence', () => {
  it('runs programs in order; abort unwinds only the running one', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
        fc.nat({ max: 10 }),
        (sizes, k) => {
          const log: string[] = [];
          const seq = new ProgramSequence(sizes.map((n, j) => writer(log, n, `p${j}.`)));
          const all = sizes.flatMap((n, j) => Array.from({ length: n }, (_, i) => `p${j}.${i}`));
          const labels: Step[] = [];
          for (let i = 0; i < k; i++) {
            const l = seq.step();
            if (l === null) break;
            labels.push(l);
          }
          expect(labels).toEqual(all.slice(0, labels.length));
          seq.abort();
          // Unless it returned null, the running program is told (even after its last step).
          const ended = labels.length < k;
          const aborts = log.filter((x) => x.endsWith('-abort')).length;
          expect(aborts).toBe(ended || sizes.length === 0 ? 0 : 1);
          expect(seq.step()).toBeNull();
        },
      ),
    );
  });
});
