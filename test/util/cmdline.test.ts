// extract_first_word() over whole values, with the flag sets devMaster uses (systemd's extract-word.c semantics).
import { describe, expect, it } from 'vitest';
import { cmdlineValue, extractWords, splitCommand } from '../../src/util/cmdline.js';

describe('extractWords', () => {
  it('without flags: quotes are plain characters, a backslash keeps the character after it', () => {
    expect(extractWords(`a  'b c' d\\ e`)).toEqual(['a', "'b", "c'", 'd\\ e']);
  });
  it('with unquote: quotes group and are removed, even inside a word', () => {
    expect(extractWords(`x"a b"y 'c d' ""`, { unquote: true })).toEqual(['xa by', 'c d', '']);
  });
  it('with cunescape: C escapes are resolved', () => {
    expect(extractWords(`a\\x41 \\101\\t "q\\"q"`, { unquote: true, cunescape: true })).toEqual(['aA', 'A\t', 'q"q']);
  });
  it('strict: an unterminated quote, a trailing backslash or a bad escape is bad syntax', () => {
    expect(extractWords(`a "b`, { unquote: true })).toBeUndefined();
    expect(extractWords(`a b\\`)).toBeUndefined();
    expect(extractWords(`a\\q`, { cunescape: true })).toBeUndefined();
  });
  it('relaxed (splitCommand): an unterminated quote runs to the end, a trailing backslash stays', () => {
    expect(splitCommand(`prog "a b`)).toEqual(['prog', 'a b']);
    expect(splitCommand(`prog a\\`)).toEqual(['prog', 'a\\']);
    expect(splitCommand(`prog 'a\\'b' c`)).toEqual(['prog', "a\\'b", 'c']);
  });
});

describe('cmdlineValue', () => {
  it('takes the last KEY=VALUE, with - and _ alike in the key; a bare key only when the value is optional', () => {
    const cmdline = 'ro net.naming-scheme=v252 quiet net.naming_scheme=v257 "x=a b" debug';
    expect(cmdlineValue(cmdline, 'net.naming_scheme')).toBe('v257');
    expect(cmdlineValue(cmdline, 'x')).toBe('a b');
    expect(cmdlineValue(cmdline, 'debug')).toBeUndefined();
    expect(cmdlineValue(cmdline, 'debug', { valueOptional: true })).toBeNull();
    expect(cmdlineValue(cmdline, 'absent', { valueOptional: true })).toBeUndefined();
  });
});
