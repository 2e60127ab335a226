// fixtures/rules-broken: one problem per file; each NAME.rules has NAME.expected.json naming the
// problem, the exact errors ("line:column: message") and how many rules still load.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseRulesFile } from '../../src/rules/parser.js';
import { REPO } from '../helpers/reference.js';
import { compareWithUdev } from './compare.js';

const DIR = join(REPO, 'fixtures', 'rules-broken');
const names = readdirSync(DIR).filter((f) => f.endsWith('.rules')).map((f) => f.slice(0, -'.rules'.length)).sort();

describe('broken rules fixtures', () => {
  it('each has its expectation file and vice versa', () => {
    expect(names.length).toBeGreaterThanOrEqual(15);
    const sidecars = readdirSync(DIR).filter((f) => f.endsWith('.expected.json')).map((f) => f.slice(0, -'.expected.json'.length)).sort();
    expect(sidecars).toEqual(names);
  });

  for (const name of names) {
    it(name, async () => {
      const path = join(DIR, `${name}.rules`);
      const expected = JSON.parse(readFileSync(join(DIR, `${name}.expected.json`), 'utf8')) as { problem: string; errors: string[]; rules: number };
      const r = await parseRulesFile(path);
      expect(r.errors.map(String)).toEqual(expected.errors.map((e) => `${path}:${e}`));
      expect(r.rules).toHaveLength(expected.rules);
      // udev rejects exactly these lines too, and loads the others
      const cmp = compareWithUdev(readFileSync(path, 'utf8'));
      expect(cmp.mismatches).toEqual([]);
    });
  }
});
