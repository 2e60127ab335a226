// Lookup in a hwdb.bin file (systemd's layout, v1 or v2 value entries), with sd-hwdb's semantics:
//
// - Walk the trie along the modalias. At every node, the children '*', '?' and '[' start a glob search of
//   their whole subtree: each node there with values is tested with fnmatch(path-so-far, rest-of-modalias).
//   A '*', '?' or '[' inside a node's prefix does the same from that point.
// - At the node where the modalias ends, that node's own values apply.
// - Properties are collected in the order they are first found; a key found again replaces the value in place
//   unless (v2 files) the earlier one came from a later source file, or the same file at a later line.
// - Keys not starting with a space are ignored (reserved); the space is removed.
//
// The whole file is kept in one Buffer (see docs/HWDB.md for the measurements behind that choice).
import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { endianness } from 'node:os';
import { fnmatchBytes } from '../util/fnmatch.js';
import {
  CHILD_ENTRY_SIZE,
  HEADER_SIZE,
  HWDB_SIGNATURE,
  H_CHILD_ENTRY_SIZE,
  H_FILE_SIZE,
  H_HEADER_SIZE,
  H_NODES_ROOT_OFF,
  H_NODE_SIZE,
  H_VALUE_ENTRY_SIZE,
  HwdbFormatError,
  NODE_SIZE,
  VALUE_ENTRY_SIZE_V1,
  VALUE_ENTRY_SIZE_V2,
} from './format.js';
import { statIfAny } from '../util/fs.js';

/** udev's LINE_MAX: the glob path buffer's size. */
const LINE_MAX = 2048;

const STAR = 0x2a;
const QUESTION = 0x3f;
const LBRACKET = 0x5b;
const BACKSLASH = 0x5c;
const GLOB_CHARS = [STAR, QUESTION, LBRACKET] as const;

/** One property found by a lookup, with its provenance when the file records it (v2). */
export interface HwdbMatch {
  key: string;
  value: string;
  /** Source file name (v2 files only). */
  file?: string;
  line?: number;
  priority?: number;
}

/** Byte access to the file by absolute offset: the whole file in memory, or pages read on demand. */
export interface HwdbStorage {
  readonly size: number;
  u8(off: number): number;
  u32(off: number): number;
  /** A little-endian 64-bit field (hwdb.bin's offsets and counts), as a number. */
  u64(off: number): number;
  /**
   * Where the bytes [off, off + len) lie together in `bytes`, or -1 when they do not (pages read on demand: the
   * range crosses a page). Valid until the next access of another byte. Lets a hot loop read bytes without a call
   * per byte, which V8's interpreter and Sparkplug (the daemon runs no optimizing compiler) do not inline.
   */
  span(off: number, len: number): number;
  /** The array `span()` indexes. */
  readonly bytes: Uint8Array;
  /** Offset of the first NUL byte at or after off, or -1. */
  nul(off: number): number;
  /** Copies the bytes [off, end) into target at t. */
  copy(off: number, end: number, target: Uint8Array, t: number): void;
  /** The bytes [off, end) decoded as UTF-8. */
  str(off: number, end: number): string;
  close(): void;
}

const LITTLE_ENDIAN = endianness() === 'LE';

/** A little-endian 64-bit field read as two 32-bit halves (the storages' u64() where no faster read applies). */
function u64Of(s: Pick<HwdbStorage, 'u32'>, off: number): number {
  const hi = s.u32(off + 4);
  return hi === 0 ? s.u32(off) : s.u32(off) + hi * 0x100000000;
}

export class BufferStorage implements HwdbStorage {
  readonly size: number;
  /** Aligned u32 view (little-endian hosts, 4-aligned buffer); the fields of hwdb.bin are 4-aligned. */
  private readonly w: Uint32Array | undefined;
  constructor(readonly buf: Buffer) {
    this.size = buf.length;
    if (LITTLE_ENDIAN && buf.byteOffset % 4 === 0) this.w = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >> 2);
  }
  u8(off: number): number {
    return this.buf[off]!;
  }
  u32(off: number): number {
    const w = this.w;
    if (w !== undefined && (off & 3) === 0) {
      const v = w[off >> 2];
      if (v !== undefined) return v;
    }
    // byte by byte: Buffer's readUInt32LE validates its offset through a wrapper that allocates on every call
    const b = this.buf;
    if (off < 0 || off + 4 > b.length) throw new RangeError(`offset ${off} is out of range`);
    return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16)) + b[off + 3]! * 0x1000000;
  }
  u64(off: number): number {
    return u64Of(this, off);
  }
  get bytes(): Uint8Array {
    return this.buf;
  }
  span(off: number, len: number): number {
    return off >= 0 && len >= 0 && off + len <= this.size ? off : -1;
  }
  nul(off: number): number {
    return this.buf.indexOf(0, off);
  }
  copy(off: number, end: number, target: Uint8Array, t: number): void {
    if (end - off < 32) for (let i = off; i < end; i++) target[t++] = this.buf[i]!;
    else target.set(this.buf.subarray(off, end), t);
  }
  str(off: number, end: number): string {
    return this.buf.toString('utf8', off, end);
  }
  close(): void {}
}

/**
 * Reads pages of the file with pread on demand and keeps a bounded number of them (the daemon's: docs/HWDB.md).
 * A byte access is two typed-array reads: the page's slot from a table of every page of the file, then the byte
 * from the slab. When the slab is full, the page to drop is chosen by CLOCK (an approximation of least recently
 * used: a slot's "used" bit, set at each access, cleared as the hand passes), not by a list kept in order, which
 * cost a Map's delete and set at each access to another page than the last.
 */
export class PagedStorage implements HwdbStorage {
  /** page number -> its slot in the slab, -1 while not read. */
  private readonly slotOf: Int32Array;
  /** slot -> the page it holds, -1 while free. */
  private readonly pageOf: Int32Array;
  /** slot -> accessed since the clock hand last passed it. */
  private readonly used: Uint8Array;
  private hand = 0;
  private filled = 0;
  /** One allocation for every cached page: memory stays at maxPages * pageSize. */
  private readonly slab: Buffer;
  /** The slab as aligned 32-bit words (little-endian hosts): hwdb.bin's fields are 4-aligned. */
  private readonly words: Uint32Array | undefined;
  private readonly shift: number;
  private readonly mask: number;
  reads = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly pageSize = 4096,
    maxPages = 1024,
  ) {
    this.shift = Math.log2(pageSize);
    if (!Number.isInteger(this.shift) || pageSize < 8) throw new RangeError(`page size ${pageSize} is not a power of two of at least 8`);
    if (size >= 2 ** 31) throw new HwdbFormatError(`too large for a hwdb.bin (${size} bytes)`);
    this.mask = pageSize - 1;
    const pages = Math.ceil(size / pageSize);
    const n = Math.max(1, Math.min(maxPages, pages));
    this.slab = Buffer.allocUnsafe(n * pageSize);
    this.words = LITTLE_ENDIAN && this.slab.byteOffset % 4 === 0 ? new Uint32Array(this.slab.buffer, this.slab.byteOffset, this.slab.length >> 2) : undefined;
    this.slotOf = new Int32Array(pages).fill(-1);
    this.pageOf = new Int32Array(n).fill(-1);
    this.used = new Uint8Array(n);
  }

  /** The slot holding page n, read into the slab first when it is not there. */
  private slot(n: number): number {
    const s = this.slotOf[n]!;
    if (s >= 0) {
      this.used[s] = 1;
      return s;
    }
    return this.load(n);
  }

  private load(n: number): number {
    const start = n * this.pageSize;
    if (!(n >= 0 && start < this.size)) throw new HwdbFormatError(`offset ${start} out of range`);
    let s: number;
    if (this.filled < this.pageOf.length) s = this.filled++;
    else {
      const used = this.used;
      while (used[this.hand] === 1) {
        used[this.hand] = 0;
        this.hand = this.hand + 1 === used.length ? 0 : this.hand + 1;
      }
      s = this.hand;
      this.hand = this.hand + 1 === used.length ? 0 : this.hand + 1;
      this.slotOf[this.pageOf[s]!] = -1;
    }
    this.pageOf[s] = -1; // until its bytes are all there
    const len = Math.min(this.pageSize, this.size - start);
    const at = s << this.shift;
    let got = 0;
    while (got < len) {
      const r = readSync(this.fd, this.slab, at + got, len - got, start + got);
      this.reads++;
      if (r <= 0) throw new HwdbFormatError(`short read at offset ${start + got}`);
      got += r;
    }
    this.pageOf[s] = n;
    this.slotOf[n] = s;
    this.used[s] = 1;
    return s;
  }

  /** The slab index of the byte at off (checked against the file's size). */
  private at(off: number): number {
    if (!(off >= 0 && off < this.size)) throw new HwdbFormatError(`offset ${off} out of range`);
    return (this.slot(off >>> this.shift) << this.shift) | (off & this.mask);
  }

  u8(off: number): number {
    return this.slab[this.at(off)]!;
  }
  u32(off: number): number {
    if ((off & this.mask) + 4 > this.pageSize || off + 4 > this.size) return (this.u8(off) | (this.u8(off + 1) << 8) | (this.u8(off + 2) << 16)) + this.u8(off + 3) * 0x1000000;
    const i = this.at(off);
    const w = this.words;
    if (w !== undefined && (i & 3) === 0) return w[i >> 2]!;
    const b = this.slab;
    return (b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16)) + b[i + 3]! * 0x1000000;
  }
  u64(off: number): number {
    const w = this.words;
    // both halves from one page, aligned (hwdb.bin's 64-bit fields are 8-aligned): one page look-up
    if (w !== undefined && (off & this.mask) + 8 <= this.pageSize && off + 8 <= this.size) {
      const i = this.at(off);
      if ((i & 3) === 0) {
        const hi = w[(i >> 2) + 1]!;
        return hi === 0 ? w[i >> 2]! : w[i >> 2]! + hi * 0x100000000;
      }
    }
    return u64Of(this, off);
  }
  get bytes(): Uint8Array {
    return this.slab;
  }
  span(off: number, len: number): number {
    if (!(len >= 1 && off + len <= this.size) || off >>> this.shift !== (off + len - 1) >>> this.shift) return -1;
    return this.at(off);
  }
  nul(off: number): number {
    const b = this.slab;
    for (let o = off; o < this.size; ) {
      const i = this.at(o);
      // to the end of this page, or of the file
      const stop = i + Math.min(this.pageSize - (o & this.mask), this.size - o);
      for (let j = i; j < stop; j++) if (b[j] === 0) return o + (j - i);
      o += stop - i;
    }
    return -1;
  }
  copy(off: number, end: number, target: Uint8Array, t: number): void {
    const b = this.slab;
    for (let o = off; o < end; ) {
      const i = this.at(o);
      // to the end of this page, of the range or of the file (past the file, the next at() throws)
      const n = Math.min(this.pageSize - (o & this.mask), end - o, this.size - o);
      for (let j = 0; j < n; j++) target[t++] = b[i + j]!;
      o += n;
    }
  }
  str(off: number, end: number): string {
    if (end <= off) return '';
    // within one page (nearly every key and value): decoded from the slab as it is
    const i = this.span(off, end - off);
    if (i >= 0) return this.slab.toString('utf8', i, i + (end - off));
    const b = Buffer.allocUnsafe(end - off);
    this.copy(off, end, b, 0);
    return b.toString('utf8');
  }
  close(): void {
    this.slotOf.fill(-1);
    closeSync(this.fd);
  }
}

export interface OpenOptions {
  /** 'buffer' (default): read the file into one Buffer. 'paged': pread pages on demand. */
  storage?: 'buffer' | 'paged';
}

/** An open hwdb.bin. */
export class Hwdb {
  readonly nodeSize: number;
  readonly childSize: number;
  readonly valueSize: number;
  readonly rootOff: number;
  readonly toolVersion: number;
  /** Identity of the file when it was opened, to tell when it changed on disk. */
  readonly stat: Stats | undefined;

  private readonly s: HwdbStorage;
  private readonly line = new Uint8Array(LINE_MAX);
  private lineLen = 0;
  private search: Buffer = Buffer.alloc(0);
  /** key (without its space) -> offset of the winning value entry, in the order first found. */
  private found = new Map<string, number>();
  /** Decoded keys by string offset (there are few distinct keys). */
  private readonly keyCache = new Map<number, string>();
  /** A valid trie visits each node at most once per lookup; more means a damaged file with a cycle. */
  private readonly maxVisits: number;
  private visits = 0;

  constructor(
    readonly storage: HwdbStorage,
    readonly path = '<memory>',
    stat?: Stats,
  ) {
    this.s = storage;
    this.stat = stat;
    const size = storage.size;
    if (size < HEADER_SIZE) throw new HwdbFormatError(`too small for a hwdb.bin (${size} bytes)`, path);
    for (let i = 0; i < 8; i++) if (storage.u8(i) !== HWDB_SIGNATURE[i]) throw new HwdbFormatError('not a hwdb.bin (bad signature)', path);
    const fileSize = this.u64(H_FILE_SIZE);
    if (fileSize !== size) throw new HwdbFormatError(`header says ${fileSize} bytes but the file has ${size}`, path);
    this.toolVersion = this.u64(8);
    const headerSize = this.u64(H_HEADER_SIZE);
    this.nodeSize = this.u64(H_NODE_SIZE);
    this.childSize = this.u64(H_CHILD_ENTRY_SIZE);
    this.valueSize = this.u64(H_VALUE_ENTRY_SIZE);
    this.rootOff = this.u64(H_NODES_ROOT_OFF);
    if (headerSize < HEADER_SIZE || this.nodeSize < NODE_SIZE || this.childSize < CHILD_ENTRY_SIZE || this.valueSize < VALUE_ENTRY_SIZE_V1)
      throw new HwdbFormatError('unsupported record sizes in header', path);
    if (this.nodeSize > 4096 || this.childSize > 4096 || this.valueSize > 4096) throw new HwdbFormatError('implausible record sizes in header', path);
    if (this.rootOff < headerSize || this.rootOff + this.nodeSize > size) throw new HwdbFormatError('root node offset out of range', path);
    this.maxVisits = Math.floor(size / this.nodeSize) + 1;
  }

  /** True when the value entries carry file priority and line (systemd-hwdb's v2 layout). */
  get hasProvenance(): boolean {
    return this.valueSize >= VALUE_ENTRY_SIZE_V2;
  }

  private u64(off: number): number {
    return this.s.u64(off);
  }

  private strAt(off: number): string {
    const end = this.s.nul(off);
    if (end < 0) throw new HwdbFormatError(`unterminated string at offset ${off}`, this.path);
    return this.s.str(off, end);
  }

  private keyAt(off: number): string {
    let k = this.keyCache.get(off);
    if (k === undefined) {
      k = this.strAt(off);
      if (this.keyCache.size < 65536) this.keyCache.set(off, k);
    }
    return k;
  }

  /** Binary search of a node's children for byte c; returns the child's offset or 0. */
  private childOf(nodeOff: number, c: number): number {
    const s = this.s;
    let lo = 0;
    let hi = s.u8(nodeOff + 8) - 1;
    const base = nodeOff + this.nodeSize;
    const size = this.childSize;
    // the child entries' first bytes straight from the storage's array where they lie together (nearly always)
    const at = hi >= 0 ? s.span(base, (hi + 1) * size) : -1;
    const b = s.bytes;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const e = base + mid * size;
      const mc = at >= 0 ? b[at + mid * size]! : s.u8(e);
      if (mc === c) return this.u64(e + 8);
      if (mc < c) lo = mid + 1;
      else hi = mid - 1;
    }
    return 0;
  }

  private addValues(nodeOff: number): void {
    const s = this.s;
    const count = s.u8(nodeOff + 8);
    const nval = this.u64(nodeOff + 16);
    const v2 = this.valueSize >= VALUE_ENTRY_SIZE_V2;
    let e = nodeOff + this.nodeSize + count * this.childSize;
    for (let i = 0; i < nval; i++, e += this.valueSize) {
      const keyOff = this.u64(e);
      if (s.u8(keyOff) !== 0x20) continue; // keys without a leading space are reserved
      const k = this.keyAt(keyOff + 1);
      const old = this.found.get(k);
      if (old !== undefined && v2) {
        // On duplicates keep the value from the later file, or the later line of the same file.
        const prio = s.u32(e + 28) & 0xffff;
        const line = s.u32(e + 24);
        const oprio = s.u32(old + 28) & 0xffff;
        const oline = s.u32(old + 24);
        let lower: boolean;
        if (prio === 0) {
          const fn = this.u64(e + 16);
          const ofn = this.u64(old + 16);
          lower = fn < ofn || (fn === ofn && line < oline);
        } else lower = prio < oprio || (prio === oprio && line < oline);
        if (lower) continue;
      }
      this.found.set(k, e);
    }
  }

  /**
   * Glob search of the subtree at nodeOff, whose prefix is taken from byte p; `from` is where the rest of the
   * modalias starts. Subtrees in which no pattern can match are skipped (see nfaStep).
   */
  private fnmatchSubtree(nodeOff: number, p: number, from: number): void {
    const s = this.s;
    if (++this.visits > this.maxVisits) throw new HwdbFormatError('corrupt database: the trie has a cycle', this.path);
    const prefixOff = this.u64(nodeOff);
    const pend = s.nul(prefixOff + p);
    if (pend < 0) throw new HwdbFormatError(`unterminated prefix at offset ${prefixOff}`, this.path);
    const added = pend - (prefixOff + p);
    if (this.lineLen + added >= LINE_MAX - 1) return; // longer than sd-hwdb's line buffer: it cannot match either
    s.copy(prefixOff + p, pend, this.line, this.lineLen);
    const start = this.lineLen;
    this.lineLen += added;
    if (this.track(start)) {
      const count = s.u8(nodeOff + 8);
      const base = nodeOff + this.nodeSize;
      for (let i = 0; i < count; i++) {
        const ce = base + i * this.childSize;
        if (this.lineLen >= LINE_MAX - 1) break;
        this.line[this.lineLen++] = s.u8(ce);
        if (this.track(this.lineLen - 1)) this.fnmatchSubtree(this.u64(ce + 8), 0, from);
        this.untrack(--this.lineLen);
      }
      if (this.u64(nodeOff + 16) > 0 && this.patternMatches(from)) this.addValues(nodeOff);
    }
    this.untrack((this.lineLen -= added));
  }

  // The glob walk's pattern is line[0..lineLen). For its first nfaLen bytes (all of them unless a '[' or '\'
  // came up), the rows of nfa hold what the pattern's first k bytes can match: bit j of row k is set when they
  // match the first j bytes of the rest of the modalias. With fnmatch's flags 0, '*', '?' and plain bytes are
  // all there is to that (no special '/' or '.'), so the rows are exact; an empty row means that no pattern
  // starting this way can match, and the subtree below is skipped. Brackets and escapes are left to fnmatch.
  private nfa = new Uint32Array(64);
  private nfaWords = 1;
  private nfaLen = 0;
  private nfaFrom = 0;
  private restLen = 0;

  /** Starts tracking a glob walk matched against search[from..]. */
  private nfaStart(from: number): void {
    this.nfaFrom = from;
    this.restLen = this.search.length - from;
    this.nfaWords = (this.restLen >> 5) + 1;
    this.nfa.fill(0, 0, this.nfaWords);
    this.nfa[0] = 1; // the empty pattern matches the empty string
    this.nfaLen = 0;
  }

  /** Feeds line[start..lineLen) to the tracker; false when no pattern beginning with these bytes can match. */
  private track(start: number): boolean {
    for (let k = start; k < this.lineLen && this.nfaLen === k; k++) {
      const c = this.line[k]!;
      if (c === LBRACKET || c === BACKSLASH) break;
      if (!this.nfaStep(c)) return false;
    }
    return true;
  }

  /** The pattern is back to `len` bytes. */
  private untrack(len: number): void {
    if (this.nfaLen > len) this.nfaLen = len;
  }

  /** Row nfaLen+1 from row nfaLen and pattern byte c; false when it is empty. */
  private nfaStep(c: number): boolean {
    const W = this.nfaWords;
    const src = this.nfaLen * W;
    const dst = src + W;
    if (dst + W > this.nfa.length) {
      const grown = new Uint32Array(Math.max(this.nfa.length * 2, dst + W));
      grown.set(this.nfa);
      this.nfa = grown;
    }
    const a = this.nfa;
    const n = this.restLen;
    // Bits above n (past the end of the modalias) stay clear.
    const top = n - (W - 1) * 32 + 1; // bits used in the last word: 1..32
    const lastMask = top === 32 ? 0xffffffff : (1 << top) - 1;
    let any = 0;
    if (c === STAR) {
      let low = -1;
      for (let w = 0; w < W && low < 0; w++) if (a[src + w]) low = w * 32 + 31 - Math.clz32(a[src + w]! & -a[src + w]!);
      for (let w = 0; w < W; w++) {
        const lo = w * 32;
        let m = lo >= low ? 0xffffffff : lo + 32 <= low ? 0 : 0xffffffff << (low - lo);
        if (w === W - 1) m &= lastMask;
        a[dst + w] = m;
        any |= m;
      }
    } else if (c === QUESTION) {
      let carry = 0;
      for (let w = 0; w < W; w++) {
        const x = a[src + w]!;
        let m = (x << 1) | carry;
        carry = x >>> 31;
        if (w === W - 1) m &= lastMask;
        a[dst + w] = m;
        any |= m;
      }
    } else {
      const search = this.search;
      const from = this.nfaFrom;
      a.fill(0, dst, dst + W);
      for (let w = 0; w < W; w++) {
        let x = a[src + w]!;
        while (x !== 0) {
          const j = w * 32 + 31 - Math.clz32(x & -x);
          x &= x - 1;
          if (j < n && search[from + j] === c) {
            a[dst + ((j + 1) >> 5)]! |= 1 << ((j + 1) & 31);
            any = 1;
          }
        }
      }
    }
    this.nfaLen++;
    return any !== 0;
  }

  /** Whether the whole pattern line[0..lineLen) matches search[from..] (fnmatch with flags 0). */
  private patternMatches(from: number): boolean {
    if (this.nfaLen === this.lineLen) {
      const n = this.restLen;
      return (this.nfa[this.lineLen * this.nfaWords + (n >> 5)]! & (1 << (n & 31))) !== 0;
    }
    return fnmatchBytes(this.line, this.lineLen, this.search, from, this.search.length);
  }

  private searchTrie(): void {
    const s = this.s;
    const search = this.search;
    const slen = search.length;
    let nodeOff = this.rootOff;
    let i = 0;
    this.lineLen = 0;
    while (nodeOff) {
      const prefixOff = this.u64(nodeOff);
      if (prefixOff) {
        for (let p = 0; ; p++) {
          const c = s.u8(prefixOff + p);
          if (c === 0) {
            i += p;
            break;
          }
          if (c === STAR || c === QUESTION || c === LBRACKET) {
            this.nfaStart(i + p);
            this.fnmatchSubtree(nodeOff, p, i + p);
            return;
          }
          if (i + p >= slen || c !== search[i + p]) return;
        }
      }
      for (let g = 0; g < 3; g++) {
        const glob = GLOB_CHARS[g]!;
        const child = this.childOf(nodeOff, glob);
        if (child) {
          this.nfaStart(i);
          this.line[0] = glob;
          this.lineLen = 1;
          if (this.track(0)) this.fnmatchSubtree(child, 0, i);
          this.lineLen = 0;
        }
      }
      if (i >= slen) {
        this.addValues(nodeOff);
        return;
      }
      nodeOff = this.childOf(nodeOff, search[i]!);
      i++;
    }
  }

  private run(modalias: string): void {
    this.search = Buffer.from(modalias, 'utf8');
    this.found = new Map();
    this.visits = 0;
    try {
      this.searchTrie();
    } catch (e) {
      if (e instanceof HwdbFormatError) throw e;
      if (e instanceof RangeError) throw new HwdbFormatError(`corrupt database: ${e.message}`, this.path);
      throw e;
    }
  }

  /** The properties for a modalias (or any lookup string), in sd-hwdb's order. */
  lookup(modalias: string): Map<string, string> {
    this.run(modalias);
    const out = new Map<string, string>();
    for (const [key, e] of this.found) out.set(key, this.strAt(this.u64(e + 8)));
    this.found = new Map();
    return out;
  }

  /** Like lookup, with the source file, line and priority of each property when the file records them (v2). */
  lookupEntries(modalias: string, provenance = true): HwdbMatch[] {
    this.run(modalias);
    const out: HwdbMatch[] = [];
    for (const [key, e] of this.found) {
      const m: HwdbMatch = { key, value: this.strAt(this.u64(e + 8)) };
      if (provenance && this.valueSize >= VALUE_ENTRY_SIZE_V2) {
        m.file = this.strAt(this.u64(e + 16));
        m.line = this.s.u32(e + 24);
        m.priority = this.s.u32(e + 28) & 0xffff;
      }
      out.push(m);
    }
    this.found = new Map();
    return out;
  }

  /** True when the file at `path` is no longer the one that was opened (replaced, rewritten or removed). */
  changed(): boolean {
    if (!this.stat) return false;
    const now = statIfAny(this.path);
    if (!now) return true;
    return now.ino !== this.stat.ino || now.dev !== this.stat.dev || now.size !== this.stat.size || now.mtimeMs !== this.stat.mtimeMs;
  }

  close(): void {
    this.storage.close();
  }
}

/** Opens a hwdb.bin file. Throws HwdbFormatError (or the fs error) with the path in the message. */
export function openHwdb(path: string, opts: OpenOptions = {}): Hwdb {
  const fd = openSync(path, 'r');
  let keepOpen = false;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new HwdbFormatError('not a regular file', path);
    if (opts.storage === 'paged') {
      const db = new Hwdb(new PagedStorage(fd, st.size), path, st);
      keepOpen = true;
      return db;
    }
    const buf = Buffer.allocUnsafe(st.size);
    let got = 0;
    while (got < st.size) {
      const r = readSync(fd, buf, got, st.size - got, got);
      if (r <= 0) break;
      got += r;
    }
    return new Hwdb(new BufferStorage(got === st.size ? buf : buf.subarray(0, got)), path, st);
  } finally {
    if (!keepOpen) closeSync(fd);
  }
}

/** Opens hwdb.bin bytes held in memory (e.g. just compiled). */
export function hwdbFromBuffer(buf: Buffer, name = '<memory>'): Hwdb {
  return new Hwdb(new BufferStorage(buf), name);
}
