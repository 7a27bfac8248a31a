import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { type Io, main } from '../src/main.js';

export interface Captured {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs prmem-bench in-process with captured output. */
export async function runCli(argv: readonly string[]): Promise<Captured> {
  let stdout = '';
  let stderr = '';
  const io: Io = {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    tty: false,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

/** A fresh folder under the system's temp dir, removed when the calling test finishes. */
export function tempDir(prefix = 'prmem-bench-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
