// Input generator of the fuzz test: random token soup, structured rules and mutated windows of
// real rules files, all from a seeded PRNG so every run sees the same inputs.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ParseRulesOptions } from '../../src/rules/parser.js';
import { referenceUdev } from '../helpers/reference.js';
import { CONFORMANCE_CASES } from './conformance-data.js';

import { prng } from '../helpers/prng.js';

export { prng };

const ATOMS = [
  'KERNEL', 'SUBSYSTEM', 'ATTR', 'ATTRS', 'ENV', 'SYMLINK', 'TAG', 'RUN', 'GOTO', 'LABEL', 'IMPORT', 'k', 'x_1', 'A9',
  '{', '}', '{a}', '{a b}', '{}', '{program}', '{x}="', '=', '==', '!=', '+=', '-=', ':=', '=>', '=!', '===',
  '"', '"', '"', '""', '"abc"', '"a b"', 'e"', 'i"', 'ei"', 'ie"', 'ee"', 'ii"', 'eie"', 'E"', 'e', 'i',
  '\\', '\\', '\\"', '\\\\', '\\x', '\\x00', '\\x4', '\\x41', '\\xff', '\\xC3\\xBC', '\\u00e9', '\\u0000', '\\uD800',
  '\\U0001F600', '\\U00110000', '\\UDEADBEEF', '\\101', '\\400', '\\000', '\\08', '\\q', '\\s', '\\n', "\\'", '\\a',
  ' ', ' ', '  ', '\t', ',', ',', ', ', ',,', '#', '# c', '\n', '\n', '\n', '\r', '\r\n', '\n\r', '\r\r', '\0', '\n\0',
  '\\\n', '\\\n', '\\\r\n', '\\\n#x\n', '\\\n\n', '\\\n  ', 'ü', '😀', '€', '\u00a0', '\v', '\f',
  '%k', '$env{X}', '*', '?', '[0-9]', '|', 'a', 'Z', '0', '-', '+', '!', ':', ';', "'", '/', '.',
];
const KEYS = ['KERNEL', 'SUBSYSTEM', 'ATTR{size}', 'ATTRS{idVendor}', 'ENV{ID_X}', 'SYMLINK', 'TAG', 'RUN{program}', 'GOTO', 'LABEL', 'TEST{0644}', 'x'];
const OPS = ['==', '!=', '=', '+=', '-=', ':=', ' == ', '\t=\t'];
const VALUES = ['""', '"sda"', '"a\\"b"', '"C:\\\\"', 'e"\\n\\t"', 'e"\\x41\\101"', 'i"AbC"', 'ei"\\x41"', 'ie"z"', '"%k $env{A}"', '"ü😀"', 'e"\\u00fc"', '"a\\', 'e"\\xzz"', '"unterminated'];
const SEPS = [', ', ',', ' ', '', ',,', ' , ', '\t', ', \\\n  '];

export function generate(rand: () => number, corpus: string[]): { text: string; limit?: number } {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rand() * a.length)];
  const kind = rand();
  let text: string;
  if (kind < 0.3) {
    // token soup
    const n = 1 + Math.floor(rand() * 60);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(pick(ATOMS));
    text = parts.join('');
  } else if (kind < 0.6) {
    // structured rules, lightly mutated
    const lines: string[] = [];
    const nl = 1 + Math.floor(rand() * 6);
    for (let l = 0; l < nl; l++) {
      const np = Math.floor(rand() * 5);
      let line = rand() < 0.2 ? pick([' ', '\t', ',', '  ']) : '';
      for (let p = 0; p < np; p++) line += (p ? pick(SEPS) : '') + pick(KEYS) + pick(OPS) + pick(VALUES);
      if (rand() < 0.2) line += pick(SEPS);
      if (rand() < 0.1) line = '# ' + line;
      lines.push(line);
    }
    text = lines.join(pick(['\n', '\n', '\r\n', '\n\n', '\\\n', '\n#x\n']));
    text = mutate(text, rand, Math.floor(rand() * 3));
  } else {
    // a window of real rules text, mutated
    const src = pick(corpus);
    const start = Math.floor(rand() * Math.max(1, src.length - 400));
    text = mutate(src.slice(start, start + 50 + Math.floor(rand() * 800)), rand, 1 + Math.floor(rand() * 5));
  }
  // sometimes a small line limit (just above the longest physical line, so udev would not stop
  // reading), to exercise the "joined line too long" paths on small inputs
  if (rand() < 0.15) {
    const longest = Math.max(0, ...text.split(/[\n\r\0]/).map((l) => Buffer.byteLength(l)));
    return { text, limit: longest + 1 + Math.floor(rand() * 60) };
  }
  return { text };
}

function mutate(s: string, rand: () => number, n: number): string {
  const cps = [...s];
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * (cps.length + 1));
    const op = rand();
    if (op < 0.3) cps.splice(at, 1 + Math.floor(rand() * 4));
    else if (op < 0.65) cps.splice(at, 0, ...ATOMS[Math.floor(rand() * ATOMS.length)]);
    else if (op < 0.8) cps.splice(at, 1, ...ATOMS[Math.floor(rand() * ATOMS.length)]);
    else if (op < 0.9) cps.splice(at, 0, ...cps.slice(at, at + 1 + Math.floor(rand() * 20)));
    else if (at + 1 < cps.length) [cps[at], cps[at + 1]] = [cps[at + 1], cps[at]];
  }
  return cps.join('');
}

export function loadCorpus(): string[] {
  const corpus = CONFORMANCE_CASES.filter((c) => c.rules.length < 5000).map((c) => c.rules);
  const dir = referenceUdev().rulesDir;
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.rules')).sort()) corpus.push(readFileSync(join(dir, f), 'utf8'));
  return corpus;
}

export interface FuzzInput {
  index: number;
  text: string;
  options: ParseRulesOptions;
}

/** The fuzz inputs, in order; the same seed always gives the same inputs. */
export function* fuzzInputs(seed: number, count: number): Generator<FuzzInput> {
  const rand = prng(seed);
  const corpus = loadCorpus();
  for (let index = 0; index < count; index++) {
    const { text, limit } = generate(rand, corpus);
    yield { index, text, options: { maxLineBytes: limit, caseInsensitivePrefix: rand() < 0.85 } };
  }
}
