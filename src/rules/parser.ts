// Parses udev rules text into RuleAst, the way udev (src/udev/udev-rules.c, systemd 252..257)
// reads a rules file:
//  - physical lines end at \n, \r, NUL or a combination (grammar/udev-rules.peggy, mode "file");
//  - leading blanks of every physical line are dropped; lines starting with '#' are skipped,
//    even inside a backslash continuation;
//  - a line ending in a backslash is joined (without the backslash) with the next non-comment
//    line; an empty line ends the joined line; the joined text is checked for a trailing
//    backslash again, exactly as udev does;
//  - udev reads at most 16383 bytes per physical line (it then gives up on the whole file) and
//    ignores a joined line that reaches 16384 bytes ("Line is too long, ignored."): both are
//    reported here and only that line is skipped (options.maxLineBytes changes the limit);
//  - every logical line is parsed on its own (grammar mode "line"); a line with a syntax error
//    is reported with its position and what was expected, and skipped; the rest still loads.
import { readFileSync } from 'node:fs';
import { parse as pegParse, SyntaxError as PegSyntaxError } from '../generated/udev-rules.js';
import { RuleSyntaxError } from './ast.js';
import type { RuleAst, RuleOperator, RuleToken, RulesFileAst, SourcePosition, ValueKind } from './ast.js';
import type { LineInput, TokenInput } from './compile.js';

export { RuleSyntaxError } from './ast.js';
export type { RuleAst, RuleOperator, RuleToken, RulesFileAst, RuleSyntaxErrorKind, SourcePosition, ValueKind } from './ast.js';

/** udev's UDEV_LINE_SIZE. */
export const UDEV_LINE_SIZE = 16384;

export interface ParseRulesOptions {
  /**
   * Byte limit of a line, as udev's UDEV_LINE_SIZE (default 16384): a physical line of this
   * many bytes or more, or a joined line reaching it, is reported and skipped.
   * Infinity accepts any length.
   */
  maxLineBytes?: number;
  /** Accept the i"..." / ei"..." value prefixes of systemd >= 257 (default true); false behaves as 252. */
  caseInsensitivePrefix?: boolean;
}

/** A physical line (without its line end), classified after its leading blanks. */
export interface PhysicalLine {
  kind: 'comment' | 'content' | 'blank';
  /** Offset of the line in the text. */
  offset: number;
  /** Number of leading blanks (space, tab). */
  indent: number;
  text: string;
  /** content lines: whether the line ends with a backslash. */
  continued?: boolean;
}

const LINE_END = /[\n\r\0]/g;

/**
 * Splits text into physical lines like udev's read_line(). This is the grammar's mode "file"
 * (grammar/udev-rules.peggy, which defines it) written out by hand, because a character-by-
 * character PEG pass over a 300 KB file costs tens of milliseconds; the tests check that both
 * give the same lines for every input.
 */
export function splitPhysicalLines(text: string): PhysicalLine[] {
  const lines: PhysicalLine[] = [];
  const n = text.length;
  let pos = 0;
  while (pos < n) {
    LINE_END.lastIndex = pos;
    // test(), not exec(): no match array per line (the match is one character, lastIndex is past it)
    const end = LINE_END.test(text) ? LINE_END.lastIndex - 1 : n;
    const body = text.slice(pos, end);
    let indent = 0;
    while (indent < body.length && (body.charCodeAt(indent) === 32 || body.charCodeAt(indent) === 9)) indent++;
    if (indent < body.length && body.charCodeAt(indent) === 35 /* # */) {
      lines.push({ kind: 'comment', offset: pos, indent, text: body });
    } else if (indent === body.length) {
      lines.push({ kind: 'blank', offset: pos, indent, text: body });
    } else {
      lines.push({ kind: 'content', offset: pos, indent, text: body, continued: body.charCodeAt(body.length - 1) === 92 });
    }
    // one line end: "\n" or "\r", the other one optionally, then NUL optionally; or a lone NUL
    let p = end;
    if (p < n) {
      const c = text.charCodeAt(p++);
      if (c !== 0) {
        const other = c === 10 ? 13 : 10;
        if (p < n && text.charCodeAt(p) === other) p++;
        if (p < n && text.charCodeAt(p) === 0) p++;
      }
    }
    pos = p;
  }
  return lines;
}

interface PegPair {
  key: string;
  keyOffset: number;
  attr: string | undefined;
  attrOffset: number | undefined;
  op: RuleOperator;
  opOffset: number;
  value: string;
  valueBytes: Uint8Array | undefined;
  valueKind: ValueKind;
  caseInsensitive: boolean;
  valueOffset: number;
  /** The pair's text, as written. */
  text: string;
}

interface PegExpectation {
  type: 'literal' | 'class' | 'any' | 'end' | 'other';
  text?: string;
  description?: string;
  parts?: unknown[];
  inverted?: boolean;
}

type PegOptions = Parameters<typeof pegParse>[1];

/** A piece of a logical line: where it starts in the logical text and in the file. */
interface Segment {
  start: number;
  line: number;
  column: number;
}

const ASCII_ONLY = /^[\x00-\x7f]*$/;

function byteLength(s: string): number {
  return ASCII_ONLY.test(s) ? s.length : Buffer.byteLength(s, 'utf8');
}

/** The segment of a logical line an offset falls in: the last one starting at or before it. */
function segmentOf(segments: Segment[], offset: number): Segment {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (segments[mid].start <= offset) lo = mid;
    else hi = mid - 1;
  }
  return segments[lo];
}

/** Maps an offset of a logical line back to a physical position. */
function positionOf(segments: Segment[], offset: number): SourcePosition {
  const s = segmentOf(segments, offset);
  return { line: s.line, column: s.column + (offset - s.start) };
}

function describeExpectation(e: PegExpectation): string {
  switch (e.type) {
    case 'literal':
      return JSON.stringify(e.text);
    case 'end':
      return 'end of line';
    case 'any':
      return 'any character';
    case 'other':
      return e.description ?? '?';
    case 'class':
      return e.description ?? 'character class';
  }
}

function describeFound(found: string | null): string {
  if (found === null) return 'end of line';
  if (found === '"') return `'"'`;
  return JSON.stringify(found);
}

/** "expected A, B or C, found X" from a peggy error, or the grammar's own message. */
function errorMessage(e: PegSyntaxError): string {
  const expected = e.expected as PegExpectation[] | null | undefined;
  if (!expected || expected.length === 0) return e.message;
  const names = [...new Set(expected.map(describeExpectation))];
  const list = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} or ${names[names.length - 1]}`;
  return `expected ${list}, found ${describeFound(e.found)}`;
}

const FILE_MODE = { mode: 'file' } as unknown as PegOptions;

/** The grammar's own physical-line split (mode "file"); see splitPhysicalLines(). */
export function grammarPhysicalLines(text: string): PhysicalLine[] {
  return pegParse(text, FILE_MODE) as PhysicalLine[];
}

/**
 * Parses the text of one rules file. `file` is only used in locations and messages.
 * Never throws for any input text: problems are returned in `errors`, one per skipped line.
 */
export function parseRules(text: string, file: string, options: ParseRulesOptions = {}): RulesFileAst {
  const { lines: rules, errors } = parseWith(text, file, options, ruleAst);
  return { file, rules, errors };
}

/**
 * parseRules() as the compiler takes it (compileLines()): each line's keys, operators and values with where the line
 * and each key start, and the syntax errors. What only the syntax tree holds (the positions of the operators,
 * attributes and values, the texts) is not made: the rules a daemon loads are parsed this way.
 */
export function parseRuleLines(text: string, file: string, options: ParseRulesOptions = {}): { lines: LineInput[]; errors: RuleSyntaxError[] } {
  return parseWith(text, file, options, lineInput);
}

/** One logical line's pairs as the parser gives them, and where its text maps back to the file. */
interface ParsedLine {
  file: string;
  pairs: PegPair[];
  segments: Segment[];
  /** Offset of the line's text in the input its pairs' offsets count from. */
  shift: number;
  text: string;
  endLine: number;
}

function ruleAst({ file, pairs, segments, shift, text, endLine }: ParsedLine): RuleAst {
  const start = positionOf(segments, 0);
  const tokens: RuleToken[] = pairs.map((p) => {
    const t: RuleToken = {
      key: p.key,
      attr: p.attr,
      op: p.op,
      value: p.value,
      valueKind: p.valueKind,
      caseInsensitive: p.caseInsensitive,
      keyLoc: positionOf(segments, p.keyOffset - shift),
      opLoc: positionOf(segments, p.opOffset - shift),
      valueLoc: positionOf(segments, p.valueOffset - shift),
      text: p.text,
    };
    if (p.attrOffset !== undefined) t.attrLoc = positionOf(segments, p.attrOffset - shift);
    if (p.valueBytes !== undefined) t.valueBytes = p.valueBytes;
    return t;
  });
  return { file, line: start.line, column: start.column, endLine, text, tokens };
}

function lineInput({ pairs, segments, shift }: ParsedLine): LineInput {
  const start = positionOf(segments, 0);
  const tokens: TokenInput[] = new Array(pairs.length);
  for (let i = 0; i < pairs.length; i++) {
    const p = pairs[i]!;
    const at = p.keyOffset - shift;
    const s = segmentOf(segments, at);
    tokens[i] = { key: p.key, attr: p.attr, op: p.op, value: p.value, caseInsensitive: p.caseInsensitive, line: s.line, column: s.column + (at - s.start) };
  }
  return { line: start.line, column: start.column, tokens };
}

function parseWith<L>(text: string, file: string, options: ParseRulesOptions, make: (l: ParsedLine) => L): { lines: L[]; errors: RuleSyntaxError[] } {
  const limit = options.maxLineBytes ?? UDEV_LINE_SIZE;
  const lineOptions = { mode: 'line', caseInsensitivePrefix: options.caseInsensitivePrefix !== false } as unknown as PegOptions;
  const rules: L[] = [];
  const errors: RuleSyntaxError[] = [];
  const physical = splitPhysicalLines(text);

  // the logical line being joined (pending continuation) -- null when there is none
  let parts: string[] | null = null;
  let segments: Segment[] = [];
  let joinedLength = 0; // UTF-16 units
  let joinedBytes = 0; // UTF-8 bytes, as udev counts
  let lastChar = ''; // last character of the joined text
  let full: number[] = []; // indexes of the non-empty parts
  // set when the current logical line is skipped: 'long' reports at its end, 'reported' is silent
  let ignore: '' | 'long' | 'reported' = '';
  let firstLine = 0;
  let backslashAt: SourcePosition = { line: 0, column: 0 };

  const reset = (): void => {
    parts = null;
    segments = [];
    joinedLength = 0;
    joinedBytes = 0;
    lastChar = '';
    full = [];
    ignore = '';
  };

  // logical lines to parse, collected first and parsed in one go at the end
  const pending: { text: string; segments: Segment[]; endLine: number }[] = [];
  const emit = (logical: string, segs: Segment[], endLine: number): void => {
    pending.push({ text: logical, segments: segs, endLine });
  };

  for (let i = 0; i < physical.length; i++) {
    const ph = physical[i];
    const lineNo = i + 1;

    if (byteLength(ph.text) >= limit) {
      // udev's read_line() refuses it (and udev stops reading the file); we skip this line
      errors.push(
        new RuleSyntaxError(
          file,
          lineNo,
          1,
          `line is too long (${byteLength(ph.text)} bytes; udev reads at most ${limit - 1} bytes per line), ignored`,
          'line-too-long',
        ),
      );
      if (ph.kind === 'comment') continue;
      if (parts === null) {
        firstLine = lineNo;
        parts = [];
      }
      ignore = 'reported';
      if (ph.continued) continue;
      reset();
      continue;
    }

    if (ph.kind === 'comment') continue; // even inside a continuation

    const stripped = ph.kind === 'content' ? ph.text.slice(ph.indent) : '';
    const len = byteLength(stripped);

    if (parts !== null && ignore === '') {
      if (joinedBytes + len >= limit) {
        ignore = 'long';
      } else {
        parts.push(stripped);
        // (empty parts get no segment: no character maps to them)
        if (stripped.length > 0) segments.push({ start: joinedLength, line: lineNo, column: ph.indent + 1 });
        joinedLength += stripped.length;
        joinedBytes += len;
        if (stripped.length > 0) {
          lastChar = stripped[stripped.length - 1];
          full.push(parts.length - 1);
        }
      }
    }

    // udev looks at the joined text when joining, else at this line
    const endsWithBackslash = parts !== null && ignore === '' ? lastChar === '\\' : stripped.endsWith('\\');

    if (endsWithBackslash) {
      if (ignore !== '') continue;
      backslashAt = { line: lineNo, column: ph.indent + stripped.length };
      if (parts === null) {
        firstLine = lineNo;
        parts = [stripped.slice(0, -1)];
        segments = stripped.length > 1 ? [{ start: 0, line: lineNo, column: ph.indent + 1 }] : [];
        joinedLength = stripped.length - 1;
        joinedBytes = len - 1;
        full = parts[0].length > 0 ? [0] : [];
      } else {
        // drop the backslash: it is the last character of the last non-empty part (whose
        // segment is the last one)
        const k = full[full.length - 1];
        parts[k] = parts[k].slice(0, -1);
        joinedLength--;
        joinedBytes--;
        if (parts[k].length === 0) full.pop();
      }
      const last = full.length > 0 ? parts[full[full.length - 1]] : '';
      lastChar = last.length > 0 ? last[last.length - 1] : '';
      continue;
    }

    if (ignore === 'long') {
      errors.push(
        new RuleSyntaxError(
          file,
          firstLine,
          1,
          `line is too long (lines ${firstLine}-${lineNo} joined reach udev's limit of ${limit} bytes), ignored`,
          'line-too-long',
        ),
      );
    } else if (ignore === '') {
      if (parts !== null) {
        const logical = parts.join('');
        if (logical.length > 0) emit(logical, segments, lineNo);
      } else if (stripped.length > 0) {
        emit(stripped, [{ start: 0, line: lineNo, column: ph.indent + 1 }], lineNo);
      }
    }
    reset();
  }

  if (parts !== null) {
    errors.push(
      new RuleSyntaxError(
        file,
        backslashAt.line || firstLine,
        backslashAt.column || 1,
        'unexpected end of file after a line continuation (backslash), line ignored',
        'eof-in-continuation',
      ),
    );
  }
  parseLogicalLines(pending, file, lineOptions, make, rules, errors);
  // keep the errors in file order (line-level errors were found before the syntax errors)
  errors.sort((a, b) => a.line - b.line || a.column - b.column);
  return { lines: rules, errors };
}

function parseLogicalLines<L>(
  lines: { text: string; segments: Segment[]; endLine: number }[],
  file: string,
  lineOptions: PegOptions,
  make: (l: ParsedLine) => L,
  rules: L[],
  errors: RuleSyntaxError[],
): void {
  if (lines.length === 0) return;
  const batchOptions = { ...(lineOptions as object), mode: 'lines' } as unknown as PegOptions;
  const results = pegParse(lines.map((l) => l.text).join('\n'), batchOptions) as (PegPair[] | null)[];
  let base = 0; // offset of the current line in the joined input
  for (let i = 0; i < lines.length; i++) {
    const { text, segments, endLine } = lines[i];
    let pairs = results[i];
    let shift = base;
    base += text.length + 1;
    if (pairs === null) {
      // parse it alone for the position and message of the error
      try {
        pairs = pegParse(text, lineOptions) as PegPair[];
        shift = 0;
      } catch (e) {
        if (!(e instanceof PegSyntaxError)) throw e;
        const at = positionOf(segments, e.location.start.offset);
        errors.push(new RuleSyntaxError(file, at.line, at.column, errorMessage(e)));
        continue;
      }
    }
    if (pairs.length === 0) continue; // only separators: udev ignores it ("The line has no effect")
    rules.push(make({ file, pairs, segments, shift, text, endLine }));
  }
}

/** Reads and parses a rules file (decoded as UTF-8; a small file, read at once). */
export async function parseRulesFile(path: string, options: ParseRulesOptions = {}): Promise<RulesFileAst> {
  const text = readFileSync(path, 'utf8');
  return parseRules(text, path, options);
}
