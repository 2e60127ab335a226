// Match patterns of udev rules: fnmatch(3) globs (* ? [...] with ! or ^ negation, POSIX classes, backslash
// escapes; '*' also matches '/'), '|' alternatives, and udev's empty-alternative forms. Compiled once at load.

export type Matcher = (s: string) => boolean;

export function isGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: 'A-Za-z0-9',
  alpha: 'A-Za-z',
  blank: ' \\t',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '\\x21-\\x7e',
  lower: 'a-z',
  print: '\\x20-\\x7e',
  punct: '!-\\/:-@\\[-`{-~',
  space: ' \\t\\n\\r\\v\\f',
  upper: 'A-Z',
  xdigit: '0-9A-Fa-f',
};

const reEscape = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

/** Converts one fnmatch pattern into a RegExp source (anchored by the caller). */
export function globToRegexSource(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      re += '[\\s\\S]*';
    } else if (c === '?') {
      re += '[\\s\\S]';
    } else if (c === '\\') {
      if (i + 1 < glob.length) re += reEscape(glob[++i]!);
      else re += '\\\\';
    } else if (c === '[') {
      const cls = parseClass(glob, i);
      if (!cls) re += '\\[';
      else {
        re += cls.source;
        i = cls.end;
      }
    } else re += reEscape(c);
  }
  return re;
}

/** Parses a bracket expression starting at glob[start] === '['; undefined if it is not closed. */
function parseClass(glob: string, start: number): { source: string; end: number } | undefined {
  let i = start + 1;
  let negate = false;
  if (glob[i] === '!' || glob[i] === '^') {
    negate = true;
    i++;
  }
  let body = '';
  let first = true;
  for (; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === ']' && !first) return { source: `[${negate ? '^' : ''}${body}]`, end: i };
    first = false;
    if (c === '[' && glob[i + 1] === ':') {
      const close = glob.indexOf(':]', i + 2);
      if (close > 0) {
        const name = glob.slice(i + 2, close);
        const cls = POSIX_CLASSES[name];
        if (cls !== undefined) {
          body += cls;
          i = close + 1;
          continue;
        }
      }
    }
    if (c === '\\' && i + 1 < glob.length) {
      body += reEscape(glob[++i]!);
      continue;
    }
    if (c === '-' && body !== '' && glob[i + 1] !== ']' && i + 1 < glob.length) {
      body += '-';
      continue;
    }
    body += c === '-' ? '\\-' : reEscape(c);
  }
  return undefined;
}

/** fnmatch(pattern, s, 0) (or FNM_CASEFOLD). */
export function compileGlob(glob: string, caseInsensitive = false): Matcher {
  if (!isGlob(glob) && !glob.includes('\\')) {
    if (!caseInsensitive) return (s) => s === glob;
    const low = glob.toLowerCase();
    return (s) => s.toLowerCase() === low;
  }
  const re = new RegExp(`^(?:${globToRegexSource(glob)})$`, caseInsensitive ? 'is' : 's');
  return (s) => re.test(s);
}

export function fnmatch(glob: string, s: string): boolean {
  return compileGlob(glob)(s);
}

export type MatchKind = 'empty' | 'plain' | 'glob' | 'subsystem';

export interface CompiledPattern {
  kind: MatchKind;
  /** The alternatives (after '|' splitting), for reporting. */
  alternatives: string[];
  /** An empty alternative was given ("|foo", "foo|", "a||b"): the empty string matches too. */
  withEmpty: boolean;
  /** Tests a value (undefined counts as ""). */
  test: Matcher;
}

/**
 * Compiles the value of a match key the way udev does: "" matches only empty; "?*" is treated as "not empty"
 * by the caller (see `negates`); "subsystem" for SUBSYSTEM also matches "bus" and "class"; values of keys that
 * take alternatives are split at '|'.
 */
export function compilePattern(value: string, opts: { alternatives: boolean; subsystemKey?: boolean; caseInsensitive?: boolean }): CompiledPattern & { negates: boolean } {
  const ci = opts.caseInsensitive ?? false;
  if (opts.subsystemKey && (value === 'subsystem' || value === 'bus' || value === 'class')) {
    const set = new Set(['subsystem', 'bus', 'class']);
    return { kind: 'subsystem', alternatives: [value], withEmpty: false, negates: false, test: (s) => set.has(ci ? s.toLowerCase() : s) };
  }
  if (value === '') return { kind: 'empty', alternatives: [], withEmpty: true, negates: false, test: (s) => s === '' };
  if (value === '?*') return { kind: 'empty', alternatives: [], withEmpty: true, negates: true, test: (s) => s === '' };
  const glob = isGlob(value);
  let alts: string[];
  let withEmpty = false;
  if (opts.alternatives) {
    alts = [];
    for (const a of value.split('|')) {
      if (a === '') withEmpty = true;
      else alts.push(a);
    }
  } else alts = [value];
  const kind: MatchKind = glob ? 'glob' : 'plain';
  let test: Matcher;
  if (kind === 'plain' && !ci) {
    if (alts.length === 1) {
      const only = alts[0]!;
      test = withEmpty ? (s) => s === '' || s === only : (s) => s === only;
    } else {
      const set = new Set(alts);
      test = withEmpty ? (s) => s === '' || set.has(s) : (s) => set.has(s);
    }
  } else {
    // udev matches plain alternatives with strcmp (no escapes); globs with fnmatch
    const ms = alts.map((a) => (kind === 'glob' ? compileGlob(a, ci) : ci ? ((s: string) => s.toLowerCase() === a.toLowerCase()) : (s: string) => s === a));
    test = ms.length === 1 && !withEmpty ? ms[0]! : (s) => (withEmpty && s === '') || ms.some((m) => m(s));
  }
  return { kind, alternatives: alts, withEmpty, negates: false, test };
}
