// The shipped parser against peggy's own output for the same grammar. The build drops the per-character
// collecting of the rules grammar/udev-rules.peggy marks `@text-only` (scripts/build-grammar.mjs); every mode must
// give the same values and the same errors as the parser peggy generates, on real rules files and on the fuzz
// test's random and mutated texts.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import peggy from 'peggy';
import { parse as shipped } from '../../src/generated/udev-rules.js';
import { splitPhysicalLines } from '../../src/rules/parser.js';
import { REPO, referenceUdev, referenceUdev257 } from '../helpers/reference.js';
import { fuzzInputs } from './fuzz-gen.js';

const GRAMMAR = readFileSync(join(REPO, 'grammar', 'udev-rules.peggy'), 'utf8');
const SOURCE = readFileSync(join(REPO, 'src', 'generated', 'udev-rules.js'), 'utf8');
const peggys = peggy.generate(GRAMMAR, { output: 'parser' });

type Mode = 'file' | 'lines' | 'line';
/** A parse's value, or its error as what a caller reads of it. */
function outcome(parse: (input: string, options: object) => unknown, input: string, mode: Mode): unknown {
  try {
    return { value: parse(input, { mode }) };
  } catch (e) {
    const err = e as { message: string; location: unknown; expected: unknown; found: unknown };
    return { error: err.message, location: err.location, expected: err.expected, found: err.found };
  }
}

/** Every mode over a rules text: the whole text, its content lines at once, and each alone. */
function same(text: string): void {
  const content = splitPhysicalLines(text).filter((l) => l.kind === 'content').map((l) => l.text.slice(l.indent));
  const inputs: [string, Mode][] = [[text, 'file'], [content.join('\n'), 'lines'], ...content.map((l): [string, Mode] => [l, 'line'])];
  for (const [input, mode] of inputs) expect(outcome(shipped, input, mode), `${mode}: ${JSON.stringify(input)}`).toEqual(outcome(peggys.parse, input, mode));
}

function rulesTexts(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.rules')).sort().map((f) => readFileSync(join(dir, f), 'utf8'));
}

describe('the rules parser, with its @text-only rules collecting nothing', () => {
  const marked = [...GRAMMAR.matchAll(/^\/\/ @text-only\n(\w+)/gm)].map((m) => m[1]!);

  it('collects no character in the marked rules (peggy\'s own parser does)', () => {
    expect(marked).toEqual(['Separators', 'Blanks', 'Key', 'AttributeName', 'EscapedContent', 'PlainContent']);
    const peggySource = peggy.generate(GRAMMAR, { output: 'source', format: 'es' });
    const fn = (src: string, rule: string) => {
      const start = src.indexOf(`function peg$parse${rule}() {`);
      return src.slice(start, src.indexOf('\n  }\n', start));
    };
    for (const rule of marked) {
      expect(fn(peggySource, rule), rule).toMatch(/\.push\(/);
      expect(fn(SOURCE, rule), rule).not.toMatch(/\.push\(/);
    }
  });

  it('gives what peggy\'s parser gives on the rules of udev 252, udev 257 and this tree', () => {
    const texts = [...rulesTexts(referenceUdev().rulesDir), ...rulesTexts(referenceUdev257().rulesDir), ...rulesTexts(join(REPO, 'rules.d'))];
    expect(texts.length).toBeGreaterThan(60);
    for (const t of texts) same(t);
  });

  it('gives what peggy\'s parser gives on 5000 random and mutated texts, errors included', () => {
    let errors = 0;
    for (const input of fuzzInputs(0x7e47, 5000)) {
      same(input.text);
      if ((outcome(shipped, input.text.split('\n')[0]!, 'line') as { error?: string }).error) errors++;
    }
    expect(errors).toBeGreaterThan(500); // the texts reach the error paths too
  });
});
