/**
 * Which backends and mechanisms exist: core's registry (`loadBuiltinBackends` over
 * BUILTIN_ARCHES, `backendCombos`) imports every built-in arch package and expands each
 * backend's declared cost profiles (arm64's hypervisor profiles) and mechanisms; a
 * package that does not export a backend yet is skipped with a note. Nothing here lists
 * backends, profiles or mechanisms by hand.
 */
import {
  type Backend,
  BUILTIN_ARCHES,
  backendCombos,
  loadBuiltinBackends,
  resolveBackend,
} from '@prmem/core';

/** The arch packages of this repository, in report order (core's BUILTIN_ARCHES). */
export const ARCH_PACKAGES: readonly string[] = Object.values(BUILTIN_ARCHES);

export interface Variant {
  /** `arch/mechanism` or `arch[profile]/mechanism`. */
  readonly id: string;
  readonly arch: string;
  readonly mechanism: string;
  readonly profile?: string;
  readonly pkg: string;
  readonly backend: Backend;
}

export interface Discovery {
  readonly variants: Variant[];
  readonly skipped: { what: string; reason: string }[];
}

type Module = Record<string, unknown>;

/** Every declared cost profile × mechanism of a backend (its own costs if it declares none). */
export function variantsOf(backend: Backend, pkg: string): Variant[] {
  return backendCombos([backend]).map((c) => ({
    id: c.label,
    arch: c.arch,
    mechanism: c.mechanism,
    profile: c.profile,
    pkg,
    backend: c.backend,
  }));
}

async function importPackage(pkg: string): Promise<Module> {
  return (await import(pkg)) as Module;
}

/** Imports every known arch package; `load` is replaceable for tests. */
export async function discoverVariants(
  load: (pkg: string) => Promise<Module> = importPackage,
  packages: readonly string[] = ARCH_PACKAGES,
): Promise<Discovery> {
  const found = await loadBuiltinBackends(load, packages);
  return {
    variants: found.backends.flatMap((b) => variantsOf(b.backend, b.pkg)),
    skipped: found.skipped.map((s) => ({ ...s })),
  };
}

/**
 * The variants of a config's `arch` (a built-in name, a package, or a backend object):
 * a discovered backend keeps its profiles; anything else is resolved as core does.
 */
export async function variantsForArch(
  arch: string | Backend,
  discovered: readonly Variant[],
  configDir?: string,
): Promise<Variant[]> {
  if (typeof arch === 'string') {
    const known = discovered.filter((v) => v.arch === arch || v.pkg === arch);
    if (known.length > 0) return known;
  }
  const backend = await resolveBackend(arch, configDir);
  return variantsOf(backend, typeof arch === 'string' ? arch : backend.name);
}

/** Keeps the variants whose arch (with or without profile) and mechanism match the filters. */
export function filterVariants(
  variants: readonly Variant[],
  arches: readonly string[] | undefined,
  mechanisms: readonly string[] | undefined,
): Variant[] {
  return variants.filter((v) => {
    const archOk =
      !arches ||
      arches.some(
        (a) => a === v.arch || a === v.pkg || (v.profile && a === `${v.arch}[${v.profile}]`),
      );
    const mechOk = !mechanisms || mechanisms.includes(v.mechanism);
    return archOk && mechOk;
  });
}
