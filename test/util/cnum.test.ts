// Numbers as udev reads them (src/util/cnum.ts): strtol() against glibc's (called through koffi), and systemd's
// safe_atou_full()/safe_atou()/safe_atoi() on the cases their C code decides (bases, prefixes, signs, ranges).
import { describe, expect, it } from 'vitest';
import koffi from 'koffi';
import { numberOrUndefined, safeAtoi, safeAtou, strtol } from '../../src/util/cnum.js';

const libc = koffi.load('libc.so.6');
const cStrtol = libc.func('long strtol(void *s, _Out_ void **end, int base)') as (s: Buffer, end: [unknown], base: number) => number | bigint;

/** glibc's strtol: the value and how many characters it read (0 when it read nothing). */
function glibcStrtol(s: string, base: number): { value: bigint; end: number } {
  const buf = Buffer.from(s + '\0', 'latin1');
  const end: [unknown] = [null];
  const value = BigInt(cStrtol(buf, end, base));
  return { value, end: Number(koffi.address(end[0]) - koffi.address(buf)) };
}

describe('C numbers', () => {
  it('strtol() reads as glibc does: white space, sign, base prefixes, where it stops, clamping to long', () => {
    const cases = ['0', '42', '  -17', '+8', '0x1f', '0X1Fg', '017', '08', '0x', '-0x10', 'z', '', ' \v\f\t9', '99999999999999999999', '-99999999999999999999', '12:34', '0b1'];
    for (const base of [0, 8, 10, 16]) {
      for (const s of cases) expect(strtol(s, base), `strtol(${JSON.stringify(s)}, ${base})`).toEqual(glibcStrtol(s, base));
    }
  });

  it('safe_atou_full / safe_atou / safe_atoi', () => {
    const u16 = (s: string) => numberOrUndefined(safeAtou(s, { base: 16 }));
    const u = (s: string) => numberOrUndefined(safeAtou(s));
    const i = (s: string) => numberOrUndefined(safeAtoi(s));
    expect(['1e', '0x1E', ' ff', '+10', '-0', 'ffffffff'].map(u16)).toEqual([30, 30, 255, 16, 0, 0xffffffff]);
    expect(['', '0x', '-1', '1g', '100000000', '1 '].map(u16)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(['113', '0x71', '0161', '0b11', '0o17', '08', '0b'].map(u)).toEqual([113, 113, 113, 3, 15, undefined, undefined]);
    expect(['-5', '0x80', '2147483647', '2147483648', '\t9', '9\n'].map(i)).toEqual([-5, 128, 2147483647, undefined, 9, undefined]);
    expect([safeAtou('-1'), safeAtou('4294967296'), safeAtou('x'), safeAtoi('-2147483649')]).toEqual(['ERANGE', 'ERANGE', 'EINVAL', 'ERANGE']);
  });
});
