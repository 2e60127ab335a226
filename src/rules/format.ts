// udev's $-/%-substitutions, compiled once per rule value into parts, expanded per event.
// The names, their one-letter forms and their meaning follow udev(7).
import { safeAtou } from '../util/cnum.js';

export type SubstKind =
  | 'devnode'
  | 'attr'
  | 'env'
  | 'kernel'
  | 'number'
  | 'driver'
  | 'devpath'
  | 'id'
  | 'major'
  | 'minor'
  | 'result'
  | 'parent'
  | 'name'
  | 'links'
  | 'root'
  | 'sys';

/** Long names in udev's lookup order ("sysfs" before "sys", "devnode" before "devpath" does not matter). */
const LONG: readonly [string, SubstKind][] = [
  ['devnode', 'devnode'],
  ['tempnode', 'devnode'],
  ['attr', 'attr'],
  ['sysfs', 'attr'],
  ['env', 'env'],
  ['kernel', 'kernel'],
  ['number', 'number'],
  ['driver', 'driver'],
  ['devpath', 'devpath'],
  ['id', 'id'],
  ['major', 'major'],
  ['minor', 'minor'],
  ['result', 'result'],
  ['parent', 'parent'],
  ['name', 'name'],
  ['links', 'links'],
  ['root', 'root'],
  ['sys', 'sys'],
];

const SHORT: Readonly<Record<string, SubstKind>> = {
  N: 'devnode',
  s: 'attr',
  E: 'env',
  k: 'kernel',
  n: 'number',
  d: 'driver',
  p: 'devpath',
  b: 'id',
  M: 'major',
  m: 'minor',
  c: 'result',
  P: 'parent',
  D: 'name',
  L: 'links',
  r: 'root',
  S: 'sys',
};

export interface SubstPart {
  kind: SubstKind;
  /** The {argument}, if any. */
  arg: string | undefined;
  /** For result: the field number (1-based), 0 = whole; and whether "+" (rest of the string) was given. */
  index?: number;
  rest?: boolean;
}

/** A compiled format: literal strings and substitutions, in order. */
export type FormatPart = string | SubstPart;

export interface Format {
  parts: FormatPart[];
  /** True when there is no substitution at all (parts is [text] or []). */
  plain: boolean;
}

export interface FormatIssue {
  /** 0-based offset into the value where the problem starts. */
  offset: number;
  message: string;
}

/**
 * Parses a value for substitutions. Unknown $names / %letters are copied literally (as udev does at run time)
 * and reported as issues (what `udev_check_format` reports at load time).
 */
export function compileFormat(text: string, issues?: FormatIssue[]): Format {
  const parts: FormatPart[] = [];
  let lit = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c !== '$' && c !== '%') {
      lit += c;
      i++;
      continue;
    }
    const start = i;
    // "$$" and "%%" give one literal character
    if (text[i + 1] === c) {
      lit += c;
      i += 2;
      continue;
    }
    let kind: SubstKind | undefined;
    let q = i + 1;
    if (c === '$') {
      for (const [name, k] of LONG) {
        if (text.startsWith(name, i + 1)) {
          kind = k;
          q = i + 1 + name.length;
          break;
        }
      }
    } else {
      const k = SHORT[text[i + 1] ?? ''];
      if (k) {
        kind = k;
        q = i + 2;
      }
    }
    if (!kind) {
      issues?.push({ offset: start, message: 'invalid substitution type' });
      lit += c;
      i++;
      continue;
    }
    let arg: string | undefined;
    if (text[q] === '{') {
      const end = text.indexOf('}', q + 1);
      if (end < 0) {
        issues?.push({ offset: start, message: 'unterminated {' });
        // udev fails the whole expansion here; keep the rest literally
        lit += text.slice(start);
        i = n;
        break;
      }
      arg = text.slice(q + 1, end);
      if (arg === '') {
        issues?.push({ offset: start, message: 'empty {}' });
        arg = undefined;
      }
      q = end + 1;
    }
    const part: SubstPart = { kind, arg };
    if ((kind === 'attr' || kind === 'env') && arg === undefined) issues?.push({ offset: start, message: `${kind === 'attr' ? 'attribute' : 'property'} name missing` });
    if (kind === 'result' && arg !== undefined) {
      const m = /^(\d+)(\+?)$/.exec(arg);
      if (!m) issues?.push({ offset: start, message: 'invalid result index' });
      else {
        part.index = Number(m[1]);
        part.rest = m[2] === '+';
      }
    } else if (arg !== undefined && kind !== 'attr' && kind !== 'env') {
      issues?.push({ offset: start, message: 'unexpected {} for this substitution' });
    }
    if (lit) parts.push(lit);
    lit = '';
    parts.push(part);
    i = q;
  }
  if (lit) parts.push(lit);
  return { parts, plain: parts.every((p) => typeof p === 'string') };
}

/** udev's UDEV_PATH_SIZE: a {argument} of this many bytes or more is invalid. */
const UDEV_PATH_SIZE = 1024;

/**
 * udev_check_format(), what udev (and udevadm verify) reports about a value when loading rules: the first problem
 * only, with its offset and udev's hint. Offsets count string units (pass a latin1 string for byte offsets).
 */
export function checkFormat(value: string): { offset: number; hint: string } | undefined {
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c !== '$' && c !== '%') {
      i++;
      continue;
    }
    if (value[i + 1] === c) {
      i += 2;
      continue;
    }
    let kind: SubstKind | undefined;
    let q = i + 1;
    if (c === '$') {
      const hit = LONG.find(([name]) => value.startsWith(name, i + 1));
      if (hit) [kind, q] = [hit[1], i + 1 + hit[0].length];
    } else if (value[i + 1] !== undefined && SHORT[value[i + 1]!]) [kind, q] = [SHORT[value[i + 1]!], i + 2];
    if (!kind) return { offset: i, hint: 'invalid substitution type' };
    let arg = '';
    if (value[q] === '{') {
      const end = value.indexOf('}', q + 1);
      if (end < 0 || end === q + 1 || end - (q + 1) >= UDEV_PATH_SIZE) return { offset: i, hint: 'invalid substitution type' };
      arg = value.slice(q + 1, end);
      q = end + 1;
    }
    i = q;
    if ((kind === 'attr' || kind === 'env') && arg === '') return { offset: i, hint: 'attribute value missing' };
    if (kind === 'result' && arg !== '' && typeof safeAtou(arg.endsWith('+') ? arg.slice(0, -1) : arg) !== 'number') {
      return { offset: i, hint: 'attribute value not a valid number' };
    }
  }
  return undefined;
}

/** What expanding a substitution needs from the event (implemented by the executor). */
export interface FormatSource {
  subst(part: SubstPart): string;
}

/**
 * Expands a compiled format. With replaceWhitespace (SYMLINK), each substituted value has whitespace runs
 * turned into one '_' and leading/trailing whitespace dropped; literal text is kept as written.
 */
export function expandFormat(fmt: Format, src: FormatSource, replaceWhitespace = false): string {
  if (fmt.plain) return (fmt.parts[0] as string | undefined) ?? '';
  let out = '';
  for (const p of fmt.parts) {
    if (typeof p === 'string') out += p;
    else {
      const v = src.subst(p);
      // the program result keeps its spaces ($result handles them itself, as in udev)
      out += replaceWhitespace && p.kind !== 'result' ? replaceWhitespaceRuns(v) : v;
    }
  }
  return out;
}

const WS = /[ \t\n\r\v\f]/;

/** udev_replace_whitespace: trims, and turns each inner whitespace run into one '_'. */
export function replaceWhitespaceRuns(s: string): string {
  let out = '';
  let space = false;
  let i = 0;
  let end = s.length;
  while (end > 0 && WS.test(s[end - 1]!)) end--;
  while (i < end && WS.test(s[i]!)) i++;
  for (; i < end; i++) {
    const c = s[i]!;
    if (WS.test(c)) {
      space = true;
      continue;
    }
    if (space) {
      out += '_';
      space = false;
    }
    out += c;
  }
  return out;
}

/** Characters udev accepts in device names without escaping: [0-9A-Za-z#+-.:=@_] plus `allow`. */
function plainAllowed(c: string, allow: string | undefined): boolean {
  const code = c.charCodeAt(0);
  if ((code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122)) return true;
  if ('#+-.:=@_'.includes(c)) return true;
  return allow !== undefined && allow.includes(c);
}

/** Characters allowed in values read from attributes and program output (UDEV_ALLOWED_CHARS_INPUT). */
export const ALLOWED_CHARS_INPUT = '/ $%?,';

/**
 * udev_replace_chars: keeps allowed characters, "\x" escapes and valid multi-byte UTF-8; turns whitespace into
 * ' ' when ' ' is allowed; replaces everything else with '_'. Works on a JS string (already decoded from UTF-8;
 * lone surrogates and U+FFFD from invalid bytes count as invalid).
 */
export function replaceChars(s: string, allow?: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    const code = c.charCodeAt(0);
    if (plainAllowed(c, allow)) {
      out += c;
      continue;
    }
    if (c === '\\' && s[i + 1] === 'x') {
      out += '\\x';
      i++;
      continue;
    }
    if (code >= 0x80) {
      if (code >= 0xd800 && code <= 0xdbff && i + 1 < s.length) {
        const lo = s.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          out += c + s[i + 1];
          i++;
          continue;
        }
      }
      if (code !== 0xfffd && !(code >= 0xd800 && code <= 0xdfff)) {
        out += c;
        continue;
      }
    }
    if (allow !== undefined && allow.includes(' ') && WS.test(c)) {
      out += ' ';
      continue;
    }
    out += '_';
  }
  return out;
}
