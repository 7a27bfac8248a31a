/** Writes results.json, report.md, report.html and (with --trace) trace.json into --out. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resultsSchema } from '../results.js';
import type { BenchOutput } from '../runner.js';
import { toHtml, toMarkdown } from './doc.js';
import { buildReport } from './report.js';

export interface WrittenFiles {
  readonly results: string;
  readonly markdown: string;
  readonly html: string;
  readonly trace?: string;
  /** The Markdown text, for --format md. */
  readonly markdownText: string;
}

export async function writeOutputs(out: BenchOutput, dir: string): Promise<WrittenFiles> {
  // Validate before writing: a results.json that breaks its own schema is a bug here.
  const results = resultsSchema.parse(out.results);
  await mkdir(dir, { recursive: true });
  const files = {
    results: join(dir, 'results.json'),
    markdown: join(dir, 'report.md'),
    html: join(dir, 'report.html'),
  };
  await writeFile(files.results, `${JSON.stringify(results, null, 2)}\n`);
  const markdownText = toMarkdown(await buildReport(results, { charts: false }));
  await writeFile(files.markdown, markdownText);
  await writeFile(
    files.html,
    toHtml('prmem-bench report', await buildReport(results, { charts: true })),
  );
  let trace: string | undefined;
  if (out.trace) {
    trace = join(dir, 'trace.json');
    await writeFile(trace, JSON.stringify(out.trace));
  }
  return { ...files, trace, markdownText };
}
