// fnmatch(3) with flags 0 (or FNM_CASEFOLD), as udev uses it for rule matches and sd-device for enumerator
// matches: '*' and '?' match any character (including '/' and a leading '.'), '[...]' is a bracket expression
// ('!' or '^' negates, ranges, POSIX classes), a backslash quotes the next character. An unterminated '[' is a
// literal '['. Patterns compile to cached RegExps. (hwdb's byte-wise matcher is src/hwdb/fnmatch.ts.)

const CLASSES: Record<string, string> = {
  alnum: 'a-zA-Z0-9',
  alpha: 'a-zA-Z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: ' \\t\\n\\r\\f\\v',
  upper: 'A-Z',
  xdigit: '0-9A-Fa-f',
};

function escapeClassChar(c: string): string {
  return /[\\\]\[^-]/.test(c) ? '\\' + c : c;
}

function escapeRegex(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? '\\' + c : c;
}

/** Parses a bracket expression starting at pattern[i] === '['; returns [regex source, next index] or undefined. */
function bracket(p: string, i: number): [string, number] | undefined {
  let j = i + 1;
  let negate = false;
  if (p[j] === '!' || p[j] === '^') {
    negate = true;
    j++;
  }
  let body = '';
  let first = true;
  while (j < p.length) {
    const c = p[j]!;
    if (c === ']' && !first) {
      if (body === '') return undefined;
      return [`[${negate ? '^' : ''}${body}]`, j + 1];
    }
    first = false;
    if (c === '[' && p[j + 1] === ':') {
      const end = p.indexOf(':]', j + 2);
      if (end > 0) {
        const name = p.slice(j + 2, end);
        const cls = CLASSES[name];
        if (cls === undefined) return undefined;
        body += cls;
        j = end + 2;
        continue;
      }
    }
    let lo = c;
    if (c === '\\' && j + 1 < p.length) {
      lo = p[j + 1]!;
      j++;
    }
    j++;
    if (p[j] === '-' && j + 1 < p.length && p[j + 1] !== ']') {
      let hi = p[j + 1]!;
      j += 2;
      if (hi === '\\' && j < p.length) {
        hi = p[j]!;
        j++;
      }
      if (hi < lo) {
        // an empty range matches nothing, as glibc does
        body += '';
        continue;
      }
      body += `${escapeClassChar(lo)}-${escapeClassChar(hi)}`;
    } else body += escapeClassChar(lo);
  }
  return undefined;
}

const cache = new Map<string, RegExp>();

/** The anchored RegExp for a pattern (cached). */
export function compileGlob(pattern: string, caseInsensitive = false): RegExp {
  const key = caseInsensitive ? `i${pattern}` : `s${pattern}`;
  let re = cache.get(key);
  if (re) return re;
  let src = '';
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i]!;
    if (c === '*') {
      src += '[\\s\\S]*';
      i++;
    } else if (c === '?') {
      src += '[\\s\\S]';
      i++;
    } else if (c === '[') {
      const b = bracket(pattern, i);
      if (b) {
        src += b[0];
        i = b[1];
      } else {
        src += '\\[';
        i++;
      }
    } else if (c === '\\' && i + 1 < pattern.length) {
      src += escapeRegex(pattern[i + 1]!);
      i += 2;
    } else {
      src += escapeRegex(c);
      i++;
    }
  }
  re = new RegExp(`^${src}$`, caseInsensitive ? 'ui' : 'u');
  if (cache.size > 4096) cache.clear();
  cache.set(key, re);
  return re;
}

/** fnmatch(pattern, string, 0) === 0 (FNM_CASEFOLD with caseInsensitive). */
export function fnmatch(pattern: string, s: string, caseInsensitive = false): boolean {
  if (!/[*?[\\]/.test(pattern)) return caseInsensitive ? pattern.toLowerCase() === s.toLowerCase() : pattern === s;
  try {
    return compileGlob(pattern, caseInsensitive).test(s);
  } catch {
    return pattern === s;
  }
}

/** A reusable matcher for one pattern. */
export function globMatcher(pattern: string, caseInsensitive = false): (s: string) => boolean {
  if (!/[*?[\\]/.test(pattern)) {
    if (!caseInsensitive) return (s) => s === pattern;
    const low = pattern.toLowerCase();
    return (s) => s.toLowerCase() === low;
  }
  let re: RegExp;
  try {
    re = compileGlob(pattern, caseInsensitive);
  } catch {
    return (s) => s === pattern;
  }
  return (s) => re.test(s);
}

/** True if the string contains glob characters. */
export function isGlob(s: string): boolean {
  return /[*?[]/.test(s);
}
