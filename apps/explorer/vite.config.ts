import { defineConfig } from 'vite';

// The workspace packages are bundled from their TypeScript sources (the `@prmem/source`
// export condition), as the tests import them: the app runs the real model, no copy.
export default defineConfig({
  base: './',
  resolve: { conditions: ['@prmem/source', 'module', 'browser', 'development|production'] },
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // prmem's errors take their name from their class (PageFault, WriteRareViolation, ...),
    // and the attack suite classifies refusals by it: minify without renaming classes.
    rolldownOptions: { output: { keepNames: true } },
  },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
