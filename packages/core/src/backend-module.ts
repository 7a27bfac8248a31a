import { type Backend, isBackend } from './backend.js';
import { PrmemError } from './errors.js';

export class BackendNotFoundError extends PrmemError {
  constructor(
    readonly arch: string,
    readonly pkg: string,
    cause: string,
  ) {
    super(
      'ENOBACKEND',
      `backend "${arch}" needs the package ${pkg}: install it (npm install ${pkg}). ${cause}`,
      { arch, pkg },
    );
  }
}

/** The backend a package's module exports (`backend`, or a default). Not a public export. */
export function pickBackend(mod: unknown, arch: string, pkg: string): Backend {
  const m = (typeof mod === 'object' && mod !== null ? mod : {}) as Record<string, unknown>;
  for (const cand of [
    m.backend,
    m.default,
    (m.default as Record<string, unknown> | undefined)?.backend,
  ]) {
    if (isBackend(cand)) return cand;
  }
  throw new BackendNotFoundError(
    arch,
    pkg,
    'The package exports no backend (export `backend` or a default).',
  );
}
