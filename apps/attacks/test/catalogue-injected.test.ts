import { toyBackend } from '@prmem/core/testing';
import { describe, expect, it } from 'vitest';
import {
  attackById,
  type Attack,
  classify,
  combosOf,
  deriveProperties,
  renderMatrix,
  runMatrix,
} from '../src/index.js';

const must = (id: string): Attack => {
  const a = attackById(id);
  if (!a) throw new Error(`no attack ${id}`);
  return a;
};

describe('the catalogue catches an injected bug', () => {
  // The toy backend with its remote shootdown skipped: protection flushes only the local TLB.
  const [buggy] = combosOf(toyBackend({ skipShootdown: true }));
  const [sound] = combosOf(toyBackend());

  it('the stale-TLB attack flips from stopped to succeeded', async () => {
    const attack = must('stale-tlb-remote-pool');
    const good = await attack.run(sound);
    expect(good.outcome).toBe('stopped');
    const bad = await attack.run(buggy);
    expect(bad.combo).toBe('toy/toy-remap');
    expect(bad.expected).toBe('stopped');
    expect(bad.outcome).toBe('succeeded');
    expect(bad.match).toBe(false);
    expect(bad.detail).toMatch(/CPU1 writes the object: went through/);
  });

  it('the runner reports the mismatch and the property turns false', async () => {
    const report = await runMatrix({
      combos: [buggy],
      attacks: [
        must('stale-tlb-remote-pool'),
        must('stale-tlb-remote-static'),
        must('plain-write-rodata'),
      ],
    });
    expect(report.mismatches.map((r) => r.attack)).toContain('stale-tlb-remote-pool');
    expect(report.mismatches.every((r) => r.outcome === 'succeeded')).toBe(true);
    expect(report.properties['toy/toy-remap'].staleTlbSafe).toBe(false);
    expect(report.properties['toy/toy-remap'].plainWritesStopped).toBe(true);
    const table = renderMatrix(report);
    expect(table).toMatch(/!SUCCEEDED \(want stopped\)/);
    expect(table).toMatch(/1 mismatches|2 mismatches/);
  });
});

describe('classification', () => {
  const obs = (landed: boolean, events: string[] = []) => ({ landed, events, detail: '' });

  it('a landing is an opening only where the catalogue documents one', () => {
    expect(classify(obs(true), 'window')).toBe('window');
    expect(classify(obs(true), 'unprotected')).toBe('unprotected');
    expect(classify(obs(true), 'stopped')).toBe('succeeded');
    expect(classify(obs(true), 'detected')).toBe('succeeded');
  });

  it('a refusal is detected only when the machine recorded it', () => {
    expect(classify(obs(false), 'detected')).toBe('stopped');
    expect(classify(obs(false, ['stage2-fault']), 'stopped')).toBe('detected');
    expect(classify({ ...obs(false), notApplicable: 'no EL2' }, 'stopped')).toBe('n/a');
  });

  it('a property is null when all its attacks were n/a', () => {
    const p = deriveProperties([
      {
        attack: 'hvc-unregistered',
        combo: 'x',
        outcome: 'n/a',
        expected: 'n/a',
        match: true,
        detail: '',
        events: [],
        ms: 0,
      },
      {
        attack: 'race-plain-write-other-cpu',
        combo: 'x',
        outcome: 'window',
        expected: 'window',
        match: true,
        detail: '',
        events: [],
        ms: 0,
      },
    ]);
    expect(p.hypervisorChecksTargets).toBeNull();
    expect(p.windowVisibleToOtherCpus).toBe(true);
    expect(p.survivesPageTableAttack).toBeNull();
  });
});
