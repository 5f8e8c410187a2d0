// Counts `unknown` and `any` in generated type declarations (string literals such as the
// 'unknown' readiness state are not types). Every response and error of the API has a schema,
// so the count must be zero: a new `unknown` means a route lost its typing. Usage:
//   node scripts/count-untyped.mjs src/client/types.gen.ts
import { readFileSync } from 'node:fs';
import ts from 'typescript';

const file = process.argv[2];
if (!file) {
  console.error('usage: count-untyped.mjs <types.gen.ts>');
  process.exit(2);
}
const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
const found = [];

function enclosingDeclaration(node) {
  for (let at = node; at; at = at.parent) {
    if (ts.isTypeAliasDeclaration(at) || ts.isInterfaceDeclaration(at)) return at.name.text;
  }
  return '<top level>';
}

function visit(node) {
  if (node.kind === ts.SyntaxKind.UnknownKeyword || node.kind === ts.SyntaxKind.AnyKeyword) {
    const { line } = source.getLineAndCharacterOfPosition(node.getStart());
    found.push(`${file}:${line + 1}: ${node.getText()} in ${enclosingDeclaration(node)}`);
  }
  ts.forEachChild(node, visit);
}
visit(source);

console.log(`unknown/any in ${file}: ${found.length}`);
for (const line of found) console.log(`  ${line}`);
process.exit(found.length === 0 ? 0 : 1);
