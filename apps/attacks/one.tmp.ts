import { attackById, defaultCombos } from './src/catalogue/index.js';
const id = process.argv[2];
const a = attackById(id)!;
for (const c of defaultCombos()) {
  process.stdout.write(`${c.id} ... `);
  const r = await a.run(c);
  console.log(
    r.outcome,
    r.expected,
    r.match ? '' : 'MISMATCH',
    r.detail.slice(0, 300),
    r.error ?? '',
  );
}
