/**
 * Which backends and mechanisms exist: every known arch package is imported and asked
 * for its `backend`; a package that does not export one yet is skipped with a note.
 * Nothing here lists mechanisms by hand — they come from `backend.mechanisms`.
 */
import { type Backend, isBackend, resolveBackend } from '@prmem/core';

/** The arch packages of this repository, in report order. */
export const ARCH_PACKAGES = [
  '@prmem/arch-x86',
  '@prmem/arch-arm64',
  '@prmem/arch-nommu-alias',
] as const;

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

/**
 * Backend profiles a package offers beyond its default export. arm64 builds one backend
 * per hypervisor design (`createArm64Backend({ hypervisor })`, `HYPERVISOR_PROFILES`);
 * the hypercall cost differs by an order of magnitude, so both are compared.
 */
function profiles(mod: Module, base: Backend): { profile?: string; backend: Backend }[] {
  const names = mod.HYPERVISOR_PROFILES;
  const make = mod.createArm64Backend;
  if (Array.isArray(names) && typeof make === 'function') {
    const out: { profile?: string; backend: Backend }[] = [];
    for (const p of names) {
      const b: unknown = make({ hypervisor: p });
      if (typeof p === 'string' && isBackend(b)) out.push({ profile: p, backend: b });
    }
    if (out.length > 0) return out;
  }
  return [{ backend: base }];
}

export function variantsOf(backend: Backend, pkg: string, profile?: string): Variant[] {
  const arch = profile ? `${backend.name}[${profile}]` : backend.name;
  return backend.mechanisms.map((mechanism) => ({
    id: `${arch}/${mechanism}`,
    arch: backend.name,
    mechanism,
    profile,
    pkg,
    backend,
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
  const variants: Variant[] = [];
  const skipped: { what: string; reason: string }[] = [];
  for (const pkg of packages) {
    let mod: Module;
    try {
      mod = await load(pkg);
    } catch (e) {
      skipped.push({ what: pkg, reason: `cannot be imported: ${(e as Error).message}` });
      continue;
    }
    const backend = [mod.backend, mod.default].find(isBackend);
    if (!backend) {
      skipped.push({ what: pkg, reason: 'does not export `backend` yet' });
      continue;
    }
    for (const p of profiles(mod, backend)) variants.push(...variantsOf(p.backend, pkg, p.profile));
  }
  return { variants, skipped };
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
