import { type Backend, isBackend } from './backend.js';
import { PrmemError } from './errors.js';

export const BUILTIN_ARCHES: Readonly<Record<string, string>> = {
  'x86-64': '@prmem/arch-x86',
  arm64: '@prmem/arch-arm64',
  'nommu-alias': '@prmem/arch-nommu-alias',
};

/** The closest of `candidates` to a mistyped `word`, if one is close enough to suggest. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const distance = (a: string, b: string): number => {
    const d = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = d[0];
      d[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = d[j];
        d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
      }
    }
    return d[b.length];
  };
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const dist = distance(word.toLowerCase(), c.toLowerCase());
    if (dist < bestD) {
      best = c;
      bestD = dist;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

export const suggest = (word: string, candidates: readonly string[]) => {
  const m = didYouMean(word, candidates);
  return m ? ` (did you mean "${m}"?)` : '';
};

/** How a package becomes a backend, for error messages. */
export const BACKEND_HOWTO =
  'any other value must name an installed package that exports `backend` (or a default export) implementing @prmem/core\'s Backend contract (name, layout, costs, mechanisms, attach): install it (e.g. npm install prmem-backend-mine) and write "arch": "prmem-backend-mine"';

export class BackendNotFoundError extends PrmemError {
  constructor(
    readonly arch: string,
    readonly pkg: string,
    cause: string,
  ) {
    const builtin = Object.entries(BUILTIN_ARCHES)
      .map(([name, p]) => `${name} (${p})`)
      .join(', ');
    const known = Object.values(BUILTIN_ARCHES).includes(pkg);
    super(
      'ENOBACKEND',
      known
        ? `backend "${arch}" needs the package ${pkg}: install it (npm install ${pkg}). ${cause}`
        : `arch ${JSON.stringify(arch)} is not a known backend${suggest(arch, Object.keys(BUILTIN_ARCHES))}. Built-in backends: ${builtin}; ${BACKEND_HOWTO}. No package ${JSON.stringify(pkg)} was found: ${cause}`,
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
