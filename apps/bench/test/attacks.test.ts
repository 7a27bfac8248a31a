import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttacksFileError, loadSecurity, NOT_MEASURED } from '../src/attacks.js';
import { toMarkdown } from '../src/report/doc.js';
import { buildReport } from '../src/report/report.js';
import { resultsSchema } from '../src/results.js';
import { runBench } from '../src/runner.js';
import { discoverVariants, filterVariants } from '../src/variants.js';
import { wrAssignWorkload } from '../src/workloads/wr-assign.js';
import { tempDir } from './helpers.js';

/** A file in the suite's format (`prmem-attacks/1`, apps/attacks README). */
const suiteOutput = {
  schema: 'prmem-attacks/1',
  generatedAt: '2026-01-01T00:00:00.000Z',
  combos: [
    { id: 'x86-64/alias-mm', backend: 'x86-64', mechanism: 'alias-mm', summary: 's' },
    { id: 'arm64/hyp-assist', backend: 'arm64', mechanism: 'hyp-assist', summary: 's' },
  ],
  results: [
    { attack: 'remote-write-in-window', combo: 'x86-64/alias-mm', outcome: 'stopped' },
    {
      attack: 'pte-flip',
      combo: 'x86-64/alias-mm',
      outcome: 'unprotected',
      detail: 'stage 1 only',
    },
    { attack: 'pte-flip', combo: 'arm64/hyp-assist', outcome: 'detected' },
  ],
  properties: {
    'x86-64/alias-mm': {
      windowVisibleToOtherCpus: false,
      writableAliasReachable: false,
      survivesPageTableAttack: false,
      windowOpensUnrelatedReadOnly: false,
    },
  },
};

async function variants() {
  const d = await discoverVariants();
  return filterVariants(d.variants, undefined, ['alias-mm', 'hyp-assist']);
}

describe('security properties come from the attack suite', () => {
  it('reads attacks.json: summaries and outcomes per arch × mechanism (every profile)', async () => {
    const file = join(tempDir(), 'attacks.json');
    writeFileSync(file, JSON.stringify(suiteOutput));
    const vs = await variants();
    const s = await loadSecurity(file, vs, () => {});
    expect(s.source).toBe(file);
    expect(s.byVariant['x86-64/alias-mm']?.summary?.survivesPageTableAttack).toBe(false);
    expect(s.byVariant['x86-64/alias-mm']?.outcomes).toHaveLength(2);
    for (const id of ['arm64[kvm]/hyp-assist', 'arm64[thin]/hyp-assist']) {
      expect(s.byVariant[id]?.summary).toBeNull();
      expect(s.byVariant[id]?.outcomes).toEqual([{ attack: 'pte-flip', outcome: 'detected' }]);
    }
    expect(s.byVariant['arm64[kvm]/alias-mm']).toBeNull();
  });

  it('states "not measured" for every mechanism when there are no results, in the report too', async () => {
    const vs = await variants();
    const { results } = await runBench({
      variants: vs.slice(0, 2),
      workloads: [wrAssignWorkload],
      cpus: [1],
      referenceCpus: 1,
      quick: true,
      base: { seed: 1, clockGHz: 3 },
      skipped: [],
      trace: false,
      attacks: false,
    });
    const r = resultsSchema.parse({
      ...results,
      security: { source: null, byVariant: { [vs[0].id]: null, [vs[1].id]: null } },
    });
    const md = toMarkdown(await buildReport(r, { charts: false }));
    // The verdict's four security cells say so, with no link (there is no evidence).
    const cells = Array(4).fill(`${NOT_MEASURED} ?`).join(' | ');
    expect(md).toMatch(new RegExp(`\\| \`${vs[0].id}\` \\|.*\\| ${cells} \\|`));
    expect(md).toMatch(new RegExp(`\\| \`${vs[1].id}\` \\|.*\\| ${cells} \\|`));
    expect(md).not.toMatch(/\[(yes|no) [✓✗]\]/);
    expect(md).toMatch(/security properties are not measured/);
  });

  it('reports yes/no from the summary in the report', async () => {
    const file = join(tempDir(), 'attacks.json');
    writeFileSync(file, JSON.stringify(suiteOutput));
    const vs = (await variants()).filter((v) => v.id === 'x86-64/alias-mm');
    const { results } = await runBench({
      variants: vs,
      workloads: [wrAssignWorkload],
      cpus: [1],
      referenceCpus: 1,
      quick: true,
      base: { seed: 1, clockGHz: 3 },
      skipped: [],
      trace: false,
      attacks: file,
    });
    const md = toMarkdown(await buildReport(results, { charts: false }));
    // Verdict: a defender wants "no" to the first two and the last, "yes" to the third.
    expect(md).toMatch(
      /\| `x86-64\/alias-mm` \|.*\| \[no ✓\]\(#attack-matrix\) \| \[no ✓\]\(#attack-matrix\) \| \[no ✗\]\(#attack-matrix\) \| \[no ✓\]\(#attack-matrix\) \|$/m,
    );
    // The matrix: one row per attack, one column per variant.
    expect(md).toContain('| `remote-write-in-window` | stopped ✓ |');
    expect(md).toContain('| `pte-flip` | unprotected ✗ |');
  });

  it('refuses an explicit attacks file that is missing or has the wrong shape', async () => {
    const vs = await variants();
    await expect(loadSecurity(join(tempDir(), 'none.json'), vs, () => {})).rejects.toThrow(
      AttacksFileError,
    );
    const file = join(tempDir(), 'attacks.json');
    writeFileSync(
      file,
      JSON.stringify({ ...suiteOutput, results: [{ arch: 'x86-64', outcome: 'maybe' }] }),
    );
    await expect(loadSecurity(file, vs, () => {})).rejects.toThrow(/results\.0\.mechanism|outcome/);
  });
});

describe('the attack suite and the bench agree on the file format', () => {
  it("reads what the suite's own runner produces", async () => {
    const suite = await import('@prmem/attacks');
    const x86 = (await import('@prmem/arch-x86')).backend;
    const report = await suite.runMatrix({
      combos: [{ id: 'x86-64/alias-mm', backend: x86, mechanism: 'alias-mm' }],
      attacks: suite.CATALOGUE.filter(
        (a) => a.id === 'plain-write-rodata' || a.id.startsWith('pte-rewrite'),
      ),
    });
    const file = join(tempDir(), 'attacks.json');
    writeFileSync(file, JSON.stringify(report));
    const vs = (await variants()).filter((v) => v.id === 'x86-64/alias-mm');
    const s = await loadSecurity(file, vs, () => {});
    const got = s.byVariant['x86-64/alias-mm'];
    expect(got?.outcomes.map((o) => o.attack).sort()).toEqual(
      report.results.map((r) => r.attack).sort(),
    );
    expect(got?.summary?.survivesPageTableAttack).toBe(
      report.properties['x86-64/alias-mm'].survivesPageTableAttack,
    );
  });
});
