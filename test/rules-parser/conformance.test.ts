// Every rules text of the udev-test conformance data parses as udev parses it: the lines with
// errors are exactly the lines udev rejects (checked against the udev oracle), and nothing else.
import { describe, expect, it } from 'vitest';
import { parseRules } from '../../src/rules/parser.js';
import { compareWithUdev } from './compare.js';
import { CONFORMANCE_CASES } from './conformance-data.js';

/**
 * The only conformance rules with errors, as "line:column kind".
 * 145: `SYMLINK+=="no"` is += followed by a value starting with '=': udev says "Invalid key/value pair".
 * 158: 10,000 continued TAG+= lines joined reach udev's 16 KiB line limit: "Line is too long".
 * 159: the rules text runs on into the Perl source of the next test (see the data's notes); those
 *      lines (an indented EOF, braces, `desc => "..."`, ...) are no udev syntax.
 */
const EXPECTED_ERRORS: Record<number, string[]> = {
  145: ['3:26 syntax'],
  158: ['1:1 line-too-long'],
  159: ['9:24', '10:9', '11:9', '12:34', '13:26', '14:25', '15:50', '16:50', '17:50', '18:25', '19:34'].map((p) => `${p} syntax`),
};

describe('conformance rules (udev-test cases.json)', () => {
  it('has the 164 cases', () => {
    expect(CONFORMANCE_CASES).toHaveLength(164);
  });

  it('parses every case with errors only on the lines udev rejects', () => {
    const seen: Record<number, string[]> = {};
    for (const c of CONFORMANCE_CASES) {
      const r = parseRules(c.rules, `case${c.index}.rules`);
      if (r.errors.length) seen[c.index] = r.errors.map((e) => `${e.line}:${e.column} ${e.kind}`);
      const cmp = compareWithUdev(c.rules);
      expect(cmp.aborted, `case ${c.index}`).toBe(false);
      expect(cmp.mismatches, `case ${c.index}`).toEqual([]);
      // every case but 1 (a lone comment) has rules
      if (c.index !== 1) expect(r.rules.length, `case ${c.index}`).toBeGreaterThan(0);
    }
    expect(seen).toEqual(EXPECTED_ERRORS);
  });

  const byIndex = (i: number) => CONFORMANCE_CASES.find((c) => c.index === i)!;

  it('case 145: only the bad line is dropped', () => {
    const r = parseRules(byIndex(145).rules, 'case145.rules');
    expect(r.errors.map(String)).toEqual(['case145.rules:3:26: expected value ("...", e"...", i"..." or ei"..."), found "="']);
    expect(r.rules.map((x) => x.text)).toEqual(['KERNEL=="sda1", SYMLINK+="yes"']);
  });

  it('case 157: 10,001 rules from a 300 KB file', () => {
    const r = parseRules(byIndex(157).rules, 'case157.rules');
    expect(r.errors).toEqual([]);
    expect(r.rules).toHaveLength(10_001);
    expect(r.rules[9999].tokens[1]).toMatchObject({ key: 'TAG', op: '+=', value: 'test10000', keyLoc: { line: 10000, column: 16 } });
    expect(r.rules[10_000].tokens.map((t) => t.value)).toEqual(['test1', 'test500', 'test1234', 'test9999', 'test10000', 'found']);
  });

  it('case 158: the huge joined line is ignored, comments inside a continuation are skipped', () => {
    const r = parseRules(byIndex(158).rules, 'case158.rules');
    expect(r.rules.map((x) => [x.line, x.endLine, x.text])).toEqual([
      [10002, 10011, 'KERNEL=="sda",TAG+="hoge1",TAG+="hoge2",TAG+="hoge3",   TAG+="hoge4"'],
      [10012, 10012, 'TAGS=="hoge1", TAGS=="hoge2", TAGS=="hoge3", TAGS=="hoge4", SYMLINK+="found"'],
    ]);
    // without the length limit, the glued `\nTAGS` (a backslash and an n) is no key
    const unlimited = parseRules(byIndex(158).rules, 'case158.rules', { maxLineBytes: Infinity });
    expect(unlimited.errors.map(String)).toEqual([
      `case158.rules:10001:17: expected key (letters, digits and '_') or end of line, found "\\\\"`,
    ]);
    expect(unlimited.rules).toHaveLength(2);
  });

  it('case 159: an empty line and a blank line end a continuation', () => {
    const r = parseRules(byIndex(159).rules, 'case159.rules');
    expect(r.rules.map((x) => [x.line, x.endLine, x.text])).toEqual([
      [2, 3, 'KERNEL=="sda", TAG+="foo" '],
      [4, 4, 'KERNEL=="sdb", TAG+="hoge"'],
      [5, 6, 'KERNEL=="sda", TAG+="aaa" KERNEL=="sdb", TAG+="bbb"'],
      [7, 7, 'TAGS=="foo", SYMLINK+="found"'],
      [8, 8, 'TAGS=="aaa", SYMLINK+="bad"'],
      [21, 22, 'KERNEL=="sda", TAG+="foo" '],
      [23, 23, 'KERNEL=="sdb", TAG+="hoge"'],
      [24, 25, 'KERNEL=="sda", TAG+="aaa" KERNEL=="sdb", TAG+="bbb"'],
      [26, 26, 'TAGS=="foo", SYMLINK+="found"'],
      [27, 27, 'TAGS=="aaa", SYMLINK+="bad"'],
    ]);
  });

  it('cases 20, 33-35 and 117: backslashes, escaped quotes and UTF-8 in plain values', () => {
    expect(parseRules(byIndex(20).rules, 'x').rules[0].tokens[1].value).toBe('/bin/echo -e \\101');
    expect(parseRules(byIndex(34).rules, 'x').rules[0].tokens[1].value).toBe(`/bin/sh -c "printf %%s 'foo1 foo2' | grep 'foo1 foo2'"`);
    expect(parseRules(byIndex(35).rules, 'x').rules[0].tokens[1].value).toBe(`/bin/sh -c 'printf "%%s %%s" "foo1 foo2" "foo3"| grep "foo1 foo2"'`);
    const t117 = parseRules(byIndex(117).rules, 'x').rules[0].tokens;
    expect(t117.map((t) => [t.key, t.value])).toEqual([
      ['SUBSYSTEMS', 'scsi'],
      ['KERNEL', 'sda1'],
      ['PROGRAM', '/bin/echo -e \\xc3\\xbcber'],
      ['RESULT', 'über'],
      ['SYMLINK', 'uber'],
    ]);
  });

  it('cases 21 and 141: stray backslash lines and a trailing comma', () => {
    expect(parseRules(byIndex(21).rules, 'x').rules.map((r) => [r.line, r.endLine, r.tokens.length])).toEqual([[9, 10, 2]]);
    expect(parseRules(byIndex(141).rules, 'x').rules.map((r) => r.tokens.length)).toEqual([2, 2, 1]);
  });
});
