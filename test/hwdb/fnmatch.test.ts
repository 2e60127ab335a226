// fnmatch against glibc's fnmatch(3) (called through koffi), flags 0 and FNM_NOESCAPE.
import { describe, expect, it } from 'vitest';
import koffi from 'koffi';
import { fnmatch } from '../../src/hwdb/fnmatch.js';
import { rng } from './helpers.js';

const libc = koffi.load('libc.so.6');
const cFnmatch = libc.func('int fnmatch(const char *pattern, const char *string, int flags)') as (p: string, s: string, f: number) => number;
const FNM_NOESCAPE = 2;

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
    ['[[:digit:]x]', '5'],
    ['[[:alpha:]]*', 'x1'],
    ['[[:bogus:]]', 'a'],
    ['a\\*', 'a*'],
    ['a\\*', 'ab'],
    ['\\', '\\'],
    ['[', '['],
    ['a[b', 'a[b'],
    ['*a*b*c*', 'xaybzc'],
    ['*a*b*c*', 'xaybz'],
    ['evdev:input:b0003v046Dp*', 'evdev:input:b0003v046DpC52Be0111-e0,1'],
    ['', ''],
    ['*', ''],
    ['?', ''],
  ];
  it('agrees with glibc on hand-picked patterns', () => {
    for (const [p, s] of cases) {
      expect(fnmatch(p, s), `${p} ~ ${s}`).toBe(cFnmatch(p, s, 0) === 0);
      expect(fnmatch(p, s, true), `${p} ~ ${s} (noescape)`).toBe(cFnmatch(p, s, FNM_NOESCAPE) === 0);
    }
  });

  it('agrees with glibc on 20,000 random pattern/string pairs', () => {
    const rand = rng(42);
    const patAlphabet = ['a', 'b', 'c', '0', '9', '-', ':', '*', '?', '[', ']', '!', '^', '\\', '[:digit:]', '[:alpha:]', 'a-c'];
    const strAlphabet = 'abc09-:*?[]!^\\x';
    let mismatches: string[] = [];
    for (let i = 0; i < 20000; i++) {
      let p = '';
      const pl = Math.floor(rand() * 8);
      for (let k = 0; k < pl; k++) p += patAlphabet[Math.floor(rand() * patAlphabet.length)];
      let s = '';
      const sl = Math.floor(rand() * 8);
      for (let k = 0; k < sl; k++) s += strAlphabet[Math.floor(rand() * strAlphabet.length)];
      for (const flags of [0, FNM_NOESCAPE]) {
        const want = cFnmatch(p, s, flags) === 0;
        if (fnmatch(p, s, flags === FNM_NOESCAPE) !== want) mismatches.push(`${JSON.stringify(p)} ${JSON.stringify(s)} flags=${flags} glibc=${want}`);
      }
    }
    mismatches = mismatches.slice(0, 10);
    expect(mismatches).toEqual([]);
  });
});
