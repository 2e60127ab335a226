// A deliberately literal re-statement of how udev reads a rules file (systemd's
// src/udev/udev-rules.c: udev_rules_parse_file(), rule_add_line(), parse_line(),
// udev_rule_parse_value(); src/basic/fileio.c read_line_full(); src/basic/escape.c cunescape()),
// written pointer-style over a byte array, independently of the peggy grammar. The tests use it
// as an oracle: for every input, src/rules/parser.ts must accept exactly the lines this accepts,
// with the same tokens, and report an error for each line this rejects.

export const LINE_SIZE = 16384;

export interface OracleToken {
  key: string;
  attr: string | undefined;
  op: string;
  /** the value's bytes (UTF-8) */
  value: Uint8Array;
  escaped: boolean;
  caseInsensitive: boolean;
}

export interface OracleLine {
  /** first physical line that contributed text (or the line itself) */
  first: number;
  /** physical line number udev reports (the last one) */
  last: number;
  /** undefined: udev rejects the line ("Invalid key/value pair" or an unknown key name) */
  tokens?: OracleToken[];
}

export interface OracleResult {
  lines: OracleLine[];
  /** physical lines where a joined line became too long ("Line is too long, ignored.") */
  tooLong: number[];
  /** udev stopped reading: a physical line of LINE_SIZE bytes or more (read_line -ENOBUFS) */
  aborted: boolean;
  eofInContinuation: boolean;
}

const NL = 10;
const CR = 13;
const NUL = 0;

/** read_line_full(): returns [line bytes, next position], or null at EOF; 'long' past the limit */
function readLine(buf: Uint8Array, pos: number, limit: number): [Uint8Array, number] | null | 'long' {
  if (pos >= buf.length) return null;
  const out: number[] = [];
  let previous = 0; // bitmask: 1 NUL, 2 \n, 4 \r
  let count = 0;
  for (;;) {
    if (out.length >= limit) return 'long';
    if (pos >= buf.length) break;
    const c = buf[pos];
    const eol = c === NL ? 2 : c === CR ? 4 : c === NUL ? 1 : 0;
    if ((previous & 1) !== 0 || (eol === 0 && previous !== 0) || (eol !== 0 && (previous & eol) !== 0)) break;
    pos++;
    count++;
    if (eol !== 0) {
      previous |= eol;
      continue;
    }
    out.push(c);
  }
  if (count === 0) return null;
  return [Uint8Array.from(out), pos];
}

function isWhitespace(c: number | undefined): boolean {
  return c === 32 || c === 9 || c === NL || c === CR;
}

const td = new TextDecoder();
const str = (b: Uint8Array, from: number, to: number): string => td.decode(b.subarray(from, to));

function unhex(c: number | undefined): number {
  if (c === undefined) return -1;
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function utf8Encode(out: number[], c: number): void {
  if (c < 0x80) out.push(c);
  else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
  else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
}

/** cunescape_length(s, len, 0): null on -EINVAL */
function cunescape(s: Uint8Array): Uint8Array | null {
  const out: number[] = [];
  for (let f = 0; f < s.length; f++) {
    if (s[f] !== 92) {
      out.push(s[f]);
      continue;
    }
    const remaining = s.length - f;
    if (remaining === 1) return null;
    const p = f + 1;
    const c = String.fromCharCode(s[p]);
    const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92, '"': 34, "'": 39, s: 32 };
    if (c in simple) {
      out.push(simple[c]);
      f += 1;
    } else if (c === 'x') {
      if (remaining - 1 < 3) return null;
      const a = unhex(s[p + 1]);
      const b = unhex(s[p + 2]);
      if (a < 0 || b < 0 || (a === 0 && b === 0)) return null;
      out.push((a << 4) | b);
      f += 3;
    } else if (c === 'u' || c === 'U') {
      const n = c === 'u' ? 4 : 8;
      if (remaining - 1 < n + 1) return null;
      let v = 0;
      for (let i = 0; i < n; i++) {
        const d = unhex(s[p + 1 + i]);
        if (d < 0) return null;
        v = v * 16 + d;
      }
      if (v === 0) return null;
      if (c === 'U') {
        if (v >= 0x110000 || (v & 0xfffff800) === 0xd800 || (v >= 0xfdd0 && v <= 0xfdef) || (v & 0xfffe) === 0xfffe) return null;
      }
      utf8Encode(out, v);
      f += n + 1;
    } else if (s[p] >= 48 && s[p] <= 55) {
      if (remaining - 1 < 3) return null;
      const oct = (x: number | undefined) => (x !== undefined && x >= 48 && x <= 55 ? x - 48 : -1);
      const a = oct(s[p]);
      const b = oct(s[p + 1]);
      const d = oct(s[p + 2]);
      if (a < 0 || b < 0 || d < 0 || (a === 0 && b === 0 && d === 0)) return null;
      const m = (a << 6) | (b << 3) | d;
      if (m > 255) return null;
      out.push(m);
      f += 3;
    } else return null;
  }
  return Uint8Array.from(out);
}

/** parse_line() + udev_rule_parse_value() over line[pos..]: tokens of the whole line, or null */
function parsePairs(line: Uint8Array, allowI: boolean): OracleToken[] | null {
  const tokens: OracleToken[] = [];
  let p = 0;
  const at = (i: number): number | undefined => (i < line.length ? line[i] : undefined);
  for (;;) {
    while (p < line.length && (isWhitespace(line[p]) || line[p] === 44)) p++;
    if (p >= line.length) return tokens;
    const keyBegin = p;
    let keyEnd = p;
    for (;; keyEnd++) {
      const c = at(keyEnd);
      if (c === undefined) return null;
      if (isWhitespace(c) || c === 61 || c === 123) break;
      if ((c === 43 || c === 45 || c === 33 || c === 58) && at(keyEnd + 1) === 61) break;
    }
    let attr: string | undefined;
    let t: number;
    if (at(keyEnd) === 123) {
      let close = keyEnd + 1;
      while (close < line.length && line[close] !== 125) close++;
      if (close >= line.length) return null;
      attr = str(line, keyEnd + 1, close);
      t = close + 1;
    } else t = keyEnd;
    while (isWhitespace(at(t))) t++;
    const two = String.fromCharCode(at(t) ?? 0, at(t + 1) ?? 0);
    let op: string;
    if (two === '==' || two === '!=' || two === '+=' || two === '-=') op = two;
    else if (two[0] === '=') op = '=';
    else if (two === ':=') op = ':=';
    else return null;
    t += op.length;
    while (isWhitespace(at(t))) t++;
    // prefix: up to two characters before '"', each of e / i at most once
    let escaped = false;
    let ci = false;
    for (let k = t; at(k) !== 34 && k < t + 2; k++) {
      if (at(k) === 101 && !escaped) escaped = true;
      else if (at(k) === 105 && !ci && allowI) ci = true;
      else return null;
    }
    t += (escaped ? 1 : 0) + (ci ? 1 : 0);
    if (at(t) !== 34) return null;
    let value: Uint8Array;
    let i = t + 1;
    if (!escaped) {
      const out: number[] = [];
      for (; at(i) !== 34; i++) {
        if (at(i) === undefined) return null;
        if (at(i) === 92 && at(i + 1) === 34) i++;
        out.push(line[i]);
      }
      value = Uint8Array.from(out);
    } else {
      for (; at(i) !== 34; i++) {
        if (at(i) === 92) i++;
        if (at(i) === undefined) return null;
      }
      const u = cunescape(line.subarray(t + 1, i));
      if (u === null) return null;
      value = u;
    }
    tokens.push({ key: str(line, keyBegin, keyEnd), attr, op, value, escaped, caseInsensitive: ci });
    p = i + 1;
  }
}

/** udev_rules_parse_file() over the bytes of a file. */
export function udevOracle(text: string, options: { allowI?: boolean; limit?: number } = {}): OracleResult {
  const limit = options.limit ?? LINE_SIZE;
  const allowI = options.allowI ?? true;
  const buf = Buffer.from(text, 'utf8');
  const result: OracleResult = { lines: [], tooLong: [], aborted: false, eofInContinuation: false };
  let pos = 0;
  let lineNr = 0;
  let continuation: number[] | null = null;
  let contFirst = 0;
  let ignore = false;
  for (;;) {
    const r = readLine(buf, pos, limit);
    if (r === 'long') {
      result.aborted = true;
      return result;
    }
    if (r === null) break;
    const [raw, next] = r;
    pos = next;
    lineNr++;
    let s = 0;
    while (isWhitespace(raw[s])) s++;
    if (raw[s] === 35) continue; // '#'
    let line: number[] = Array.from(raw.subarray(s));
    let first = line.length > 0 ? lineNr : 0;
    if (continuation !== null && !ignore) {
      if (continuation.length + line.length >= limit) ignore = true;
      continuation.push(...line);
      if (!ignore) {
        line = continuation;
        first = contFirst;
      }
    }
    if (line.length > 0 && line[line.length - 1] === 92) {
      if (ignore) continue;
      line.pop();
      if (continuation === null) {
        continuation = line.slice();
        contFirst = lineNr;
      }
      continue;
    }
    if (ignore) result.tooLong.push(lineNr);
    else if (line.length > 0) {
      const tokens = parsePairs(Uint8Array.from(line), allowI);
      const valid = tokens !== null && tokens.every((t) => /^[A-Za-z0-9_]+$/.test(t.key));
      result.lines.push({ first: first || lineNr, last: lineNr, tokens: valid ? tokens : undefined });
    }
    continuation = null;
    ignore = false;
  }
  if (continuation !== null) result.eofInContinuation = true;
  return result;
}
