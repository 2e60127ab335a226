// fnmatch(3) with flags 0, on bytes, as sd-hwdb uses it to test a trie path (the pattern) against a modalias.
// Flags 0 means: '*' and '?' match any byte including '/' and a leading '.', backslash quotes the next byte,
// bracket expressions support '!' / '^' negation, ranges and [:class:] names. An unterminated '[' is literal.

const CLASSES: Record<string, (c: number) => boolean> = {
  alnum: (c) => isAlpha(c) || isDigit(c),
  alpha: (c) => isAlpha(c),
  blank: (c) => c === 0x20 || c === 0x09,
  cntrl: (c) => c < 0x20 || c === 0x7f,
  digit: (c) => isDigit(c),
  graph: (c) => c > 0x20 && c < 0x7f,
  lower: (c) => c >= 0x61 && c <= 0x7a,
  print: (c) => c >= 0x20 && c < 0x7f,
  punct: (c) => c > 0x20 && c < 0x7f && !isAlpha(c) && !isDigit(c),
  space: (c) => c === 0x20 || (c >= 0x09 && c <= 0x0d),
  upper: (c) => c >= 0x41 && c <= 0x5a,
  xdigit: (c) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66),
};

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

const BACKSLASH = 0x5c;
const STAR = 0x2a;
const QUESTION = 0x3f;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

/**
 * Matches the bracket expression starting at pat[pi] === '[' against byte c.
 * Returns the index just past the closing ']' when c matches, -(index+1) when it does not,
 * or 0 when the expression is not terminated (then '[' is an ordinary character).
 */
function bracket(pat: Uint8Array, pi: number, plen: number, c: number, noescape: boolean): number {
  let i = pi + 1;
  let negate = false;
  if (i < plen && (pat[i] === 0x21 || pat[i] === 0x5e)) {
    negate = true;
    i++;
  }
  let matched = false;
  let first = true;
  for (;;) {
    if (i >= plen) return 0;
    let lo = pat[i]!;
    if (lo === RBRACKET && !first) {
      i++;
      break;
    }
    first = false;
    if (lo === LBRACKET && i + 1 < plen && pat[i + 1] === 0x3a) {
      // [:class:]
      let j = i + 2;
      while (j + 1 < plen && !(pat[j] === 0x3a && pat[j + 1] === RBRACKET)) j++;
      if (j + 1 < plen) {
        const name = String.fromCharCode(...pat.subarray(i + 2, j));
        const fn = CLASSES[name];
        if (!fn) return 0; // invalid class: glibc treats the whole pattern as not matching; be conservative
        if (fn(c)) matched = true;
        i = j + 2;
        continue;
      }
    }
    if (lo === BACKSLASH && !noescape) {
      i++;
      if (i >= plen) return 0;
      lo = pat[i]!;
    }
    i++;
    let hi = lo;
    if (i + 1 < plen && pat[i] === 0x2d && pat[i + 1] !== RBRACKET) {
      hi = pat[i + 1]!;
      i += 2;
      if (hi === BACKSLASH && !noescape) {
        if (i >= plen) return 0;
        hi = pat[i]!;
        i++;
      }
    }
    if (c >= lo && c <= hi) matched = true;
  }
  return matched !== negate ? i : -(i + 1);
}

/**
 * True when `str[0..slen)` matches the pattern `pat[0..plen)` (fnmatch semantics, flags 0 or FNM_NOESCAPE).
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
        const r = bracket(pat, pi, plen, str[si]!, noescape);
        if (r > 0) {
          pi = r;
          si++;
          continue;
        }
        if (r === 0) {
          // unterminated: literal '['
          if (str[si] === LBRACKET) {
            pi++;
            si++;
            continue;
          }
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

const enc = new TextEncoder();

/** String convenience wrapper (UTF-8 bytes), used by the builtin's --filter and by tests. */
export function fnmatch(pattern: string, str: string, noescape = false): boolean {
  const p = enc.encode(pattern);
  const s = enc.encode(str);
  return fnmatchBytes(p, p.length, s, 0, s.length, noescape);
}
