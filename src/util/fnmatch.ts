// fnmatch(3) in the C locale, as udev and sd-hwdb use it: '*' and '?' match any character (including '/' and a
// leading '.'), '[...]' is a bracket expression ('!' or '^' negates, ranges, POSIX classes; an empty range
// matches nothing), a backslash quotes the next character (unless FNM_NOESCAPE). A '[' that does not start a
// valid bracket expression (unterminated, or an unknown class) is a literal '['. FNM_CASEFOLD folds ASCII letters
// as glibc does: characters and range bounds compare in lower case, the classes test the character itself.
// Not reproduced: glibc's collating elements ([.a.], [=a=]) and its handling of a range whose end is a class.
//
// One bracket parser and one class table serve two matchers: strings (rules, enumeration, filters) compile to
// cached RegExps; bytes (hwdb's trie walk, src/hwdb/lookup.ts) are matched in place.

/** glibc's flag values. */
export const FNM_NOESCAPE = 2;
export const FNM_CASEFOLD = 16;

/** The POSIX character classes in the C locale, as ranges of character codes. */
const CLASSES: Readonly<Record<string, readonly (readonly [number, number])[]>> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

const BACKSLASH = 0x5c;
const STAR = 0x2a;
const QUESTION = 0x3f;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const COLON = 0x3a;
const DASH = 0x2d;

/**
 * Parses the bracket expression at pat[start] === '[' (character codes; `end` excluded) and reports each member
 * as a range to `member` (`cls` for the ranges of a class; a range whose end is below its start matches
 * nothing). Returns the index just past the closing ']', or 0 when this '[' is a literal character. Negation
 * ('!' or '^' right after '[') is the caller's to read: negated(pat, start, end).
 */
function parseBracket(pat: ArrayLike<number>, start: number, end: number, noescape: boolean, member: (lo: number, hi: number, cls: boolean) => void): number {
  let i = start + 1;
  if (negated(pat, start, end)) i++;
  let first = true;
  for (;;) {
    if (i >= end) return 0;
    let lo = pat[i]!;
    if (lo === RBRACKET && !first) return i + 1;
    first = false;
    if (lo === LBRACKET && i + 1 < end && pat[i + 1] === COLON) {
      let j = i + 2;
      while (j + 1 < end && !(pat[j] === COLON && pat[j + 1] === RBRACKET)) j++;
      if (j + 1 < end) {
        let name = '';
        for (let k = i + 2; k < j; k++) name += String.fromCharCode(pat[k]!);
        const ranges = Object.hasOwn(CLASSES, name) ? CLASSES[name] : undefined;
        if (!ranges) return 0;
        for (const [a, b] of ranges) member(a, b, true);
        i = j + 2;
        continue;
      }
    }
    if (lo === BACKSLASH && !noescape) {
      i++;
      if (i >= end) return 0;
      lo = pat[i]!;
    }
    i++;
    let hi = lo;
    if (i + 1 < end && pat[i] === DASH && pat[i + 1] !== RBRACKET) {
      hi = pat[i + 1]!;
      i += 2;
      if (hi === BACKSLASH && !noescape) {
        if (i >= end) return 0;
        hi = pat[i]!;
        i++;
      }
    }
    member(lo, hi, false);
  }
}

function negated(pat: ArrayLike<number>, start: number, end: number): boolean {
  return start + 1 < end && (pat[start + 1] === 0x21 || pat[start + 1] === 0x5e);
}

// ------------------------------------------------------------------ bytes, matched in place

/** The byte the bracket being matched is tested against, and whether a member holds it (no closure per call). */
let testByte = 0;
let testHit = false;
const testMember = (lo: number, hi: number) => {
  if (testByte >= lo && testByte <= hi) testHit = true;
};

/**
 * True when `str[sstart..slen)` matches the pattern `pat[0..plen)` (flags 0, or FNM_NOESCAPE with `noescape`).
 * Iterative with single-star backtracking: linear in practice, never recursive.
 */
export function fnmatchBytes(pat: Uint8Array, plen: number, str: Uint8Array, sstart: number, slen: number, noescape = false): boolean {
  let pi = 0;
  let si = sstart;
  let starP = -1;
  let starS = -1;
  while (si < slen) {
    if (pi < plen) {
      const p = pat[pi]!;
      if (p === STAR) {
        while (pi < plen && pat[pi] === STAR) pi++;
        if (pi === plen) return true;
        starP = pi;
        starS = si;
        continue;
      }
      if (p === QUESTION) {
        pi++;
        si++;
        continue;
      }
      if (p === LBRACKET) {
        testByte = str[si]!;
        testHit = false;
        const next = parseBracket(pat, pi, plen, noescape, testMember);
        if (next > 0) {
          if (testHit !== negated(pat, pi, plen)) {
            pi = next;
            si++;
            continue;
          }
        } else if (str[si] === LBRACKET) {
          // not a bracket expression: a literal '['
          pi++;
          si++;
          continue;
        }
      } else {
        let lit = p;
        let adv = 1;
        if (p === BACKSLASH && !noescape) {
          if (pi + 1 >= plen) return false; // a trailing backslash matches nothing (glibc)
          lit = pat[pi + 1]!;
          adv = 2;
        }
        if (lit === str[si]) {
          pi += adv;
          si++;
          continue;
        }
      }
    }
    if (starP < 0) return false;
    pi = starP;
    si = ++starS;
  }
  while (pi < plen && pat[pi] === STAR) pi++;
  return pi === plen;
}

// ------------------------------------------------------------------ strings, through RegExps

const hex = (c: number) => `\\u{${c.toString(16)}}`;
const range = (lo: number, hi: number) => (lo === hi ? hex(lo) : `${hex(lo)}-${hex(hi)}`);
const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;
const isLower = (c: number) => c >= 0x61 && c <= 0x7a;
const foldCode = (c: number) => (isUpper(c) ? c + 0x20 : c);
const asciiLower = (s: string) => s.replace(/[A-Z]+/g, (m) => m.toLowerCase());

/** A bracket member as a RegExp class body: the characters c with lo <= c <= hi (compared folded with `fold`). */
function memberSource(lo: number, hi: number, cls: boolean, fold: boolean): string {
  if (!fold || cls) return lo <= hi ? range(lo, hi) : '';
  const a = foldCode(lo);
  const b = foldCode(hi);
  if (a > b) return '';
  // what folds into [a, b]: [a, b] but its upper-case letters (they fold elsewhere), and the upper case of its letters
  let out = '';
  if (a <= Math.min(b, 0x40)) out += range(a, Math.min(b, 0x40));
  if (Math.max(a, 0x5b) <= b) out += range(Math.max(a, 0x5b), b);
  const la = Math.max(a, 0x61);
  const lb = Math.min(b, 0x7a);
  if (la <= lb) out += range(la - 0x20, lb - 0x20);
  return out;
}

/** A literal character of the pattern. */
function literalSource(ch: string, fold: boolean): string {
  const c = ch.codePointAt(0)!;
  if (fold && (isUpper(c) || isLower(c))) return `[${hex(foldCode(c))}${hex(foldCode(c) - 0x20)}]`;
  return escapeRegex(ch);
}
/** What a RegExp reads as syntax; looked up in a string, not tested with a RegExp per character. */
const REGEX_SYNTAX = '.*+?^${}()|[]\\/';
const escapeRegex = (c: string) => (REGEX_SYNTAX.includes(c) ? '\\' + c : c);

const cache = new Map<string, RegExp>();

/** The anchored RegExp for a pattern (cached). */
export function compileGlob(pattern: string, flags = 0): RegExp {
  const key = `${flags}:${pattern}`;
  let re = cache.get(key);
  if (re) return re;
  const noescape = (flags & FNM_NOESCAPE) !== 0;
  const fold = (flags & FNM_CASEFOLD) !== 0;
  const chars = Array.from(pattern);
  const codes = chars.map((c) => c.codePointAt(0)!);
  let src = '';
  for (let i = 0; i < codes.length; ) {
    const c = codes[i]!;
    if (c === STAR) {
      src += '[\\s\\S]*';
      i++;
    } else if (c === QUESTION) {
      src += '[\\s\\S]';
      i++;
    } else if (c === LBRACKET) {
      let body = '';
      const next = parseBracket(codes, i, codes.length, noescape, (lo, hi, cls) => (body += memberSource(lo, hi, cls, fold)));
      if (next > 0) {
        src += `[${negated(codes, i, codes.length) ? '^' : ''}${body}]`;
        i = next;
      } else {
        src += '\\[';
        i++;
      }
    } else if (c === BACKSLASH && !noescape && i + 1 < codes.length) {
      src += literalSource(chars[i + 1]!, fold);
      i += 2;
    } else if (c === BACKSLASH && !noescape) {
      src += '(?!)'; // a trailing backslash matches nothing (glibc)
      i++;
    } else {
      src += literalSource(chars[i]!, fold);
      i++;
    }
  }
  re = new RegExp(`^${src}$`, 'u');
  if (cache.size > 4096) cache.clear();
  cache.set(key, re);
  return re;
}

/** True if the string contains glob characters. */
export function isGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

/** A pattern without '*', '?', '[' or '\' matches only itself. */
const isLiteral = (pattern: string) => !/[*?[\\]/.test(pattern);

/** fnmatch(pattern, s, flags) === 0: flags FNM_NOESCAPE and FNM_CASEFOLD. */
export function fnmatch(pattern: string, s: string, flags = 0): boolean {
  if (isLiteral(pattern)) return flags & FNM_CASEFOLD ? asciiLower(pattern) === asciiLower(s) : pattern === s;
  return compileGlob(pattern, flags).test(s);
}

/** A reusable matcher for one pattern. */
export function globMatcher(pattern: string, flags = 0): (s: string) => boolean {
  if (isLiteral(pattern)) {
    if (!(flags & FNM_CASEFOLD)) return (s) => s === pattern;
    const low = asciiLower(pattern);
    return (s) => asciiLower(s) === low;
  }
  // compiled on the first test: most patterns of a rules set never meet a value
  let re: RegExp | undefined;
  return (s) => (re ??= compileGlob(pattern, flags)).test(s);
}
