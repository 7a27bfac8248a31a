import { defineConfig, mergeConfig } from 'vitest/config';
import { shared } from '../../vitest.shared.ts';

export default mergeConfig(
  shared,
  defineConfig({
    // One browser test drives Chromium; keep the files in one worker at a time (2 cores).
    test: { name: '@prmem/explorer', fileParallelism: false },
  }),
);
