/**
 * The browser harness: builds the production bundle with Vite, serves it with Vite's
 * preview server on loopback, and drives Debian's Chromium (never a downloaded browser)
 * with playwright-core.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build, type PreviewServer, preview } from 'vite';

export const APP_DIR = join(import.meta.dirname, '..');
export const CHROMIUM = process.env.PRMEM_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--headless',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

export interface Harness {
  readonly browser: Browser;
  readonly server: PreviewServer;
  readonly url: string;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (see .ci/run)`);
  await build({ root: APP_DIR, logLevel: 'warn' });
  const server = await preview({
    root: APP_DIR,
    preview: { port: 0, host: '127.0.0.1' },
    logLevel: 'warn',
  });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('vite preview did not report its URL');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  return {
    browser,
    server,
    url,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** Bytes of the production bundle (JS and CSS), gzipped file by file as a server would send them. */
export function bundleGzipBytes(): { files: number; raw: number; gzip: number } {
  const dir = join(APP_DIR, 'dist', 'assets');
  let raw = 0;
  let gzip = 0;
  let files = 0;
  for (const f of readdirSync(dir)) {
    if (!/\.(js|css)$/.test(f)) continue;
    const b = readFileSync(join(dir, f));
    raw += b.length;
    gzip += gzipSync(b, { level: 9 }).length;
    files++;
  }
  return { files, raw, gzip };
}

/** Uncaught errors of every page opened (a test checks there were none). */
export const pageErrors: string[] = [];

export async function open(h: Harness, query: string): Promise<Page> {
  const page = await h.browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('pageerror', (e) => {
    pageErrors.push(`${query}: ${e.message}`);
  });
  await page.goto(`${h.url}${query}`);
  await page.getByTestId('step-label').waitFor();
  return page;
}
