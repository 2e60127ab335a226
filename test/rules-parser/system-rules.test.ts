// Real rules files parse without a single error and exactly as udev parses them: Debian's udev
// package (the reference) and the rules installed on this machine.
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseRules } from '../../src/rules/parser.js';
import { referenceUdev } from '../helpers/reference.js';
import { compareWithUdev } from './compare.js';

function rulesFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.rules')).sort().map((f) => join(dir, f));
}

function check(files: string[]): { rules: number; tokens: number } {
  let rules = 0;
  let tokens = 0;
  for (const path of files) {
    const text = readFileSync(path, 'utf8');
    const r = parseRules(text, path);
    expect(r.errors.map(String), path).toEqual([]);
    const cmp = compareWithUdev(text);
    expect(cmp.mismatches, path).toEqual([]);
    expect(cmp.rejectedLines, path).toBe(0);
    rules += r.rules.length;
    tokens += r.rules.reduce((n, x) => n + x.tokens.length, 0);
  }
  return { rules, tokens };
}

describe('system rules files', () => {
  it("parse Debian's udev rules without errors", () => {
    const ref = referenceUdev();
    const files = rulesFiles(ref.rulesDir);
    expect(files.length).toBeGreaterThanOrEqual(30); // 32 in Debian's 252
    const { rules, tokens } = check(files);
    expect(rules).toBeGreaterThan(300);
    expect(tokens).toBeGreaterThan(rules);
  });

  it('parse /usr/lib/udev/rules.d without errors', () => {
    const dir = '/usr/lib/udev/rules.d';
    expect(existsSync(dir)).toBe(true);
    const files = rulesFiles(dir);
    expect(files.length).toBeGreaterThan(0);
    check(files);
  });
});
