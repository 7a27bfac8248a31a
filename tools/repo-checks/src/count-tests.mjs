#!/usr/bin/env node
// Sums vitest's JSON reports (test-results.json in every workspace package) and prints
// `N passed, N failed` on a line of its own, the line CI reads. Exits non-zero when a
// test failed or when no test ran at all, so an empty run cannot pass silently.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? '.');
let passed = 0;
let failed = 0;
let skipped = 0;
const seen = [];
for (const group of ['packages', 'apps', 'tools']) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir)) {
    const file = join(dir, name, 'test-results.json');
    if (!existsSync(file)) continue;
    const report = JSON.parse(readFileSync(file, 'utf8'));
    passed += report.numPassedTests ?? 0;
    failed += (report.numFailedTests ?? 0) + (report.numRuntimeErrors ?? 0);
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    seen.push(`${group}/${name}: ${report.numPassedTests} passed, ${report.numFailedTests} failed`);
  }
}
for (const line of seen) console.log(`  ${line}`);
if (skipped > 0) console.log(`  (${skipped} skipped or todo)`);
console.log(`${passed} passed, ${failed} failed`);
if (passed + failed === 0) {
  console.error('count-tests: no test report found, or no test ran');
  process.exit(1);
}
process.exit(failed > 0 ? 1 : 0);
