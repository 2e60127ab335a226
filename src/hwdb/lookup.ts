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
import { closeSync, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { fnmatchBytes } from './fnmatch.js';
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

/** udev's LINE_MAX: the glob path buffer's size. */
const LINE_MAX = 2048;

const STAR = 0x2a;
const QUESTION = 0x3f;
const LBRACKET = 0x5b;
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

interface Found {
  /** Offset of the value entry. */
  entry: number;
}

/** Byte access to the file: either the whole file in memory or read on demand. */
export interface HwdbStorage {
  readonly size: number;
  /** Returns a Buffer holding at least [off, off+len) of the file, and the index of `off` in it. */
  view(off: number, len: number): { buf: Buffer; at: number };
  close(): void;
}

export class BufferStorage implements HwdbStorage {
  constructor(readonly buf: Buffer) {}
  get size(): number {
    return this.buf.length;
  }
  view(off: number): { buf: Buffer; at: number } {
    return { buf: this.buf, at: off };
  }
  close(): void {}
}

/**
 * Reads pages of the file with pread on demand and keeps a bounded number of them (LRU). Kept for the
 * comparison in docs/HWDB.md and for memory-starved setups; the default is BufferStorage.
 */
export class PagedStorage implements HwdbStorage {
  private readonly pages = new Map<number, Buffer>();
  reads = 0;
  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly pageSize = 16384,
    private readonly maxPages = 256,
  ) {}

  private page(n: number): Buffer {
    let p = this.pages.get(n);
    if (p) {
      this.pages.delete(n);
      this.pages.set(n, p);
      return p;
    }
    const start = n * this.pageSize;
    const len = Math.min(this.pageSize, this.size - start);
    p = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const r = readSync(this.fd, p, got, len - got, start + got);
      this.reads++;
      if (r <= 0) throw new HwdbFormatError(`short read at offset ${start + got}`);
      got += r;
    }
    this.pages.set(n, p);
    if (this.pages.size > this.maxPages) this.pages.delete(this.pages.keys().next().value!);
    return p;
  }

  view(off: number, len: number): { buf: Buffer; at: number } {
    const first = Math.floor(off / this.pageSize);
    const last = Math.floor((off + Math.max(len, 1) - 1) / this.pageSize);
    if (first === last) return { buf: this.page(first), at: off - first * this.pageSize };
    const parts: Buffer[] = [];
    for (let n = first; n <= last; n++) parts.push(this.page(n));
    return { buf: Buffer.concat(parts), at: off - first * this.pageSize };
  }

  close(): void {
    this.pages.clear();
    closeSync(this.fd);
  }
}

function u64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x100000000;
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

  private readonly line = new Uint8Array(LINE_MAX);
  private lineLen = 0;
  private search: Buffer = Buffer.alloc(0);
  private found = new Map<string, Found>();

  constructor(
    readonly storage: HwdbStorage,
    readonly path = '<memory>',
    stat?: Stats,
  ) {
    this.stat = stat;
    const size = storage.size;
    if (size < HEADER_SIZE) throw new HwdbFormatError(`too small for a hwdb.bin (${size} bytes)`, path);
    const { buf: h, at } = storage.view(0, HEADER_SIZE);
    if (!h.subarray(at, at + 8).equals(HWDB_SIGNATURE)) throw new HwdbFormatError('not a hwdb.bin (bad signature)', path);
    const fileSize = u64(h, at + H_FILE_SIZE);
    if (fileSize !== size) throw new HwdbFormatError(`header says ${fileSize} bytes but the file has ${size}`, path);
    this.toolVersion = u64(h, at + 8);
    const headerSize = u64(h, at + H_HEADER_SIZE);
    this.nodeSize = u64(h, at + H_NODE_SIZE);
    this.childSize = u64(h, at + H_CHILD_ENTRY_SIZE);
    this.valueSize = u64(h, at + H_VALUE_ENTRY_SIZE);
    this.rootOff = u64(h, at + H_NODES_ROOT_OFF);
    if (headerSize < HEADER_SIZE || this.nodeSize < NODE_SIZE || this.childSize < CHILD_ENTRY_SIZE || this.valueSize < VALUE_ENTRY_SIZE_V1)
      throw new HwdbFormatError('unsupported record sizes in header', path);
    if (this.rootOff < headerSize || this.rootOff + this.nodeSize > size) throw new HwdbFormatError('root node offset out of range', path);
  }

  /** True when the value entries carry file priority and line (systemd-hwdb's v2 layout). */
  get hasProvenance(): boolean {
    return this.valueSize >= VALUE_ENTRY_SIZE_V2;
  }

  /** The bytes of the NUL-terminated string at `off`: buf[at..end). */
  private cstr(off: number): { buf: Buffer; at: number; end: number } {
    let len = 256;
    for (;;) {
      const v = this.view(off, len);
      const end = v.buf.indexOf(0, v.at);
      if (end >= 0) return { buf: v.buf, at: v.at, end };
      if (off + len >= this.storage.size) throw new HwdbFormatError(`unterminated string at offset ${off}`, this.path);
      len *= 4;
    }
  }

  private str(off: number): string {
    const { buf, at, end } = this.cstr(off);
    return buf.toString('utf8', at, end);
  }

  private view(off: number, len: number): { buf: Buffer; at: number } {
    const size = this.storage.size;
    if (off < 0 || off >= size) throw new HwdbFormatError(`offset ${off} out of range`, this.path);
    return this.storage.view(off, Math.min(len, size - off));
  }

  /** Appends a node's prefix (from byte p) to the glob path; returns the number of bytes added, -1 if too long. */
  private addPrefix(prefixOff: number, p: number): number {
    const { buf, at, end } = this.cstr(prefixOff);
    const n = end - at - p;
    if (n <= 0) return 0;
    if (this.lineLen + n >= LINE_MAX - 1) return -1;
    this.line.set(buf.subarray(at + p, end), this.lineLen);
    this.lineLen += n;
    return n;
  }

  private childOf(nodeOff: number, nbuf: Buffer, nat: number, c: number): number {
    const count = nbuf[nat + 8]!;
    let lo = 0;
    let hi = count - 1;
    const base = nat + this.nodeSize;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const mc = nbuf[base + mid * this.childSize]!;
      if (mc === c) return u64(nbuf, base + mid * this.childSize + 8);
      if (mc < c) lo = mid + 1;
      else hi = mid - 1;
    }
    void nodeOff;
    return 0;
  }

  private nodeView(off: number): { buf: Buffer; at: number } {
    const head = this.view(off, this.nodeSize);
    const count = head.buf[head.at + 8]!;
    const nval = u64(head.buf, head.at + 16);
    const len = this.nodeSize + count * this.childSize + nval * this.valueSize;
    if (off + len > this.storage.size) throw new HwdbFormatError(`node at ${off} runs past the end of the file`, this.path);
    if (head.buf.length - head.at >= len) return head;
    return this.view(off, len);
  }

  private addValues(nodeOff: number): void {
    const { buf, at } = this.nodeView(nodeOff);
    const count = buf[at + 8]!;
    const nval = u64(buf, at + 16);
    let e = at + this.nodeSize + count * this.childSize;
    let eoff = nodeOff + this.nodeSize + count * this.childSize;
    for (let i = 0; i < nval; i++, e += this.valueSize, eoff += this.valueSize) {
      const keyOff = u64(buf, e);
      const key = this.str(keyOff);
      if (key.charCodeAt(0) !== 0x20) continue;
      const k = key.slice(1);
      const old = this.found.get(k);
      if (old && this.valueSize >= VALUE_ENTRY_SIZE_V2) {
        const o = this.nodeEntry(old.entry);
        const prio = buf.readUInt16LE(e + 28);
        const line = buf.readUInt32LE(e + 24);
        let lower: boolean;
        if (prio === 0) {
          const fn = u64(buf, e + 16);
          lower = fn < o.filenameOff || (fn === o.filenameOff && line < o.line);
        } else lower = prio < o.priority || (prio === o.priority && line < o.line);
        if (lower) continue;
      }
      if (old) old.entry = eoff;
      else this.found.set(k, { entry: eoff });
    }
  }

  private nodeEntry(entryOff: number): { filenameOff: number; line: number; priority: number } {
    const { buf, at } = this.view(entryOff, this.valueSize);
    return { filenameOff: u64(buf, at + 16), line: buf.readUInt32LE(at + 24), priority: buf.readUInt16LE(at + 28) };
  }

  /** Glob search of the subtree at nodeOff, whose prefix is taken from byte p; `s` is where the rest of the modalias starts. */
  private fnmatchSubtree(nodeOff: number, p: number, s: number): void {
    const { buf, at } = this.nodeView(nodeOff);
    const prefixOff = u64(buf, at);
    const added = this.addPrefix(prefixOff, p);
    if (added < 0) return; // path longer than LINE_MAX: sd-hwdb cannot match it either
    const count = buf[at + 8]!;
    const nval = u64(buf, at + 16);
    const base = at + this.nodeSize;
    for (let i = 0; i < count; i++) {
      const ce = base + i * this.childSize;
      const c = buf[ce]!;
      const childOff = u64(buf, ce + 8);
      if (this.lineLen >= LINE_MAX - 1) continue;
      this.line[this.lineLen++] = c;
      this.fnmatchSubtree(childOff, 0, s);
      this.lineLen--;
    }
    if (nval > 0 && fnmatchBytes(this.line, this.lineLen, this.search, s, this.search.length)) this.addValues(nodeOff);
    this.lineLen -= added;
  }

  private searchTrie(): void {
    const search = this.search;
    const slen = search.length;
    let nodeOff = this.rootOff;
    let i = 0;
    this.lineLen = 0;
    while (nodeOff) {
      const { buf, at } = this.nodeView(nodeOff);
      const prefixOff = u64(buf, at);
      if (prefixOff) {
        const { buf: pb, at: pat, end: pend } = this.cstr(prefixOff);
        const plen = pend - pat;
        let p = 0;
        for (; p < plen; p++) {
          const c = pb[pat + p]!;
          if (c === STAR || c === QUESTION || c === LBRACKET) {
            this.fnmatchSubtree(nodeOff, p, i + p);
            return;
          }
          if (i + p >= slen || c !== search[i + p]) return;
        }
        i += p;
      }
      for (const g of GLOB_CHARS) {
        const child = this.childOf(nodeOff, buf, at, g);
        if (child) {
          this.line[this.lineLen++] = g;
          this.fnmatchSubtree(child, 0, i);
          this.lineLen--;
        }
      }
      if (i >= slen) {
        this.addValues(nodeOff);
        return;
      }
      nodeOff = this.childOf(nodeOff, buf, at, search[i]!);
      i++;
    }
  }

  /** The properties for a modalias (or any lookup string), in sd-hwdb's order. */
  lookup(modalias: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const m of this.lookupEntries(modalias, false)) out.set(m.key, m.value);
    return out;
  }

  /** Like lookup, with the source file and line of each property when the file records them. */
  lookupEntries(modalias: string, provenance = true): HwdbMatch[] {
    this.search = Buffer.from(modalias, 'utf8');
    this.found = new Map();
    this.searchTrie();
    const out: HwdbMatch[] = [];
    for (const [key, f] of this.found) {
      const { buf, at } = this.view(f.entry, this.valueSize);
      const m: HwdbMatch = { key, value: this.str(u64(buf, at + 8)) };
      if (provenance && this.valueSize >= VALUE_ENTRY_SIZE_V2) {
        m.file = this.str(u64(buf, at + 16));
        m.line = buf.readUInt32LE(at + 24);
        m.priority = buf.readUInt16LE(at + 28);
      }
      out.push(m);
    }
    this.found = new Map();
    return out;
  }

  /** True when the file at `path` is no longer the one that was opened (replaced, rewritten or removed). */
  changed(): boolean {
    if (!this.stat) return false;
    let now: Stats;
    try {
      now = statSync(this.path);
    } catch {
      return true;
    }
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
