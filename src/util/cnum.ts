// Numbers as udev reads them: C's strtoul()/strtol() under systemd's safe_atou_full()/safe_atoi() (parse-util.c),
// which udev uses for uids, gids, modes, link priorities, log levels and $result{N}. Errors are errno names.
// And booleans as parse-util.c's parse_boolean() reads them.

export type NumError = 'EINVAL' | 'ERANGE';

export interface AtouFlags {
  /** 0: C's prefixes (0x hex, 0 octal) and systemd's 0b/0o; else the base (its prefixes are not special but 0x for 16). */
  base?: number;
  refusePlusMinus?: boolean;
  refuseLeadingZero?: boolean;
  refuseLeadingWhitespace?: boolean;
}

const WHITESPACE = ' \t\n\r';
const CSPACE = ' \t\n\v\f\r';
const ULONG_MAX = (1n << 64n) - 1n;
const LONG_MAX = (1n << 63n) - 1n;

function digitValue(c: string): number {
  const code = c.charCodeAt(0);
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 97 && code <= 122) return code - 87;
  if (code >= 65 && code <= 90) return code - 55;
  return 99;
}

/** systemd's mangle_base(): with base 0, "0b" and "0o" pick binary and octal. */
function mangleBase(s: string, base: number): [string, number] {
  if (base !== 0) return [s, base];
  if (/^0[bB]/.test(s)) return [s.slice(2), 2];
  if (/^0[oO]/.test(s)) return [s.slice(2), 8];
  return [s, base];
}

interface Strto {
  /** The magnitude read (saturated at ULONG_MAX + 1 on overflow). */
  magnitude: bigint;
  negative: boolean;
  /** Whether anything was read (C: endptr moved). */
  read: boolean;
  /** Index after what was read. */
  end: number;
}

/** The parsing part of strtoul()/strtol(): leading blanks, a sign, the base's prefix, digits. */
function strto(s: string, base: number): Strto {
  let i = 0;
  while (i < s.length && CSPACE.includes(s[i]!)) i++;
  let negative = false;
  if (s[i] === '+' || s[i] === '-') negative = s[i++] === '-';
  const hexPrefix = (s[i] === '0' && (s[i + 1] === 'x' || s[i + 1] === 'X') && digitValue(s[i + 2] ?? '') < 16);
  if ((base === 0 || base === 16) && hexPrefix) {
    base = 16;
    i += 2;
  } else if (base === 0) base = s[i] === '0' ? 8 : 10;
  let magnitude = 0n;
  const start = i;
  while (i < s.length && digitValue(s[i]!) < base) {
    magnitude = magnitude * BigInt(base) + BigInt(digitValue(s[i]!));
    if (magnitude > ULONG_MAX) magnitude = ULONG_MAX + 1n;
    i++;
  }
  if (i === start) return { magnitude: 0n, negative: false, read: false, end: 0 };
  return { magnitude, negative, read: true, end: i };
}

/** systemd's safe_atou_full() (32-bit unsigned). */
export function safeAtou(s: string, flags: AtouFlags = {}): number | NumError {
  if (flags.refuseLeadingWhitespace && s !== '' && WHITESPACE.includes(s[0]!)) return 'EINVAL';
  let i = 0;
  while (i < s.length && WHITESPACE.includes(s[i]!)) i++;
  let rest = s.slice(i);
  if (flags.refusePlusMinus && (rest[0] === '+' || rest[0] === '-')) return 'EINVAL';
  if (flags.refuseLeadingZero && rest[0] === '0' && rest !== '0') return 'EINVAL';
  let base: number;
  [rest, base] = mangleBase(rest, flags.base ?? 0);
  const r = strto(rest, base);
  if (r.magnitude > ULONG_MAX) return 'ERANGE';
  if (!r.read || r.end !== rest.length) return 'EINVAL';
  if (r.magnitude !== 0n && rest[0] === '-') return 'ERANGE';
  const value = r.negative ? (ULONG_MAX + 1n - r.magnitude) & ULONG_MAX : r.magnitude;
  if (value > 0xffffffffn) return 'ERANGE';
  return Number(value);
}

/** systemd's safe_atoi() (32-bit signed, base 0). */
export function safeAtoi(s: string): number | NumError {
  let i = 0;
  while (i < s.length && WHITESPACE.includes(s[i]!)) i++;
  const [rest, base] = mangleBase(s.slice(i), 0);
  const r = strto(rest, base);
  const limit = r.negative ? LONG_MAX + 1n : LONG_MAX;
  if (r.magnitude > limit) return 'ERANGE';
  if (!r.read || r.end !== rest.length) return 'EINVAL';
  const value = r.negative ? -r.magnitude : r.magnitude;
  if (value > 0x7fffffffn || value < -0x80000000n) return 'ERANGE';
  return Number(value);
}

/** strtol(s, &end, base): the value, clamped to long's range as strtol() clamps it, and the index after what was read (0: nothing). */
export function strtol(s: string, base: number): { value: bigint; end: number } {
  const r = strto(s, base);
  const value = r.negative ? -r.magnitude : r.magnitude;
  return { value: value > LONG_MAX ? LONG_MAX : value < -LONG_MAX - 1n ? -LONG_MAX - 1n : value, end: r.end };
}

/** The number a parser above read, or undefined for its error. */
export function numberOrUndefined(r: number | NumError): number | undefined {
  return typeof r === 'number' ? r : undefined;
}

/** systemd's parse_boolean(): 1/yes/y/true/t/on and 0/no/n/false/f/off, in any case; else undefined. */
export function parseBoolean(v: string): boolean | undefined {
  const l = v.toLowerCase();
  if (['1', 'yes', 'y', 'true', 't', 'on'].includes(l)) return true;
  if (['0', 'no', 'n', 'false', 'f', 'off'].includes(l)) return false;
  return undefined;
}
