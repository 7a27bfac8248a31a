/**
 * The explorer in a real browser (Debian's Chromium, driven by playwright-core), through
 * the data-testids the issue fixes. These check behaviour, not pixels.
 */
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  APP_DIR,
  bundleGzipBytes,
  type Harness,
  open,
  pageErrors,
  startHarness,
} from './browser.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 120_000);
afterAll(async () => {
  await h?.close();
});
afterEach(() => {
  expect(pageErrors).toEqual([]);
});

async function stepUntil(page: Page, re: RegExp, max = 30): Promise<string> {
  for (let i = 0; i < max; i++) {
    const label = await page.getByTestId('step-label').textContent();
    if (label && re.test(label)) return label;
    await page.getByTestId('step').click();
  }
  throw new Error(`no step matched ${re}`);
}

const aliasRows = (page: Page, cpu: number) =>
  page.getByTestId(`tlb-cpu-${cpu}`).locator('tbody tr[data-role="alias"]');

describe('x86-64 alias-mm (text_poke-style temporary mm)', () => {
  it('the alias is a non-global TLB entry in the alias PCID on CPU0 only; CPU1 faults on it', async () => {
    const page = await open(h, '');
    await page.getByTestId('arch').selectOption('x86-64');
    await page.getByTestId('mechanism').selectOption('alias-mm');
    await page.getByTestId('cpus').fill('2');
    await page.getByTestId('cpus').dispatchEvent('change');
    await page.getByTestId('operation').selectOption('wrAssign');
    await expect.poll(() => page.getByTestId('cpu-1').count()).toBe(1);

    await page.getByTestId('ptdump-mm').selectOption({ label: 'wr_mm' });
    await stepUntil(page, /set_pte alias/);
    // The alias appears in the alias mm's ptdump, highlighted as what this step changed.
    expect(await page.getByTestId('ptdump').locator('.changed').count()).toBeGreaterThan(0);
    // Mapped but not used yet: no CPU caches the alias; CPU1 cannot reach it.
    expect(await aliasRows(page, 0).count()).toBe(0);
    await page.getByTestId('attack-what').selectOption('alias');
    await page.getByTestId('attack-cpu-1').click();
    await expect.poll(() => page.getByTestId('outcome').getAttribute('data-landed')).toBe('false');
    expect(await page.getByTestId('outcome').textContent()).toMatch(/FAULT: .*CPU 1.*fault record/);

    // The write goes through the alias: now CPU0 caches it, tagged with the alias mm's PCID.
    await stepUntil(page, /store/);
    const row = aliasRows(page, 0);
    expect(await row.count()).toBe(1);
    expect(await row.getAttribute('data-global')).toBe('false');
    const pcid = await page.getByTestId('cpu-0').locator('dd').nth(1).textContent();
    expect(await row.getAttribute('data-asid')).toBe(pcid);
    expect(await page.getByTestId('mm-cpu-0').textContent()).not.toBe('init_mm');
    expect(await aliasRows(page, 1).count()).toBe(0);
    await page.getByTestId('attack-cpu-1').click();
    await expect.poll(() => page.getByTestId('outcome').textContent()).toMatch(/FAULT/);
    expect(await page.getByTestId('outcome').getAttribute('data-landed')).toBe('false');

    // Step back re-runs from the start to the step before: the alias is not cached yet.
    const at = Number(await page.getByTestId('step-label').getAttribute('data-step'));
    await page.getByTestId('step-back').click();
    await expect
      .poll(() => page.getByTestId('step-label').getAttribute('data-step'))
      .toBe(String(at - 1));
    expect(await page.getByTestId('step-label').textContent()).toMatch(/switch_mm alias mm/);
    expect(await aliasRows(page, 0).count()).toBe(0);

    // The link reproduces the scenario and the position, the attacks made on the way too.
    expect(page.url()).toContain(`step=${at - 1}`);
    expect(new URL(page.url()).searchParams.get('at')).toBe('2.1.alias');
    const again = await open(h, new URL(page.url()).search);
    expect(await again.getByTestId('step-label').textContent()).toBe(
      await page.getByTestId('step-label').textContent(),
    );
    expect(await again.getByTestId('faults').locator('li').allTextContents()).toEqual([
      expect.stringMatching(/^#3 CPU1: page fault .*"access":"write"/),
    ]);
    await again.getByTestId('step').click();
    expect(await aliasRows(again, 0).count()).toBe(1);

    // The timeline has a column per step and an event in CPU0's lane.
    expect(await page.getByTestId('timeline').locator('g.col').count()).toBeGreaterThanOrEqual(at);
    await page.getByTestId('reset').click();
    await expect.poll(() => page.getByTestId('step-label').getAttribute('data-step')).toBe('0');

    // The explorer finds no schedule in which CPU1's write lands.
    await page.getByTestId('explore').click();
    await expect
      .poll(() => page.getByTestId('explore-result').getAttribute('data-window'))
      .toBe('false');
    expect(await page.getByTestId('explore-result').textContent()).toMatch(
      /\d+ schedules \(every one within the bound\).*no write window/,
    );
    await page.close();
    await again.close();
  });

  it('the page walk decodes each level in the x86 format and finds the translation', async () => {
    const page = await open(h, '?arch=x86-64&mechanism=alias-mm&cpus=2&op=wrAssign');
    const va = await page.getByTestId('walk-va').inputValue();
    expect(va).toMatch(/^0x/);
    const result = page.getByTestId('walk-result');
    expect(await result.locator('th').allTextContents()).toEqual(['PML4E', 'PDPTE', 'PDE', 'PTE']);
    expect(await result.textContent()).toMatch(/R\/W=0.*→ PA 0x/);
    await page.getByTestId('walk-va').fill('0x1000');
    await expect.poll(() => result.textContent()).toMatch(/no translation/);
    await page.close();
  });
});

describe('x86-64 protect() of the ro pool', () => {
  it("marks CPU1's writable entry stale until the shootdown reaches it; play runs to the end", async () => {
    const page = await open(h, '?arch=x86-64&mechanism=alias-mm&cpus=2&op=protect');
    const stale = page.getByTestId('tlb-cpu-1').locator('tr[data-stale="true"]');
    expect(await page.getByTestId('tlb-cpu-1').locator('tr[data-writable="true"]').count()).toBe(1);
    let sawStale = false;
    for (let i = 0; i < 40 && !sawStale; i++) {
      await page.getByTestId('step').click();
      sawStale = (await stale.count()) > 0;
    }
    expect(sawStale).toBe(true);
    await page.getByTestId('speed').selectOption('100');
    await page.getByTestId('play').click();
    await expect
      .poll(() => page.getByTestId('step-label').getAttribute('data-done'), { timeout: 20_000 })
      .toBe('true');
    expect(await stale.count()).toBe(0);
    await page.getByTestId('attack-what').selectOption('target');
    await page.getByTestId('attack-cpu-1').click();
    await expect.poll(() => page.getByTestId('outcome').getAttribute('data-landed')).toBe('false');
    await page.close();
  });

  it('a link that cannot be run opens the default scenario and says why', async () => {
    const page = await open(h, '?arch=sparc');
    expect(await page.getByTestId('error').textContent()).toMatch(/arch = "sparc"/);
    expect(await page.getByTestId('arch').inputValue()).toBe('x86-64');
    await page.close();
  });
});

describe('arm64 hyp-assist', () => {
  it('walks stage 1 then stage 2, and a hypercall lands in the EL2 lane', async () => {
    const page = await open(h, '?arch=arm64&mechanism=hyp-assist&cpus=2&op=wrAssign');
    const names = await page.getByTestId('walk-result').locator('th').allTextContents();
    expect(names.filter((n) => n.startsWith('S1'))).toHaveLength(4);
    expect(names.filter((n) => n.startsWith('S2')).length).toBeGreaterThan(0);
    await page.getByTestId('step').click();
    expect(await page.getByTestId('timeline').locator('[data-kind="hypercall"]').count()).toBe(1);
    await page.close();
  });
});

describe('nommu-alias direct-remap (no alias: the one mapping is made writable)', () => {
  it("CPU1's write to the target lands mid-window, and the explorer reports the window", async () => {
    const page = await open(h, '?arch=nommu-alias&mechanism=direct-remap&cpus=2&op=wrAssign');
    await page.getByTestId('attack-what').selectOption('target');
    await page.getByTestId('attack-cpu-1').click();
    await expect.poll(() => page.getByTestId('outcome').getAttribute('data-landed')).toBe('false');
    await stepUntil(page, /store/);
    await page.getByTestId('attack-cpu-1').click();
    await expect.poll(() => page.getByTestId('outcome').getAttribute('data-landed')).toBe('true');
    expect(await page.getByTestId('outcome').textContent()).toMatch(/LANDED/);
    // IPIs of the shootdown are arrows on the timeline.
    expect(await page.getByTestId('timeline').locator('[data-kind="ipi"]').count()).toBeGreaterThan(
      0,
    );

    await page.getByTestId('explore').click();
    await expect
      .poll(() => page.getByTestId('explore-result').getAttribute('data-window'))
      .toBe('true');
    expect(await page.getByTestId('explore-result').textContent()).toMatch(
      /write window exists: CPU1's plain write to the target landed/,
    );
    // Replay the violating schedule step by step, up to the landing.
    const replay = page.getByTestId('replay');
    const total = Number(/of (\d+)/.exec((await replay.textContent()) ?? '')?.[1]);
    expect(total).toBeGreaterThan(0);
    for (let i = 0; i < total; i++) await page.getByTestId('replay-step').click();
    expect(await replay.locator('li').count()).toBe(total);
    expect(await replay.textContent()).toMatch(/attacker: attack 0.*landed/s);
    await page.close();
  });

  it('runs a catalogue attack on the current mechanism and shows its outcome', async () => {
    const page = await open(h, '?arch=nommu-alias&mechanism=direct-remap&cpus=2&op=wrAssign');
    await page.getByTestId('catalogue-attack').selectOption('plain-write-rodata');
    await page.getByTestId('catalogue-run').click();
    const result = page.getByTestId('catalogue-result');
    await expect.poll(() => result.locator('[data-outcome]').count()).toBe(1);
    expect(await result.locator('[data-outcome]').getAttribute('data-outcome')).toMatch(
      /stopped|detected/,
    );
    // Its steps: the traced run's machine events, the fault among them.
    const steps = page.getByTestId('catalogue-steps');
    expect(await steps.locator('summary').textContent()).toMatch(/[1-9]\d* machine events/);
    expect(await steps.locator('li').allTextContents()).toContainEqual(
      expect.stringMatching(/fault: page fault .*write-protect/),
    );
    await page.close();
  });
});

describe('budgets', () => {
  it('a step renders in under 50 ms at 4 CPUs and 1,024 TLB entries each; the bundle is under 500 KB gzipped', async () => {
    const page = await open(h, '?arch=x86-64&mechanism=alias-mm&cpus=4&op=wrMemcpy&fill=1');
    await page.getByTestId('tlb-all').check();
    for (let c = 0; c < 4; c++)
      await expect
        .poll(() => page.getByTestId(`tlb-cpu-${c}`).locator('tbody tr').count())
        .toBe(1024);
    // Warm up once (the page's first run of each step compiles it), then measure from the
    // start; a sample taken while the 2-core host is busy is measured again (3 at most).
    await stepUntil(page, /operation returned/);
    let times: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      await page.getByTestId('reset').click();
      await expect.poll(() => page.getByTestId('step-label').getAttribute('data-step')).toBe('0');
      times = [];
      for (let i = 0; i < 8; i++) {
        await page.getByTestId('step').click();
        await expect
          .poll(() => page.getByTestId('step-label').getAttribute('data-step'))
          .toBe(String(i + 1));
        times.push(Number(await page.getByTestId('render-ms').getAttribute('data-ms')));
      }
      console.log(`step render times in order: ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
      if (Math.max(...times) < 50) break;
    }
    times.sort((a, b) => a - b);
    const median = times[times.length >> 1];
    const max = times[times.length - 1];
    const size = bundleGzipBytes();
    console.log(
      `explorer budgets: step render median ${median.toFixed(1)} ms, max ${max.toFixed(1)} ms (4 CPUs, 1,024 TLB entries each, all shown); bundle ${size.files} files, ${(size.raw / 1024).toFixed(1)} KB, ${(size.gzip / 1024).toFixed(1)} KB gzipped`,
    );
    expect(max).toBeLessThan(50);
    expect(size.gzip).toBeLessThan(500 * 1024);
    await page.close();
  });
});

describe('screenshot', () => {
  it('takes the README screenshot of x86 alias-mm mid-window', async () => {
    const page = await open(h, '?arch=x86-64&mechanism=alias-mm&cpus=2&op=wrAssign&step=4');
    await page.getByTestId('attack-what').selectOption('alias');
    await page.getByTestId('attack-cpu-1').click();
    const dir = join(APP_DIR, 'test', '.shots');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'explorer.png');
    await page.screenshot({ path: file, clip: { x: 0, y: 0, width: 1400, height: 900 } });
    const png = readFileSync(file);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    // `PRMEM_UPDATE_SCREENSHOT=1 pnpm --filter @prmem/explorer test` refreshes the committed one.
    if (process.env.PRMEM_UPDATE_SCREENSHOT === '1')
      copyFileSync(file, join(APP_DIR, 'screenshot.png'));
    await page.close();
  });
});
