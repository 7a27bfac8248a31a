/**
 * The backends a repository test runs on: the toy, then every built-in arch package
 * (core's registry, BUILTIN_ARCHES), each imported by the caller's `load` so it resolves
 * from the test's own package.
 */
import { type Backend, loadBuiltinBackends, type PackageLoader } from '../index.js';
import { toyBackend } from './toy.js';

/**
 * `[toy, ...built-in backends]`. Unlike `loadBuiltinBackends`, a built-in package that
 * cannot be imported or exports no backend is an error here: a test must not lose a
 * backend silently.
 */
export async function repositoryBackends(load: PackageLoader): Promise<Backend[]> {
  const found = await loadBuiltinBackends(load);
  if (found.skipped.length > 0)
    throw new Error(
      `backends missing: ${found.skipped.map((s) => `${s.what} ${s.reason}`).join('; ')}`,
    );
  return [toyBackend(), ...found.backends.map((b) => b.backend)];
}
