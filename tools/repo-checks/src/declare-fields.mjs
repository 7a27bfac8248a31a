#!/usr/bin/env node
// `declare` class fields only in the hot classes docs/decisions.md §9 lists, and every
// `declare`d field assigned by its constructor. A `declare`d field emits no class-field
// definition (so V8 sees the constructor's store first and types the field exactly), but
// it also switches off TypeScript's definite-assignment check: this check puts it back.
//
// Usage: node tools/repo-checks/src/declare-fields.mjs [root]   (default: the repository)
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { listPackages } from './layering.mjs';
import { sourceFiles } from './source-files.mjs';

/**
 * `package-relative file#Class` -> why its fields are `declare`d (docs/decisions.md §9).
 * Anything else with a `declare` field fails the check.
 * @type {Readonly<Record<string, string>>}
 */
export const HOT_CLASSES = {
  'packages/core/src/cpu.ts#Cpu': 'the TLB-hit path: TLB arrays and memory views',
  'packages/core/src/tlb.ts#Tlb': 'the TLB arrays every access and fill reads',
  'packages/core/src/phys.ts#PhysMem': "physical memory's arrays",
  'packages/core/src/stats.ts#Counters': 'the event counters every charge writes',
  'packages/core/src/machine.ts#Machine':
    'arch, phys, layout, counters, rooms: read by every wrAssign',
  'packages/core/src/mm.ts#Mm': 'asid and rootPa: read by every mm switch of a window',
  'packages/arch-x86/src/pagetable.ts#X86PageTable': "the walk's view of the tables",
  'packages/arch-x86/src/arch.ts#X86Arch': 'the walk and the alias window read m and pt',
  'packages/core/src/aliaswindow.ts#AliasWindow':
    'one per alias-mm wrAssign (x86 alias-mm, per-pool, arm64 alias-mm)',
  'packages/arch-arm64/src/mech/hyp-assist.ts#HypAssistSession':
    'one per arm64 hyp-assist wrAssign',
  'packages/arch-nommu-alias/src/mech/remap.ts#RemapWindow': 'one per nommu-alias wrAssign',
  'packages/core/src/wrapply.ts#OpWriter': "one per window: the ops' writer",
  'packages/core/src/window.ts#BracketWindow': 'one per bracket window (cr0-wp, pks, ...)',
  'packages/core/src/window.ts#ProgramSequence': 'one per batched window sequence',
  'packages/core/src/smp.ts#IpiRound': 'two per nommu direct-remap wrAssign (its shootdowns)',
};

const isDeclare = (m) => m.modifiers?.some((x) => x.kind === ts.SyntaxKind.DeclareKeyword);

/** Field names a constructor assigns unconditionally (`this.f = ...` at its top level). */
function assignedInConstructor(cls) {
  const ctor = cls.members.find((m) => ts.isConstructorDeclaration(m) && m.body);
  const names = new Set();
  if (!ctor) return names;
  const visit = (e) => {
    if (!ts.isBinaryExpression(e) || e.operatorToken.kind !== ts.SyntaxKind.EqualsToken) return;
    const l = e.left;
    if (ts.isPropertyAccessExpression(l) && l.expression.kind === ts.SyntaxKind.ThisKeyword)
      names.add(l.name.text);
    visit(e.right); // this.a = this.b = x
  };
  for (const st of ctor.body.statements) if (ts.isExpressionStatement(st)) visit(st.expression);
  return names;
}

/**
 * The `declare` policy's findings for one file (`rel` is its repository-relative path):
 * a `declare` field outside `hot`, and a `declare` field its constructor does not assign.
 */
export function declareFindings(rel, text, hot = HOT_CLASSES) {
  const sf = ts.createSourceFile(rel, text, ts.ScriptTarget.Latest, true);
  const out = [];
  const visit = (node) => {
    if (ts.isClassLike(node)) {
      const name = node.name?.text ?? '(anonymous)';
      const fields = node.members.filter((m) => ts.isPropertyDeclaration(m) && isDeclare(m));
      if (fields.length > 0) {
        const line = (n) => sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
        const where = `${rel}#${name}`;
        if (!(where in hot))
          out.push(
            `${rel}:${line(fields[0])} ${name} has \`declare\` fields (${fields.map((f) => f.name.getText(sf)).join(', ')}) but is not a hot class of docs/decisions.md §9 (HOT_CLASSES in tools/repo-checks/src/declare-fields.mjs)`,
          );
        const assigned = assignedInConstructor(node);
        for (const f of fields) {
          const n = f.name.getText(sf);
          if (!assigned.has(n))
            out.push(
              `${rel}:${line(f)} ${name}.${n} is \`declare\`d but its constructor does not assign it (\`this.${n} = ...\` at its top level)`,
            );
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** Findings in every workspace package's src/. */
export function checkDeclareFields(root, hot = HOT_CLASSES) {
  const out = [];
  for (const pkg of listPackages(root))
    for (const f of sourceFiles(join(pkg.dir, 'src')))
      out.push(
        ...declareFindings(relative(root, f).split(sep).join('/'), readFileSync(f, 'utf8'), hot),
      );
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(
    process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '../../..'),
  );
  if (!existsSync(join(root, 'packages'))) throw new Error(`no packages/ under ${root}`);
  const found = checkDeclareFields(root);
  for (const f of found) console.error(f);
  console.log(`declare fields: ${found.length === 0 ? 'ok' : `${found.length} findings`}`);
  process.exit(found.length === 0 ? 0 : 1);
}
