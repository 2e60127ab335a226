// The matchers of src/util/fnmatch.ts (strings through RegExps, once or through globMatcher(); bytes in place)
// against glibc's fnmatch(3) (called through koffi), with flags 0, FNM_NOESCAPE and, for strings, FNM_CASEFOLD.
// Left out: a range whose end is a class ("c-[:upper:]"), where glibc's answer depends on the order of the members
// (not reproduced).
import { describe, expect, it } from 'vitest';
import koffi from 'koffi';
import { fnmatch, fnmatchBytes, FNM_CASEFOLD, FNM_NOESCAPE, globMatcher } from '../../src/util/fnmatch.js';
import { prng } from '../helpers/prng.js';

const libc = koffi.load('libc.so.6');
const cFnmatch = libc.func('int fnmatch(const char *pattern, const char *string, int flags)') as (p: string, s: string, f: number) => number;

const enc = new TextEncoder();
const bytesMatch = (p: string, s: string, flags: number) => {
  const pb = enc.encode(p);
  const sb = enc.encode(s);
  return fnmatchBytes(pb, pb.length, sb, 0, sb.length, (flags & FNM_NOESCAPE) !== 0);
};

/** What our matchers say and what glibc says, for every flag combination each supports. */
function disagreements(p: string, s: string): string[] {
  const out: string[] = [];
  for (const flags of [0, FNM_NOESCAPE, FNM_CASEFOLD, FNM_NOESCAPE | FNM_CASEFOLD]) {
    const want = cFnmatch(p, s, flags) === 0;
    if (fnmatch(p, s, flags) !== want) out.push(`string ${JSON.stringify(p)} ~ ${JSON.stringify(s)} flags=${flags} glibc=${want}`);
    if (globMatcher(p, flags)(s) !== want) out.push(`matcher ${JSON.stringify(p)} ~ ${JSON.stringify(s)} flags=${flags} glibc=${want}`);
    if (!(flags & FNM_CASEFOLD) && bytesMatch(p, s, flags) !== want) out.push(`bytes ${JSON.stringify(p)} ~ ${JSON.stringify(s)} flags=${flags} glibc=${want}`);
  }
  return out;
}

describe('fnmatch', () => {
  const cases: [string, string][] = [
    ['usb:v*', 'usb:v1D6Bp0002'],
    ['usb:v1D6Bp0002*', 'usb:v1D6Bp0002'],
    ['a?c', 'abc'],
    ['a?c', 'ac'],
    ['a[!0-9]c', 'abc'],
    ['a[^0-9]c', 'a5c'],
    ['[]]', ']'],
    ['[!]]', 'a'],
    ['[a-]', '-'],
    ['[z-a]', 'z'],
    ['[z-a]', '['],
    ['[[:digit:]x]', '5'],
    ['[[:alpha:]]*', 'x1'],
    ['[[:bogus:]]', 'a'],
    ['[[:bogus:]]', '[[:bogus:]]'],
    ['[[:punct:]]', '~'],
    ['[[:upper:]]', 'q'],
    ['a\\*', 'a*'],
    ['a\\*', 'ab'],
    ['\\', '\\'],
    ['a\\', 'a\\'],
    ['[', '['],
    ['a[b', 'a[b'],
    ['*a*b*c*', 'xaybzc'],
    ['*a*b*c*', 'xaybz'],
    ['evdev:input:b0003v046Dp*', 'evdev:input:b0003v046DpC52Be0111-e0,1'],
    ['SD[A-C]*', 'sdb1'],
    ['*', 'with/slash'],
    ['', ''],
    ['*', ''],
    ['*', '/.x'],
    ['sd*', 'sd'],
    ['sd*', 'sda1'],
    ['sd*', 'Sda'],
    ['sd*', 'hda'],
    ['dm-*', 'dm-0'],
    ['.*', '.hidden/x'],
    ['?', ''],
  ];
  it('agrees with glibc on hand-picked patterns', () => {
    expect(cases.flatMap(([p, s]) => disagreements(p, s))).toEqual([]);
  });

  it('agrees with glibc on 20,000 random pattern/string pairs', () => {
    const rand = prng(42);
    const patAlphabet = ['a', 'B', 'c', '0', '9', '-', ':', '*', '?', '[', ']', '!', '^', '\\', '[:digit:]', '[:alpha:]', '[:upper:]', 'a-c', 'c-a'];
    const strAlphabet = 'aAbBc09-:*?[]!^\\x';
    const mismatches: string[] = [];
    for (let i = 0; i < 20000 && mismatches.length < 10; i++) {
      let p = '';
      const pl = Math.floor(rand() * 8);
      for (let k = 0; k < pl; k++) p += patAlphabet[Math.floor(rand() * patAlphabet.length)];
      let s = '';
      const sl = Math.floor(rand() * 8);
      for (let k = 0; k < sl; k++) s += strAlphabet[Math.floor(rand() * strAlphabet.length)];
      if (!p.includes('-[:')) mismatches.push(...disagreements(p, s));
    }
    expect(mismatches).toEqual([]);
  });
});
