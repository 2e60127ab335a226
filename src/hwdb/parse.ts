// Parser of .hwdb sources (hwdb(7)): records of one or more match lines followed by " KEY=VALUE" property
// lines, ended by an empty line; '#' starts a comment (whole line or trailing). Follows systemd-hwdb's reading
// rules so the same sources give the same database: only a line starting with a space is a property, several
// leading blanks fold into one space, trailing whitespace is dropped, and a malformed line is reported and
// skipped the way systemd-hwdb skips it.
//
// The bytes are scanned directly; strings are latin1 (one char per byte) so every byte of the sources reaches
// hwdb.bin unchanged. Properties are kept in flat arrays (one slot per property line and match) rather than a
// map per match string: the Debian sources have ~120,000 match strings and this keeps allocation low.
import { readFileSync } from 'node:fs';

export interface HwdbDiagnostic {
  file: string;
  /** 1-based line number (0: the file could not be read). */
  line: number;
  message: string;
}

export function formatDiagnostic(d: HwdbDiagnostic): string {
  return `${d.file}:${d.line}: ${d.message}`;
}

/** One property of one match string, with where it came from (hwdb.bin v2 keeps these). */
export interface HwdbValue {
  value: string;
  /** Index into HwdbSources.files. */
  file: number;
  line: number;
  /** 1-based order of the source file: later files win over earlier ones on lookup. */
  priority: number;
}

const SPACE = 0x20;
const TAB = 0x09;
const HASH = 0x23;
const NL = 0x0a;
const EQ = 0x3d;

function isSpace(c: number): boolean {
  return c === SPACE || (c >= 0x09 && c <= 0x0d);
}

/**
 * The parsed contents of a set of source files, in the order they were added (which is their priority).
 * Strings are latin1 (byte) strings.
 */
type Latin1Slicer = (this: Buffer, start: number, end: number) => string;
/**
 * Buffer's own latin1 decoder, without toString's argument handling (measurable at ~250,000 calls per
 * compile). Falls back to toString when the runtime does not have it.
 */
const latin1Slice: Latin1Slicer =
  typeof (Buffer.prototype as unknown as { latin1Slice?: Latin1Slicer }).latin1Slice === 'function'
    ? (Buffer.prototype as unknown as { latin1Slice: Latin1Slicer }).latin1Slice
    : function (this: Buffer, start: number, end: number) {
        return this.toString('latin1', start, end);
      };

/** Match lines are numbered in 3 bytes (see HwdbSources.occ). */
export const MAX_MATCH_LINES = 1 << 24;

/** The match string of a tagged match line. */
export function untag(tagged: string): string {
  return tagged.slice(0, tagged.length - 4);
}

/** The match line index of a tagged match line. */
export function tagIndex(tagged: string): number {
  const n = tagged.length;
  return (tagged.charCodeAt(n - 3) << 16) | (tagged.charCodeAt(n - 2) << 8) | tagged.charCodeAt(n - 1);
}

function growI32(a: Int32Array, min = a.length * 2): Int32Array<ArrayBuffer> {
  const b = new Int32Array(Math.max(min, a.length * 2));
  b.set(a);
  return b;
}

export class HwdbSources {
  readonly files: string[] = [];
  /** The bytes of each file (values and match strings are kept as ranges into these). */
  readonly data: Buffer[] = [];
  readonly diagnostics: HwdbDiagnostic[] = [];
  /**
   * Every match line, in input order, as a tagged string: the match (latin1), a NUL, and the line's index as
   * 3 big-endian bytes. Sorting the tagged strings sorts by match bytes (NUL sorts before any byte, so a
   * prefix still comes first) and then by input order; the compiler reads the index back from the tag.
   * This spares a map from match string to id, which was the largest single cost of compiling.
   */
  readonly occ: string[] = [];
  private scratch = Buffer.alloc(4096);
  /**
   * One slot per (match line, property line): match line index (into occ), key (with its leading space), the value as a byte range
   * of data[file], the file index, the line number, and the first slot of the same property line (one value
   * written once for a record with several match lines).
   */
  count = 0;
  pMatch = new Int32Array(4096);
  pFile = new Int32Array(4096);
  pLine = new Int32Array(4096);
  pVStart = new Int32Array(4096);
  pVEnd = new Int32Array(4096);
  pFirst = new Int32Array(4096);
  pKey: string[] = [];
  matchLines = 0;
  propertyLines = 0;
  records = 0;

  /** Parses one source file's bytes as the next file in priority order. */
  addBytes(data: Uint8Array, file: string): void {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    this.files.push(file);
    this.data.push(buf);
    this.reserve(buf.length >> 5);
    parseInto(this, buf, this.files.length - 1);
  }

  addText(text: string, file: string): void {
    this.addBytes(Buffer.from(text, 'utf8'), file);
  }

  /** Reads and parses a file; an unreadable file is a diagnostic, not an exception. */
  addFile(path: string): void {
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (e) {
      this.files.push(path);
      this.data.push(Buffer.alloc(0));
      this.diagnostics.push({ file: path, line: 0, message: `cannot read: ${(e as Error).message}` });
      return;
    }
    this.addBytes(data, path);
  }

  /** Records the match line buf[start..end); returns its index. */
  addMatch(buf: Buffer, start: number, end: number): number {
    const id = this.occ.length;
    if (id >= MAX_MATCH_LINES) throw new Error(`more than ${MAX_MATCH_LINES} match lines`);
    const len = end - start;
    if (len + 4 > this.scratch.length) this.scratch = Buffer.alloc(len * 2 + 4);
    const sc = this.scratch;
    for (let i = 0; i < len; i++) sc[i] = buf[start + i]!;
    sc[len] = 0;
    sc[len + 1] = id >>> 16;
    sc[len + 2] = (id >>> 8) & 0xff;
    sc[len + 3] = id & 0xff;
    this.occ.push(latin1Slice.call(sc, 0, len + 4));
    return id;
  }

  /** Distinct match strings (latin1) in the order first seen. */
  get matchList(): string[] {
    return [...new Set(this.occ.map(untag))];
  }

  /** Makes room for `more` slots. */
  reserve(more: number): void {
    const need = this.count + more;
    if (need <= this.pMatch.length) return;
    this.pMatch = growI32(this.pMatch, need);
    this.pFile = growI32(this.pFile, need);
    this.pLine = growI32(this.pLine, need);
    this.pVStart = growI32(this.pVStart, need);
    this.pVEnd = growI32(this.pVEnd, need);
    this.pFirst = growI32(this.pFirst, need);
  }

  push(match: number, key: string, file: number, vstart: number, vend: number, line: number, first: number): void {
    const i = this.count++;
    if (i === this.pMatch.length) this.reserve(4096);
    this.pMatch[i] = match;
    this.pFile[i] = file;
    this.pLine[i] = line;
    this.pVStart[i] = vstart;
    this.pVEnd[i] = vend;
    this.pFirst[i] = first < 0 ? i : first;
    this.pKey.push(key);
  }

  /** The value of a property slot (latin1). */
  value(slot: number): string {
    return this.data[this.pFile[slot]!]!.toString('latin1', this.pVStart[slot], this.pVEnd[slot]);
  }

  /**
   * For every match line, the indices of its property slots in input order: slots[start[id] .. start[id+1]).
   * (A counting sort, linear in the number of slots.)
   */
  groups(): { start: Int32Array; slots: Int32Array } {
    const n = this.occ.length;
    const start = new Int32Array(n + 1);
    for (let i = 0; i < this.count; i++) start[this.pMatch[i]! + 1]!++;
    for (let i = 0; i < n; i++) start[i + 1]! += start[i]!;
    const fill = start.slice(0, n);
    const slots = new Int32Array(this.count);
    for (let i = 0; i < this.count; i++) slots[fill[this.pMatch[i]!]!++] = i;
    return { start, slots };
  }

  /**
   * The effective properties of one match string (latin1): key (with its leading space) -> value, sorted by
   * key. A key given again for the same match string replaces the earlier value (later file or line wins).
   */
  properties(match: string): Map<string, HwdbValue> {
    const out = new Map<string, HwdbValue>();
    for (let i = 0; i < this.count; i++) {
      if (untag(this.occ[this.pMatch[i]!]!) !== match) continue;
      out.set(this.pKey[i]!, { value: this.value(i), file: this.pFile[i]!, line: this.pLine[i]!, priority: this.pFile[i]! + 1 });
    }
    return new Map([...out].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  }
}

function quote(buf: Buffer, start: number, end: number): string {
  return `"${buf.toString('utf8', start, end)}"`;
}

function parseInto(db: HwdbSources, buf: Buffer, fileIndex: number): void {
  const file = db.files[fileIndex]!;
  const diag = (line: number, message: string) => db.diagnostics.push({ file, line, message });
  const NONE = 0;
  const MATCH = 1;
  const DATA = 2;
  let state = NONE;
  const matches: number[] = [];
  let nm = 0;
  let lineNo = 0;
  let pos = 0;
  const n = buf.length;
  // The previous key's bytes and string: consecutive properties mostly share keys.
  let lastKeyStart = 0;
  let lastKeyLen = -1;
  let lastKey = '';

  // Position of the next '#' at or after the current line (searched once per '#', not once per line).
  let nextHash = -2;
  // Likewise for NUL: C strings end there, so the rest of such a line is dropped (it cannot be stored).
  let nextNul = -2;
  while (pos < n) {
    const start = pos;
    let end = buf.indexOf(NL, pos);
    if (end < 0) end = n;
    pos = end + 1;
    lineNo++;
    if (nextHash !== -1 && nextHash < start) nextHash = buf.indexOf(HASH, start);
    let hash = nextHash >= 0 && nextHash < end ? nextHash : -1;
    if (nextNul !== -1 && nextNul < start) nextNul = buf.indexOf(0, start);
    if (nextNul >= 0 && nextNul < end && (hash < 0 || nextNul < hash)) hash = nextNul;

    if (start < end && buf[start] === HASH) continue;
    let stop = hash >= 0 ? hash : end;
    while (stop > start && isSpace(buf[stop - 1]!)) stop--;
    const len = stop - start;

    if (state === NONE) {
      if (len === 0) continue;
      if (buf[start] === SPACE) {
        diag(lineNo, `Match expected but got indented property ${quote(buf, start, stop)}, ignoring line.`);
        continue;
      }
      state = MATCH;
      nm = 0;
      matches[nm++] = db.addMatch(buf, start, stop);
      db.matchLines++;
      continue;
    }
    if (len === 0) {
      if (state === MATCH) diag(lineNo, 'Property expected, ignoring record with no properties.');
      state = NONE;
      continue;
    }
    if (buf[start] !== SPACE) {
      if (state === MATCH) {
        matches[nm++] = db.addMatch(buf, start, stop);
        db.matchLines++;
      } else {
        diag(lineNo, `Property or empty line expected, got ${quote(buf, start, stop)}, ignoring record.`);
        state = NONE;
      }
      continue;
    }
    if (state === MATCH) {
      state = DATA;
      db.records++;
    }

    // A property line.
    db.propertyLines++;
    let eq = start;
    while (eq < stop && buf[eq] !== EQ) eq++;
    if (eq >= stop) {
      diag(lineNo, `Key-value pair expected but got ${quote(buf, start, stop)}, ignoring.`);
      continue;
    }
    // Several leading blanks become one: skip while this and the next byte are both blanks.
    let k = start;
    while (k + 1 < eq && isBlank(buf[k]!) && isBlank(buf[k + 1]!)) k++;
    if (k + 1 >= eq) {
      diag(lineNo, `Empty key in ${quote(buf, k, stop)}, ignoring.`);
      continue;
    }
    const klen = eq - k;
    let key: string;
    let same = klen === lastKeyLen;
    for (let j = 0; same && j < klen; j++) same = buf[lastKeyStart + j] === buf[k + j];
    if (same) key = lastKey;
    else {
      key = latin1Slice.call(buf, k, eq);
      lastKey = key;
      lastKeyStart = k;
      lastKeyLen = klen;
    }
    const first = db.count;
    for (let m = 0; m < nm; m++) db.push(matches[m]!, key, fileIndex, eq + 1, stop, lineNo, m === 0 ? -1 : first);
  }
  if (state === MATCH) diag(lineNo, 'Property expected, ignoring record with no properties.');
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

/** Parses the given files in order (the order is the priority: later wins). */
export function parseHwdbFiles(files: readonly string[]): HwdbSources {
  const db = new HwdbSources();
  for (const f of files) db.addFile(f);
  return db;
}
