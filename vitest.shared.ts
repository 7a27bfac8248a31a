import { defineConfig } from 'vitest/config';

// Vite's default server conditions (vite 8), with ours first.
const conditions = ['@prmem/source', 'module', 'node', 'development|production'];

/**
 * Shared vitest settings. Every package's vitest.config.ts merges this, so sibling
 * packages are imported from their TypeScript sources through the `@prmem/source`
 * export condition: tests never need a build of their dependencies.
 */
export const shared = defineConfig({
  resolve: { conditions: conditions },
  ssr: { resolve: { conditions: conditions } },
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'threads',
    reporters: ['default', ['json', { outputFile: 'test-results.json' }]],
  },
});
