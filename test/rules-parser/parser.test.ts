// Unit tests of the udev rules parser: every syntax feature, error positions and messages.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRules, parseRulesFile, RuleSyntaxError, splitPhysicalLines, UDEV_LINE_SIZE } from '../../src/rules/parser.js';
import type { RuleToken } from '../../src/rules/parser.js';

const F = 'test.rules';

/** tokens of the only rule in text, as [key, attr, op, value] */
function pairs(text: string): [string, string | undefined, string, string][] {
  const r = parseRules(text, F);
  expect(r.errors.map(String)).toEqual([]);
  expect(r.rules).toHaveLength(1);
  return r.rules[0].tokens.map((t) => [t.key, t.attr, t.op, t.value]);
}

function token(text: string): RuleToken {
  const r = parseRules(text, F);
  expect(r.errors.map(String)).toEqual([]);
  return r.rules[0].tokens[0];
}

function errors(text: string, options = {}): string[] {
  return parseRules(text, F, options).errors.map(String);
}

describe('rule lines', () => {
  it('parses key, attribute, operator and value of each pair', () => {
    const r = parseRules('SUBSYSTEMS=="scsi", ATTRS{vendor}=="ATA", SYMLINK+="boot_disk%n"\n', F);
    expect(r.errors).toEqual([]);
    expect(r.rules).toHaveLength(1);
    const rule = r.rules[0];
    expect(rule).toMatchObject({ file: F, line: 1, column: 1, endLine: 1 });
    expect(rule.text).toBe('SUBSYSTEMS=="scsi", ATTRS{vendor}=="ATA", SYMLINK+="boot_disk%n"');
    expect(rule.tokens).toEqual([
      {
        key: 'SUBSYSTEMS', attr: undefined, op: '==', value: 'scsi', valueKind: 'plain', caseInsensitive: false,
        keyLoc: { line: 1, column: 1 }, opLoc: { line: 1, column: 11 }, valueLoc: { line: 1, column: 13 }, text: 'SUBSYSTEMS=="scsi"',
      },
      {
        key: 'ATTRS', attr: 'vendor', op: '==', value: 'ATA', valueKind: 'plain', caseInsensitive: false,
        keyLoc: { line: 1, column: 21 }, attrLoc: { line: 1, column: 27 }, opLoc: { line: 1, column: 34 }, valueLoc: { line: 1, column: 36 },
        text: 'ATTRS{vendor}=="ATA"',
      },
      {
        key: 'SYMLINK', attr: undefined, op: '+=', value: 'boot_disk%n', valueKind: 'plain', caseInsensitive: false,
        keyLoc: { line: 1, column: 43 }, opLoc: { line: 1, column: 50 }, valueLoc: { line: 1, column: 52 }, text: 'SYMLINK+="boot_disk%n"',
      },
    ]);
  });

  it('knows the six operators', () => {
    expect(pairs('A=="1", B!="2", C="3", D+="4", E-="5", F:="6"').map((p) => p[2])).toEqual(['==', '!=', '=', '+=', '-=', ':=']);
  });

  it('allows blanks around the operator and after the attribute, not before the brace', () => {
    expect(pairs('ATTR{size} ==\t"0" ,KERNEL  =  "sda"')).toEqual([
      ['ATTR', 'size', '==', '0'],
      ['KERNEL', undefined, '=', 'sda'],
    ]);
    expect(errors('ATTR {size}=="0"')).toEqual([`${F}:1:6: expected operator (==, !=, =, +=, -=, :=), found "{"`]);
  });

  it('takes any text up to the first } as the attribute, including an empty one', () => {
    expect(pairs('ATTR{test:colon+plus}=="?*", ENV{.HOGE}="x", ATTR{}=="", ATTR{a b=c}=="d"')).toEqual([
      ['ATTR', 'test:colon+plus', '==', '?*'],
      ['ENV', '.HOGE', '=', 'x'],
      ['ATTR', '', '==', ''],
      ['ATTR', 'a b=c', '==', 'd'],
    ]);
    // as in udev, the attribute runs to the first closing brace, wherever it is
    expect(pairs('A{x=="y", B{z}=="w"')).toEqual([['A', 'x=="y", B{z', '==', 'w']]);
  });

  it('needs no separator between pairs and ignores extra commas and blanks', () => {
    expect(pairs('A=="1"B=="2" C=="3",,, D=="4"')).toEqual([
      ['A', undefined, '==', '1'],
      ['B', undefined, '==', '2'],
      ['C', undefined, '==', '3'],
      ['D', undefined, '==', '4'],
    ]);
    expect(pairs(' ,\t, A=="1", ,')).toEqual([['A', undefined, '==', '1']]);
  });

  it('reports the rule at its first character, after leading blanks', () => {
    const r = parseRules('\n\n \t KERNEL=="x"\n', F);
    expect(r.rules[0]).toMatchObject({ line: 3, column: 4, endLine: 3 });
    expect(r.rules[0].tokens[0].valueLoc).toEqual({ line: 3, column: 12 });
  });

  it('produces nothing (and no error) for a line of separators only, as udev ignores it', () => {
    expect(parseRules(',,  ,\n\t,\n', F)).toEqual({ file: F, rules: [], errors: [] });
  });
});

describe('values', () => {
  it('keeps plain values as written except \\"', () => {
    expect(token('PROGRAM=="/bin/echo -e \\101"').value).toBe('/bin/echo -e \\101');
    expect(token('PROGRAM=="/bin/sh -c \\"printf %%s\\""').value).toBe('/bin/sh -c "printf %%s"');
    expect(token('A=="a\\\\b"').value).toBe('a\\\\b');
    expect(token('A=="#not a comment"').value).toBe('#not a comment');
    expect(token('A==""').value).toBe('');
  });

  it('ends a plain value at a quote even after two backslashes, as udev does', () => {
    // "\\" is a backslash followed by \" (an escaped quote): the value is not closed
    expect(errors('A=="C:\\\\"')).toEqual([`${F}:1:10: expected '"' closing the value, found end of line`]);
    expect(token('A=="C:\\\\" "').value).toBe('C:\\" ');
  });

  it('keeps UTF-8 text and counts columns in characters', () => {
    const t = parseRules('PROGRAM=="/bin/echo -e \\xc3\\xbcber" RESULT=="über", SYMLINK+="uber"', F).rules[0].tokens;
    expect(t[1].value).toBe('über');
    expect(t[2].keyLoc).toEqual({ line: 1, column: 53 });
  });

  it('unescapes C escapes in e"..." values', () => {
    expect(token('A=e"\\a\\b\\f\\n\\r\\t\\v\\\\\\"\\\'\\s"').value).toBe('\x07\b\f\n\r\t\v\\"\' ');
    expect(token('A=e"\\x41\\x6a\\101\\141\\u00fc\\U0001F600"').value).toBe('AjAaü😀');
    expect(token('A=e"\\xc3\\xbc"').value).toBe('ü');
    expect(token('A=e"no escapes"')).toMatchObject({ value: 'no escapes', valueKind: 'e', caseInsensitive: false });
    expect(token('A=e""').value).toBe('');
  });

  it('keeps the exact bytes of e"..." values that are not UTF-8', () => {
    const t = token('A=e"a\\xff\\376"');
    expect(t.value).toBe('a\ufffd\ufffd');
    expect(Array.from(t.valueBytes!)).toEqual([0x61, 0xff, 0xfe]);
    expect(token('A=e"\\xc3\\xbc"').valueBytes).toBeUndefined();
  });

  it('refuses what systemd\'s cunescape() refuses', () => {
    const cases: [string, string][] = [
      ['A=e"\\q"', '1:5: invalid escape sequence \\q in e"..." value, expected one of \\a \\b \\f \\n \\r \\t \\v \\\\ \\" \\\' \\s \\xHH \\ooo \\uHHHH \\UHHHHHHHH'],
      ['A=e"ab\\x4"', '1:7: invalid escape \\x: expected two hexadecimal digits'],
      ['A=e"\\x00"', '1:5: invalid escape \\x00: NUL bytes are not allowed'],
      ['A=e"\\000"', '1:5: invalid escape \\000: NUL bytes are not allowed'],
      ['A=e"\\400"', '1:5: invalid escape \\400: octal value above \\377'],
      ['A=e"\\18"', '1:5: invalid escape \\1: expected three octal digits'],
      ['A=e"\\u12"', '1:5: invalid escape \\u: expected 4 hexadecimal digits'],
      ['A=e"\\u0000"', '1:5: invalid escape \\u: NUL characters are not allowed'],
      ['A=e"\\UDEADBEEF"', '1:5: invalid escape \\UDEADBEEF: not a valid Unicode code point'],
      ['A=e"\\U0000D800"', '1:5: invalid escape \\U0000D800: not a valid Unicode code point'],
    ];
    for (const [text, message] of cases) expect(errors(text)).toEqual([`${F}:${message}`]);
  });

  it('lets a backslash in e"..." take the quote with it', () => {
    expect(token('A=e"say \\"hi\\""').value).toBe('say "hi"');
    expect(errors('A=e"abc\\"')).toEqual([`${F}:1:10: expected '"' closing the value, found end of line`]);
  });

  it('knows the i"..." and ei"..." prefixes of systemd 257, and refuses them for 252', () => {
    expect(token('ATTR{address}==i"B0:26:28"')).toMatchObject({ value: 'B0:26:28', valueKind: 'i', caseInsensitive: true });
    expect(token('A==ei"\\x41"')).toMatchObject({ value: 'A', valueKind: 'ei', caseInsensitive: true });
    expect(token('A==ie"\\x41"')).toMatchObject({ value: 'A', valueKind: 'ei', caseInsensitive: true });
    expect(errors('A==i"x"', { caseInsensitivePrefix: false })).toEqual([`${F}:1:4: the i"..." value prefix needs systemd 257 or newer`]);
    expect(errors('A==ei"x"', { caseInsensitivePrefix: false })).toEqual([`${F}:1:4: the i"..." value prefix needs systemd 257 or newer`]);
    const value = 'expected value ("...", e"...", i"..." or ei"...")';
    expect(errors('A==ee"x"')).toEqual([`${F}:1:4: ${value}, found "e"`]);
    expect(errors('A==ii"x"')).toEqual([`${F}:1:4: ${value}, found "i"`]);
    expect(errors('A==E"x"')).toEqual([`${F}:1:4: ${value}, found "E"`]);
    expect(errors('A== e "x"')).toEqual([`${F}:1:5: ${value}, found "e"`]);
  });
});

describe('comments, blank lines and line ends', () => {
  it('skips comment lines, also indented ones', () => {
    const r = parseRules('# comment\n   # indented\n\t#tab\nKERNEL=="a"\n#KERNEL=="b"\n', F);
    expect(r.errors).toEqual([]);
    expect(r.rules.map((x) => [x.line, x.tokens[0].value])).toEqual([[4, 'a']]);
  });

  it('does not treat # after a pair as a comment', () => {
    expect(errors('KERNEL=="a" # trailing comment')).toEqual([`${F}:1:13: expected key (letters, digits and '_') or end of line, found "#"`]);
  });

  it('splits lines at \\n, \\r\\n, \\r, \\n\\r and NUL like read_line()', () => {
    const r = parseRules('A=="1"\r\nB=="2"\rC=="3"\n\rD=="4"\0E=="5"\r\n\0F=="6"\n\nG=="7"', F);
    expect(r.errors).toEqual([]);
    expect(r.rules.map((x) => [x.line, x.tokens[0].key])).toEqual([
      [1, 'A'], [2, 'B'], [3, 'C'], [4, 'D'], [5, 'E'], [6, 'F'], [8, 'G'],
    ]);
    expect(splitPhysicalLines('a\n\n').map((l) => l.text)).toEqual(['a', '']);
    expect(splitPhysicalLines('\r\r').map((l) => l.kind)).toEqual(['blank', 'blank']);
    expect(splitPhysicalLines('')).toEqual([]);
  });

  it('accepts empty and comment-only files', () => {
    expect(parseRules('', F)).toEqual({ file: F, rules: [], errors: [] });
    expect(parseRules('#\n', F)).toEqual({ file: F, rules: [], errors: [] });
  });
});

describe('line continuation', () => {
  it('joins lines ending in a backslash, dropping it and the next line\'s leading blanks', () => {
    const r = parseRules('KERNEL=="ttyACM0", \\\n        SYMLINK+="modem"\n', F);
    expect(r.errors).toEqual([]);
    expect(r.rules[0]).toMatchObject({ line: 1, column: 1, endLine: 2, text: 'KERNEL=="ttyACM0", SYMLINK+="modem"' });
    expect(r.rules[0].tokens[1]).toMatchObject({ keyLoc: { line: 2, column: 9 }, valueLoc: { line: 2, column: 18 } });
  });

  it('joins inside a quoted value too', () => {
    expect(token('A=="abc\\\n   def"').value).toBe('abcdef');
    expect(token('A=="abc \\\n   def"').value).toBe('abc def');
  });

  it('skips comment lines inside a continuation and ends it at an empty or blank line', () => {
    const text = 'KERNEL=="sda",\\\n# comment\nTAG+="hoge1",\\\n  # space before comment\nTAG+="hoge2"\nKERNEL=="sda", TAG+="foo" \\\n   \t\nKERNEL=="sdb"\n';
    const r = parseRules(text, F);
    expect(r.errors).toEqual([]);
    expect(r.rules.map((x) => [x.line, x.endLine, x.text])).toEqual([
      [1, 5, 'KERNEL=="sda",TAG+="hoge1",TAG+="hoge2"'],
      [6, 7, 'KERNEL=="sda", TAG+="foo" '],
      [8, 8, 'KERNEL=="sdb"'],
    ]);
  });

  it('treats lines of backslashes as udev does', () => {
    // (conformance case 21) "\" alone continues into the empty line after it: nothing
    expect(parseRules('\n#\n\\\n\n\\\n\n#\\\n\nKERNEL=="ttyACM0", \\\n        SYMLINK+="modem"\n', F).rules.map((r) => [r.line, r.endLine])).toEqual([[9, 10]]);
    // a first line "\" contributes nothing: the rule starts on the next line
    expect(parseRules('\\\nKERNEL=="a"', F).rules[0]).toMatchObject({ line: 2, column: 1, endLine: 2 });
    // udev checks the joined text for a final backslash again, so a line ending in two
    // backslashes continues through the following empty line
    const r = parseRules('A=="x" \\\\\n\nB=="y"\n', F);
    expect(r.errors).toEqual([]);
    expect(r.rules[0]).toMatchObject({ line: 1, endLine: 3, text: 'A=="x" B=="y"' });
  });

  it('only continues on a backslash that ends the line', () => {
    expect(errors('KERNEL=="a", \\ \nSYMLINK+="b"')).toEqual([`${F}:1:14: expected key (letters, digits and '_') or end of line, found "\\\\"`]);
  });

  it('reports an error at the backslash when the file ends in a continuation', () => {
    const r = parseRules('KERNEL=="a"\nKERNEL=="b", \\\n  SYMLINK+="c" \\\n# comment\n', F);
    expect(r.rules.map((x) => x.line)).toEqual([1]);
    expect(r.errors.map(String)).toEqual([`${F}:3:16: unexpected end of file after a line continuation (backslash), line ignored`]);
    expect(r.errors[0].kind).toBe('eof-in-continuation');
  });

  it('reports syntax errors at their physical position', () => {
    expect(errors('KERNEL=="a", \\\n  # c\n  SYMLINK+="b", \\\n    MODE:"0600"\n')).toEqual([
      `${F}:4:9: expected "{" or operator (==, !=, =, +=, -=, :=), found ":"`,
    ]);
  });
});

describe('line length limits', () => {
  it('ignores a joined line reaching 16384 bytes, like udev', () => {
    const head = `RUN+="/bin/true"${' '.repeat(8176)}\\\n #\n`;
    const r = parseRules(`${head}${head}\nKERNEL=="ok"\n`, F);
    expect(r.errors.map(String)).toEqual([`${F}:1:1: line is too long (lines 1-5 joined reach udev's limit of 16384 bytes), ignored`]);
    expect(r.errors[0].kind).toBe('line-too-long');
    expect(r.rules.map((x) => x.tokens[0].value)).toEqual(['ok']);
    // one byte less fits
    const fits = `RUN+="/bin/true"${' '.repeat(8175)}\\\n #\n`;
    expect(parseRules(`${fits}${fits}\n`, F).errors).toEqual([]);
  });

  it('counts bytes, not characters', () => {
    const value = 'ü'.repeat(8000); // 8000 characters, 16000 bytes
    expect(parseRules(`A="${value}${'x'.repeat(379)}"`, F).errors).toEqual([]); // 16383 bytes
    expect(errors(`A="${value}${'x'.repeat(380)}"`)).toEqual([
      `${F}:1:1: line is too long (16384 bytes; udev reads at most 16383 bytes per line), ignored`,
    ]);
  });

  it('skips a physical line over the limit (udev would stop reading the file there) and its joined line', () => {
    const r = parseRules(`A=="x", \\\nB="${'x'.repeat(20_000)}" \\\n  C=="z"\nD=="y"\n# ${'c'.repeat(20_000)}\nE=="w"`, F);
    expect(r.errors.map(String)).toEqual([
      `${F}:2:1: line is too long (20006 bytes; udev reads at most 16383 bytes per line), ignored`,
      `${F}:5:1: line is too long (20002 bytes; udev reads at most 16383 bytes per line), ignored`,
    ]);
    expect(r.rules.map((x) => x.tokens[0].key)).toEqual(['D', 'E']);
  });

  it('accepts longer lines on request', () => {
    const long = `A="${'x'.repeat(100_000)}"`;
    expect(errors(long)).toHaveLength(1);
    const r = parseRules(`${long}\nB=="y"`, F, { maxLineBytes: Infinity });
    expect(r.errors).toEqual([]);
    expect(r.rules[0].tokens[0].value).toHaveLength(100_000);
    expect(UDEV_LINE_SIZE).toBe(16384);
  });
});

describe('errors', () => {
  it('formats as file:line:col: message', () => {
    const e = new RuleSyntaxError('/etc/udev/rules.d/x.rules', 3, 7, 'expected key');
    expect(e.toString()).toBe('/etc/udev/rules.d/x.rules:3:7: expected key');
    expect(`${e}`).toBe('/etc/udev/rules.d/x.rules:3:7: expected key');
  });

  it('skips only the bad line and reports every bad line in order', () => {
    const r = parseRules('KERNEL=="a"\nKERNEL=="b\nKERNEL=="c"\nKERNEL~="d"\n=="e"\nKERNEL=="f"\n', F);
    expect(r.rules.map((x) => x.tokens[0].value)).toEqual(['a', 'c', 'f']);
    expect(r.errors.map(String)).toEqual([
      `${F}:2:11: expected '"' closing the value, found end of line`,
      `${F}:4:7: expected "{" or operator (==, !=, =, +=, -=, :=), found "~"`,
      `${F}:5:1: expected key (letters, digits and '_') or end of line, found "="`,
    ]);
  });

  it('names what is missing', () => {
    expect(errors('KERNEL')).toEqual([`${F}:1:7: expected "{" or operator (==, !=, =, +=, -=, :=), found end of line`]);
    expect(errors('KERNEL==')).toEqual([`${F}:1:9: expected value ("...", e"...", i"..." or ei"..."), found end of line`]);
    expect(errors('ATTR{x')).toEqual([`${F}:1:7: expected '}' closing the attribute, found end of line`]);
    expect(errors('SYMLINK+=="no"')).toEqual([`${F}:1:10: expected value ("...", e"...", i"..." or ei"..."), found "="`]);
    expect(errors('KERNEL=="a" SYMLINK')).toEqual([`${F}:1:20: expected "{" or operator (==, !=, =, +=, -=, :=), found end of line`]);
    expect(errors('\\nTAGS=="x"')).toEqual([`${F}:1:1: expected key (letters, digits and '_') or end of line, found "\\\\"`]);
  });
});

describe('parseRulesFile', () => {
  it('reads and parses a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rules-parser-'));
    try {
      const path = join(dir, '10-x.rules');
      writeFileSync(path, 'KERNEL=="sda", SYMLINK+="ü"\nbad\n');
      const r = await parseRulesFile(path);
      expect(r.file).toBe(path);
      expect(r.rules[0].tokens[1].value).toBe('ü');
      expect(r.errors.map(String)).toEqual([`${path}:2:4: expected "{" or operator (==, !=, =, +=, -=, :=), found end of line`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
