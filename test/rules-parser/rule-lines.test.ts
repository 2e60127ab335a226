// parseRuleLines(), the parse a daemon loads rules with, gives the compiler what parseRules()'s syntax tree holds
// for it (each key, attribute, operator, value and i"..." prefix, where each key and line start) and the same
// errors, on real rules files and on the fuzz generator's random and mutated texts.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseRuleLines, parseRules } from '../../src/rules/parser.js';
import { REPO, referenceUdev, referenceUdev257 } from '../helpers/reference.js';
import { fuzzInputs } from './fuzz-gen.js';

/** The compiler's input as it was made from the syntax tree. */
function fromTree(text: string, file: string) {
  const ast = parseRules(text, file);
  return {
    lines: ast.rules.map((r) => ({
      line: r.line,
      column: r.column,
      tokens: r.tokens.map((t) => ({ key: t.key, attr: t.attr, op: t.op, value: t.value, caseInsensitive: t.caseInsensitive, line: t.keyLoc.line, column: t.keyLoc.column })),
    })),
    errors: ast.errors.map(String),
  };
}

function same(text: string, file: string): void {
  const r = parseRuleLines(text, file);
  expect({ lines: r.lines, errors: r.errors.map(String) }, file).toStrictEqual(fromTree(text, file));
}

describe('parseRuleLines', () => {
  it('gives what the syntax tree holds for the compiler on the rules of udev 252, udev 257 and this tree', () => {
    const dirs = [referenceUdev().rulesDir, referenceUdev257().rulesDir, join(REPO, 'rules.d')];
    let n = 0;
    for (const dir of dirs) {
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.rules'))) {
        same(readFileSync(join(dir, f), 'utf8'), join(dir, f));
        n++;
      }
    }
    expect(n).toBeGreaterThan(60);
  });

  it('gives the same lines and errors on 5000 random and mutated texts', () => {
    let errors = 0;
    for (const input of fuzzInputs(0x11e5, 5000)) {
      same(input.text, 'fuzz.rules');
      errors += parseRuleLines(input.text, 'fuzz.rules').errors.length;
    }
    expect(errors).toBeGreaterThan(500);
  });
});
