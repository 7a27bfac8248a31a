import { type AttackResult, CATALOGUE } from '@prmem/attacks/catalogue';
import { BACKENDS } from './scenario.js';
import { ExplorerError } from './world.js';

export interface CatalogueEntry {
  readonly id: string;
  readonly title: string;
  readonly category: string;
  readonly description: string;
}

export const ATTACKS: readonly CatalogueEntry[] = CATALOGUE.map((a) => ({
  id: a.id,
  title: a.title,
  category: a.category,
  description: a.description,
}));

/** Runs one attack of the catalogue on a fresh machine of the mechanism. */
export async function runCatalogueAttack(
  id: string,
  arch: string,
  mechanism: string,
  seed: number,
): Promise<AttackResult> {
  const attack = CATALOGUE.find((a) => a.id === id);
  if (!attack) throw new ExplorerError('EATTACK', `no attack ${id} in the catalogue`, id);
  const backend = BACKENDS[arch];
  if (!backend?.mechanisms.includes(mechanism))
    throw new ExplorerError('ECOMBO', `no mechanism ${arch}/${mechanism}`, `${arch}/${mechanism}`);
  return attack.run({ id: `${arch}/${mechanism}`, backend, mechanism }, seed);
}
