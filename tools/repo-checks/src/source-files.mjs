// The TypeScript and JavaScript sources under a directory (no node_modules, dist, .d.ts).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const SOURCE_EXT = /\.(?:[cm]?ts|tsx|[cm]?js|jsx)$/;

export function sourceFiles(dir, files = []) {
  if (!existsSync(dir)) return files;
  for (const entry of readdirSync(dir).sort()) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) sourceFiles(p, files);
    else if (SOURCE_EXT.test(entry) && !entry.endsWith('.d.ts')) files.push(p);
  }
  return files;
}
