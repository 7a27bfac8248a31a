/**
 * The backend registry: which backends exist (the built-in arch packages of
 * BUILTIN_ARCHES, loaded by the caller so each package resolves from where it is
 * installed) and every backend × cost profile × mechanism combination of them. Tests,
 * the fuzzer, the attack catalogue and the bench all enumerate backends through here.
 */
import { type Backend, isBackend } from './backend.js';
import { BUILTIN_ARCHES, suggest } from './backend-module.js';
import { InvalidArgumentError } from './errors.js';

/** One backend (with a cost profile applied, if it has profiles) and one of its mechanisms. */
export interface BackendCombo {
  /** `arch/mechanism`, or `arch[profile]/mechanism`: the name in test titles and reports. */
  readonly label: string;
  /** The backend's config name. */
  readonly arch: string;
  readonly mechanism: string;
  /** The cost profile, when the backend declares profiles. */
  readonly profile?: string;
  /** The backend to build the machine with (its costs are the profile's). */
  readonly backend: Backend;
}

/** The backend with one of its declared cost profiles: the same model, that cost table. */
export function withProfile(backend: Backend, profile: string): Backend {
  if (!isBackend(backend)) throw new InvalidArgumentError('backend', backend, 'is not a Backend');
  const names = (backend.profiles ?? []).map((p) => p.name);
  const p = backend.profiles?.find((x) => x.name === profile);
  if (!p)
    throw new InvalidArgumentError(
      'profile',
      profile,
      names.length === 0
        ? `${backend.name} declares no cost profiles`
        : `must be one of ${names.join(', ')}${suggest(String(profile), names)}`,
    );
  const { profiles: _profiles, ...rest } = backend;
  return { ...rest, costs: p.costs, description: p.description ?? backend.description };
}

export interface CombosOptions {
  /**
   * Expand declared cost profiles (default true): one combo per profile and mechanism.
   * False: the backend as given (its default costs), one combo per mechanism.
   */
  readonly profiles?: boolean;
}

/** Every backend × cost profile × mechanism, in the order given. */
export function backendCombos(
  backends: readonly Backend[],
  opts: CombosOptions = {},
): BackendCombo[] {
  if (!Array.isArray(backends))
    throw new InvalidArgumentError('backends', backends, 'must be an array of backends');
  const out: BackendCombo[] = [];
  for (const backend of backends) {
    if (!isBackend(backend)) throw new InvalidArgumentError('backend', backend, 'is not a Backend');
    const profiles =
      opts.profiles === false || !backend.profiles?.length
        ? [undefined]
        : backend.profiles.map((p) => p.name);
    for (const profile of profiles) {
      const b = profile === undefined ? backend : withProfile(backend, profile);
      const arch = profile === undefined ? backend.name : `${backend.name}[${profile}]`;
      for (const mechanism of backend.mechanisms)
        out.push({
          label: `${arch}/${mechanism}`,
          arch: backend.name,
          mechanism,
          ...(profile === undefined ? {} : { profile }),
          backend: b,
        });
    }
  }
  return out;
}

/** Imports a package by name from the caller's location: `(pkg) => import(pkg)`. */
export type PackageLoader = (pkg: string) => Promise<unknown>;

export interface LoadedBackend {
  /** The package it came from. */
  readonly pkg: string;
  readonly backend: Backend;
}

export interface BackendDiscovery {
  readonly backends: readonly LoadedBackend[];
  /** Packages that could not be imported or export no backend yet, and why. */
  readonly skipped: readonly { readonly what: string; readonly reason: string }[];
}

/**
 * The built-in backends (BUILTIN_ARCHES, in that order), each imported with `load`. The
 * caller passes `(pkg) => import(pkg)` so the packages resolve from its own location:
 * core itself depends on no arch package.
 */
export async function loadBuiltinBackends(
  load: PackageLoader,
  packages: readonly string[] = Object.values(BUILTIN_ARCHES),
): Promise<BackendDiscovery> {
  if (typeof load !== 'function')
    throw new InvalidArgumentError('load', load, 'must be a function (pkg) => import(pkg)');
  const backends: LoadedBackend[] = [];
  const skipped: { what: string; reason: string }[] = [];
  for (const pkg of packages) {
    let mod: unknown;
    try {
      mod = await load(pkg);
    } catch (e) {
      skipped.push({ what: pkg, reason: `cannot be imported: ${(e as Error).message}` });
      continue;
    }
    const m = (typeof mod === 'object' && mod !== null ? mod : {}) as Record<string, unknown>;
    const backend = [m.backend, m.default].find(isBackend);
    if (backend) backends.push({ pkg, backend });
    else skipped.push({ what: pkg, reason: 'does not export `backend` yet' });
  }
  return { backends, skipped };
}
