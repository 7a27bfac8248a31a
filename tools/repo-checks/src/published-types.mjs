#!/usr/bin/env node
// Published-types check: every package built on @prmem/core typechecks against the .d.ts
// files core publishes (dist/, with `@internal` members stripped), not against its
// sources. Run after `pnpm build`: a member a package needs that stripInternal (or a
// narrowed index.ts) made invisible fails here, before a user installs the packages.
//
// Usage: node tools/repo-checks/src/published-types.mjs
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publishablePackages } from './consumer-check.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** Publishable packages that declare @prmem/core (peer or plain dependency). */
export function builtOnCore(root) {
  return publishablePackages(root).filter((p) => {
    const m = p.manifest;
    return ['dependencies', 'peerDependencies'].some((f) => m[f]?.['@prmem/core'] !== undefined);
  });
}

/**
 * `tsc --noEmit` of the package's own tsconfig with an export condition nothing declares in
 * place of `@prmem/source`: every workspace import resolves to its built `types`.
 */
export function typecheckPublished(root, pkgDir) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const args = [tsc, '-p', join(pkgDir, 'tsconfig.json'), '--noEmit', '--composite', 'false'];
  args.push('--declaration', 'false', '--declarationMap', 'false');
  args.push('--customConditions', 'prmem-published-types');
  const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}`.trim() };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(here, '..', '..', '..');
  if (!existsSync(join(root, 'packages', 'core', 'dist', 'index.d.ts'))) {
    console.error('published-types: packages/core/dist is missing; run pnpm build first');
    process.exit(1);
  }
  let failed = 0;
  for (const p of builtOnCore(root)) {
    const r = typecheckPublished(root, p.dir);
    console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${p.manifest.name} against the published types`);
    if (!r.ok) {
      failed++;
      console.log(r.output);
    }
  }
  process.exit(failed === 0 ? 0 : 1);
}
