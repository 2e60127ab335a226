// The hwdb compiler's inner loops, in AssemblyScript (compiled to WebAssembly by `npm run build`; see
// ../kernel.ts for the TypeScript side and docs/HWDB.md for why). It parses .hwdb source bytes and builds the
// radix trie of hwdb.bin in one pass over the sorted match strings.
//
// Everything lives in linear memory: the source files (read in by the host), tables of match lines,
// property slots and diagnostics, and the output. Nothing is garbage-collected: tables are raw memory from
// the runtime's allocator (heap.alloc/realloc), grown by doubling. Freed memory is reused, so every byte of
// the output is written explicitly (padding included).
//
// The reading rules are systemd-hwdb's (see ../parse.ts for the prose): lines end as read_line() ends them
// ('\n', '\r', NUL and their combinations); a line starting with '#' is a comment; '#' ends the line's text;
// trailing whitespace is dropped; only a line starting with a space is a property line.

// ---- growable i32 tables ----------------------------------------------------------------------------------

@unmanaged
class Vec {
  ptr: usize = 0;
  len: i32 = 0;
  cap: i32 = 0;
}

function vec(cap: i32): Vec {
  const v = new Vec();
  v.ptr = heap.alloc(<usize>cap << 2);
  v.cap = cap;
  return v;
}

function grow(v: Vec, min: i32): void {
  let cap = v.cap << 1;
  if (cap < min) cap = min;
  v.ptr = heap.realloc(v.ptr, <usize>cap << 2);
  v.cap = cap;
}

// @ts-ignore: decorator
@inline function push(v: Vec, x: i32): void {
  if (v.len == v.cap) grow(v, v.len + 1);
  store<i32>(v.ptr + (<usize>v.len << 2), x);
  v.len++;
}

// @ts-ignore: decorator
@inline function at(v: Vec, i: i32): i32 {
  return load<i32>(v.ptr + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function set(v: Vec, i: i32, x: i32): void {
  store<i32>(v.ptr + (<usize>i << 2), x);
}

/** A zero-filled table of n entries. */
function zeros(n: i32): usize {
  const p = table(n);
  memory.fill(p, 0, <usize>n << 2);
  return p;
}

// ---- parsed sources -----------------------------------------------------------------------------------------

// Match lines, in input order: start address and length of the text.
const mStart = vec(4096);
const mLen = vec(4096);
// Property slots, one per (match line, property line): match line, key id, value range, file, line, and the
// first slot of the same property line (its value is stored once for all the record's match lines).
const pMatch = vec(4096);
const pKey = vec(4096);
const pVStart = vec(4096);
const pVEnd = vec(4096);
const pFile = vec(4096);
const pLine = vec(4096);
const pFirst = vec(4096);
// Distinct property keys (with their leading blank): start and length of the first occurrence.
const kStart = vec(64);
const kLen = vec(64);
let kHash: usize = 0; // open addressing: key id + 1, or 0
let kHashCap: i32 = 0;
// Diagnostics: kind (DIAG_*), file, line, text range.
const dKind = vec(64);
const dFile = vec(64);
const dLine = vec(64);
const dStart = vec(64);
const dEnd = vec(64);

export const DIAG_INDENTED_MATCH: i32 = 1;
export const DIAG_NO_PROPERTIES: i32 = 2;
export const DIAG_MATCH_AFTER_PROPERTY: i32 = 3;
export const DIAG_NO_EQUALS: i32 = 4;
export const DIAG_EMPTY_KEY: i32 = 5;
export const DIAG_LINE_TOO_LONG: i32 = 6;

/** systemd's LONG_LINE_MAX: read_line() fails on a line of this many bytes or more. */
const LONG_LINE_MAX: usize = 1024 * 1024;

export let matchLines: i32 = 0;
export let propertyLines: i32 = 0;
export let records: i32 = 0;

export function alloc(n: i32): usize {
  return heap.alloc(n > 0 ? <usize>n : 1);
}

function diag(kind: i32, file: i32, line: i32, start: usize, end: usize): void {
  push(dKind, kind);
  push(dFile, file);
  push(dLine, line);
  push(dStart, <i32>start);
  push(dEnd, <i32>end);
}

// @ts-ignore: decorator
@inline function isSpace(c: u32): bool {
  return c == 0x20 || (c - 0x09) <= 4;
}

// @ts-ignore: decorator
@inline function isBlank(c: u32): bool {
  return c == 0x20 || c == 0x09;
}

function hashBytes(p: usize, n: i32): u32 {
  let h: u32 = 2166136261;
  for (let i = 0; i < n; i++) h = (h ^ load<u8>(p + i)) * 16777619;
  return h;
}

function sameBytes(a: usize, b: usize, n: i32): bool {
  for (let i = 0; i < n; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

function rehashKeys(cap: i32): void {
  kHash = zeros(cap);
  kHashCap = cap;
  for (let id = 0; id < kStart.len; id++) {
    let h = hashBytes(at(kStart, id), at(kLen, id)) & <u32>(cap - 1);
    while (load<i32>(kHash + (<usize>h << 2)) != 0) h = (h + 1) & <u32>(cap - 1);
    store<i32>(kHash + (<usize>h << 2), id + 1);
  }
}

/** The id of the key bytes [p, p+n), added on first sight. */
function internKey(p: usize, n: i32): i32 {
  if (kHashCap == 0 || kStart.len * 2 >= kHashCap) rehashKeys(kHashCap == 0 ? 256 : kHashCap << 1);
  const mask = <u32>(kHashCap - 1);
  let h = hashBytes(p, n) & mask;
  while (true) {
    const e = load<i32>(kHash + (<usize>h << 2));
    if (e == 0) break;
    const id = e - 1;
    if (at(kLen, id) == n && sameBytes(at(kStart, id), p, n)) return id;
    h = (h + 1) & mask;
  }
  const id = kStart.len;
  push(kStart, <i32>p);
  push(kLen, n);
  store<i32>(kHash + (<usize>h << 2), id + 1);
  return id;
}

const NONE = 0;
const MATCH = 1;
const DATA = 2;

/** Parses the bytes [buf, buf+n) as source file `file` (files are parsed in priority order). */
export function parse(file: i32, buf: usize, n: i32): void {
  const end0 = buf + <usize>n;
  let state = NONE;
  let firstMatch = 0; // the record's match lines are mStart[firstMatch .. mStart.len)
  let lineNo = 0;
  let pos = buf;
  let lastKeyStart: usize = 0;
  let lastKeyLen = -1;
  let lastKey = 0;
  while (pos < end0) {
    const start = pos;
    // The line's text runs to the first '\n', '\r' or NUL; on the way, note the first '#' (a comment).
    let stop: usize = 0;
    let e = pos;
    while (e < end0) {
      const c = <u32>load<u8>(e);
      if (c <= 0x23) {
        if (c == 0x0a || c == 0x0d || c == 0) break;
        if (c == 0x23 && stop == 0) stop = e;
      }
      e++;
    }
    if (e - start >= LONG_LINE_MAX) {
      // systemd-hwdb's read_line() refuses such a line, and the rest of the file with it.
      diag(DIAG_LINE_TOO_LONG, file, lineNo + 1, start, start);
      return;
    }
    // Then the line ending, as systemd's read_line() takes it: '\n' and '\r' at most once each, in either
    // order, optionally followed by one NUL (so "\r\n" and "\n\r" end one line, "\n\n" two).
    pos = e;
    let seen: u32 = 0;
    while (pos < end0) {
      const c = <u32>load<u8>(pos);
      const eol: u32 = c == 0x0a ? 2 : c == 0x0d ? 4 : c == 0 ? 1 : 0;
      if ((seen & 1) != 0 || eol == 0 || (seen & eol) != 0) break;
      seen |= eol;
      pos++;
    }
    lineNo++;
    if (start < e && load<u8>(start) == 0x23) continue;
    if (stop == 0) stop = e;
    while (stop > start && isSpace(<u32>load<u8>(stop - 1))) stop--;
    const len = <i32>(stop - start);

    if (state == NONE) {
      if (len == 0) continue;
      if (load<u8>(start) == 0x20) {
        diag(DIAG_INDENTED_MATCH, file, lineNo, start, stop);
        continue;
      }
      state = MATCH;
      firstMatch = mStart.len;
      push(mStart, <i32>start);
      push(mLen, len);
      matchLines++;
      continue;
    }
    if (len == 0) {
      if (state == MATCH) diag(DIAG_NO_PROPERTIES, file, lineNo, start, start);
      state = NONE;
      continue;
    }
    if (load<u8>(start) != 0x20) {
      if (state == MATCH) {
        push(mStart, <i32>start);
        push(mLen, len);
        matchLines++;
      } else {
        diag(DIAG_MATCH_AFTER_PROPERTY, file, lineNo, start, stop);
        state = NONE;
      }
      continue;
    }
    if (state == MATCH) {
      state = DATA;
      records++;
    }

    // A property line.
    propertyLines++;
    let eq = start;
    while (eq < stop && load<u8>(eq) != 0x3d) eq++;
    if (eq >= stop) {
      diag(DIAG_NO_EQUALS, file, lineNo, start, stop);
      continue;
    }
    // Several leading blanks become one: skip while this and the next byte are both blanks.
    let k = start;
    while (k + 1 < eq && isBlank(<u32>load<u8>(k)) && isBlank(<u32>load<u8>(k + 1))) k++;
    if (k + 1 >= eq) {
      diag(DIAG_EMPTY_KEY, file, lineNo, k, stop);
      continue;
    }
    const klen = <i32>(eq - k);
    if (klen != lastKeyLen || !sameBytes(lastKeyStart, k, klen)) {
      lastKey = internKey(k, klen);
      lastKeyStart = k;
      lastKeyLen = klen;
    }
    const first = pMatch.len;
    for (let m = firstMatch; m < mStart.len; m++) {
      push(pMatch, m);
      push(pKey, lastKey);
      push(pVStart, <i32>(eq + 1));
      push(pVEnd, <i32>stop);
      push(pFile, file);
      push(pLine, lineNo);
      push(pFirst, first);
    }
  }
  if (state == MATCH) diag(DIAG_NO_PROPERTIES, file, lineNo, end0, end0);
}

// Read access for the host (diagnostics, tests).
export function matchCount(): i32 { return mStart.len; }
export function matchStart(i: i32): i32 { return at(mStart, i); }
export function matchLen(i: i32): i32 { return at(mLen, i); }
export function slotCount(): i32 { return pMatch.len; }
export function slotMatch(i: i32): i32 { return at(pMatch, i); }
export function slotKey(i: i32): i32 { return at(pKey, i); }
export function slotValueStart(i: i32): i32 { return at(pVStart, i); }
export function slotValueEnd(i: i32): i32 { return at(pVEnd, i); }
export function slotFile(i: i32): i32 { return at(pFile, i); }
export function slotLine(i: i32): i32 { return at(pLine, i); }
export function keyStart(i: i32): i32 { return at(kStart, i); }
export function keyLen(i: i32): i32 { return at(kLen, i); }
export function diagCount(): i32 { return dKind.len; }
export function diagKind(i: i32): i32 { return at(dKind, i); }
export function diagFile(i: i32): i32 { return at(dFile, i); }
export function diagLine(i: i32): i32 { return at(dLine, i); }
export function diagStart(i: i32): i32 { return at(dStart, i); }
export function diagEnd(i: i32): i32 { return at(dEnd, i); }

// ---- sorting ------------------------------------------------------------------------------------------------

/** Compares bytes [a, a+la) with [b, b+lb): negative, 0 or positive, shorter first when one is a prefix. */
function compareBytes(a: usize, la: i32, b: usize, lb: i32): i32 {
  const n = la < lb ? la : lb;
  let i = 0;
  while (i + 8 <= n) {
    const x = load<u64>(a + i);
    const y = load<u64>(b + i);
    if (x != y) {
      const sh = ctz(x ^ y) & ~7; // the first differing byte (little endian)
      return <i32>((x >> sh) & 0xff) - <i32>((y >> sh) & 0xff);
    }
    i += 8;
  }
  while (i < n) {
    const d = <i32>load<u8>(a + i) - <i32>load<u8>(b + i);
    if (d != 0) return d;
    i++;
  }
  return la - lb;
}

/** Match line x before match line y: by bytes, then input order. */
// @ts-ignore: decorator
@inline function before(x: i32, y: i32): bool {
  const d = compareBytes(<usize>at(mStart, x), at(mLen, x), <usize>at(mStart, y), at(mLen, y));
  return d < 0 || (d == 0 && x < y);
}

/**
 * Sorts the table of n match line indices at src by (bytes, input order); returns the sorted table (src or a
 * new one). A natural merge sort: the sources are mostly sorted already (each file by itself), so the runs
 * are long and few merges are needed.
 */
function sortMatches(src: usize, n: i32): usize {
  let dst = table(n);
  // Run boundaries: runs[r] .. runs[r+1].
  const runs = vec(64);
  push(runs, 0);
  for (let i = 1; i < n; i++) if (before(ld(src, i), ld(src, i - 1))) push(runs, i);
  push(runs, n);
  while (runs.len > 2) {
    let w = 1; // runs are merged pairwise in place in the boundary table
    let r = 0;
    for (; r + 2 < runs.len; r += 2) {
      const lo = at(runs, r);
      const mid = at(runs, r + 1);
      const hi = at(runs, r + 2);
      let i = lo;
      let j = mid;
      let o = lo;
      while (i < mid && j < hi) {
        const a = load<i32>(src + (<usize>i << 2));
        const b = load<i32>(src + (<usize>j << 2));
        if (before(b, a)) {
          store<i32>(dst + (<usize>(o++) << 2), b);
          j++;
        } else {
          store<i32>(dst + (<usize>(o++) << 2), a);
          i++;
        }
      }
      if (i < mid) memory.copy(dst + (<usize>o << 2), src + (<usize>i << 2), <usize>(mid - i) << 2);
      else if (j < hi) memory.copy(dst + (<usize>o << 2), src + (<usize>j << 2), <usize>(hi - j) << 2);
      set(runs, w++, hi);
    }
    if (r + 1 < runs.len) {
      // An odd run left over: copied as it is.
      const lo = at(runs, r);
      const hi = at(runs, r + 1);
      memory.copy(dst + (<usize>lo << 2), src + (<usize>lo << 2), <usize>(hi - lo) << 2);
      if (at(runs, w - 1) != hi) set(runs, w++, hi);
    }
    runs.len = w;
    const t = src;
    src = dst;
    dst = t;
  }
  return src;
}

// ---- output -------------------------------------------------------------------------------------------------

const HEADER_SIZE: i32 = 80;
const NODE_SIZE: i32 = 24;
const CHILD_ENTRY_SIZE: i32 = 16;

// The header and node section (the host fills in the header), and the string section.
let out: usize = 0;
let outCap: i32 = 0;
let outLen: i32 = 0;
let pool: usize = 0;
let poolCap: i32 = 0;
let poolLen: i32 = 0;
// Where pool-relative offsets were written into the node section (shifted once its size is known).
const patches = vec(4096);

export let nodes: i32 = 0;
export let children: i32 = 0;
export let values: i32 = 0;
export let rootOff: i32 = 0;

export function outPtr(): usize { return out; }
export function outSize(): i32 { return outLen; }
export function poolPtr(): usize { return pool; }
export function poolSize(): i32 { return poolLen; }

function ensureOut(n: i32): void {
  if (outLen + n <= outCap) return;
  let cap = outCap << 1;
  while (cap < outLen + n) cap <<= 1;
  out = heap.realloc(out, <usize>cap);
  outCap = cap;
}

/** Appends the bytes [p, p+n) and a NUL to the string section; returns their pool offset. */
function poolAdd(p: usize, n: i32): i32 {
  const off = poolLen;
  if (off + n + 1 > poolCap) {
    let cap = poolCap << 1;
    while (cap < off + n + 1) cap <<= 1;
    pool = heap.realloc(pool, <usize>cap);
    poolCap = cap;
  }
  memory.copy(pool + <usize>off, p, <usize>n);
  store<u8>(pool + <usize>(off + n), 0);
  poolLen = off + n + 1;
  return off;
}

// @ts-ignore: decorator
@inline function strRef(at: usize, poolOff: i32): void {
  store<u64>(at, <u64><u32>poolOff);
  push(patches, <i32>(at - out));
}

// Compile state (AssemblyScript has no closures, so the walk's helpers share these).
let valueSize = 32;
let v2 = true;
let order: usize = 0; // sorted match lines
let gStart: usize = 0; // per match line: its slots are gSlots[gStart[m] .. gStart[m+1])
let gSlots: usize = 0;
let rank: usize = 0; // per key id: its position in byte order
let keyOff: usize = 0; // per key id: pool offset, or -1 before it is stored
let keyStamp: usize = 0;
let keySlot: usize = 0;
let stamp = 0;
let fileOff: usize = 0; // per file: pool offset of its name
let valueOff: usize = 0; // per first slot of a property line: pool offset of its value, or -1
const vlist = vec(16);
// The open path: end of the node's prefix (in its representative match string), the first and one past the
// last sorted index of the match string ending there (-1: none), where its children start on the children
// stack, and the representative match string's address.
const sEnd = vec(256);
const sMatch = vec(256);
const sMatchEnd = vec(256);
const sChild = vec(256);
const sRep = vec(256);
const cChar = vec(1024);
const cOff = vec(1024);

// @ts-ignore: decorator
@inline function ld(table: usize, i: i32): i32 {
  return load<i32>(table + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function st(table: usize, i: i32, x: i32): void {
  store<i32>(table + (<usize>i << 2), x);
}

/** An uninitialized table of n i32 entries. */
function table(n: i32): usize {
  return heap.alloc((n > 0 ? <usize>n : 1) << 2);
}

/** The winning slot per key of the node whose match strings are order[k0 .. k1), sorted by key, in vlist. */
function nodeValues(k0: i32, k1: i32): void {
  vlist.len = 0;
  const id = ld(order, k0);
  const a = ld(gStart, id);
  if (k1 - k0 == 1 && ld(gStart, id + 1) - a == 1) {
    push(vlist, ld(gSlots, a));
    return;
  }
  // Several properties, or the same match string in several records: later wins per key.
  stamp++;
  for (let k = k0; k < k1; k++) {
    const m = ld(order, k);
    const e = ld(gStart, m + 1);
    for (let i = ld(gStart, m); i < e; i++) {
      const slot = ld(gSlots, i);
      const key = at(pKey, slot);
      if (ld(keyStamp, key) != stamp) {
        st(keyStamp, key, stamp);
        push(vlist, key);
      }
      st(keySlot, key, slot);
    }
  }
  // Sorted by key (insertion sort: a node has a few values), then key -> winning slot.
  for (let i = 1; i < vlist.len; i++) {
    const key = at(vlist, i);
    const r = ld(rank, key);
    let j = i;
    while (j > 0 && ld(rank, at(vlist, j - 1)) > r) {
      set(vlist, j, at(vlist, j - 1));
      j--;
    }
    set(vlist, j, key);
  }
  for (let i = 0; i < vlist.len; i++) set(vlist, i, ld(keySlot, at(vlist, i)));
}

/** Writes the node on top of the open path (its prefix is rep[from..to)), pops its children; its offset. */
function writeNode(from: i32, to: i32): i32 {
  const d = sEnd.len - 1;
  const rep = <usize>at(sRep, d);
  const cbase = at(sChild, d);
  const nchild = cChar.len - cbase;
  const k0 = at(sMatch, d);
  let nval = 0;
  if (k0 >= 0) {
    nodeValues(k0, at(sMatchEnd, d));
    nval = vlist.len;
  }
  ensureOut(NODE_SIZE + nchild * CHILD_ENTRY_SIZE + nval * valueSize);
  const off = outLen;
  let p = out + <usize>off;
  strRef(p, to == from ? 0 : poolAdd(rep + <usize>from, to - from));
  store<u64>(p + 8, <u64>nchild); // children_count u8 and its padding
  store<u64>(p + 16, <u64>nval);
  p += NODE_SIZE;
  for (let i = cbase; i < cChar.len; i++) {
    store<u64>(p, <u64><u32>at(cChar, i));
    store<u64>(p + 8, <u64><u32>at(cOff, i));
    p += CHILD_ENTRY_SIZE;
  }
  cChar.len = cbase;
  cOff.len = cbase;
  for (let j = 0; j < nval; j++) {
    const slot = at(vlist, j);
    const key = at(pKey, slot);
    let ko = ld(keyOff, key);
    if (ko < 0) {
      ko = poolAdd(<usize>at(kStart, key), at(kLen, key));
      st(keyOff, key, ko);
    }
    strRef(p, ko);
    const first = at(pFirst, slot);
    let vo = ld(valueOff, first);
    if (vo < 0) {
      const vs = at(pVStart, slot);
      vo = poolAdd(<usize>vs, at(pVEnd, slot) - vs);
      st(valueOff, first, vo);
    }
    strRef(p + 8, vo);
    if (v2) {
      const f = at(pFile, slot);
      strRef(p + 16, ld(fileOff, f));
      store<u32>(p + 24, <u32>at(pLine, slot));
      store<u32>(p + 28, <u32>(f + 1) & 0xffff); // file_priority u16 and zero padding
    }
    p += valueSize;
  }
  outLen = <i32>(p - out);
  nodes++;
  children += nchild;
  values += nval;
  return off;
}

function pushOpen(end: i32, rep: i32, match: i32, child: i32, matchEnd: i32): void {
  push(sEnd, end);
  push(sMatch, match);
  push(sMatchEnd, matchEnd);
  push(sChild, child);
  push(sRep, rep);
}

function popOpen(): void {
  const d = sEnd.len - 1;
  sEnd.len = d;
  sMatch.len = d;
  sMatchEnd.len = d;
  sChild.len = d;
  sRep.len = d;
}

/** Closes every open node deeper than l (the common prefix length with the next match string). */
function closeTo(l: i32): void {
  while (at(sEnd, sEnd.len - 1) > l) {
    const top = sEnd.len - 1;
    const rep = at(sRep, top);
    const end = at(sEnd, top);
    let pend = at(sEnd, top - 1);
    if (pend < l) {
      // The next string branches inside this node's prefix: a new inner node ending at l goes between,
      // taking over this node's place on the children stack.
      const match = at(sMatch, top);
      const matchEnd = at(sMatchEnd, top);
      const cbase = at(sChild, top);
      popOpen();
      pushOpen(l, rep, -1, cbase, 0);
      pushOpen(end, rep, match, cbase, matchEnd);
      pend = l;
    }
    const off = writeNode(pend + 1, end);
    popOpen();
    push(cChar, <i32>load<u8>(<usize>rep + <usize>pend));
    push(cOff, off);
  }
}

/**
 * Compiles everything parsed so far. fileNames is a table of (address, length) pairs, one per source file,
 * for the v2 value entries. Returns the root node's offset; outPtr/outSize and poolPtr/poolSize are the two
 * parts of the file, the header still to be filled in by the host.
 */
export function compile(withSource: bool, fileNames: usize, nfiles: i32): i32 {
  v2 = withSource;
  valueSize = v2 ? 32 : 16;
  const nlines = mStart.len;
  const nslots = pMatch.len;

  // For every match line, its slots in input order (a counting sort).
  let n = nlines;
  gStart = zeros(n + 1);
  for (let i = 0; i < nslots; i++) {
    const m = at(pMatch, i) + 1;
    st(gStart, m, ld(gStart, m) + 1);
  }
  for (let i = 0; i < n; i++) st(gStart, i + 1, ld(gStart, i + 1) + ld(gStart, i));
  const fill = table(n);
  memory.copy(fill, gStart, <usize>n << 2);
  gSlots = table(nslots);
  for (let i = 0; i < nslots; i++) {
    const m = at(pMatch, i);
    const o = ld(fill, m);
    st(gSlots, o, i);
    st(fill, m, o + 1);
  }
  // Only match lines with properties enter the trie (a record whose property lines were all malformed
  // leaves none), sorted.
  order = table(nlines);
  n = 0;
  for (let m = 0; m < nlines; m++) if (ld(gStart, m + 1) > ld(gStart, m)) st(order, n++, m);
  order = sortMatches(order, n);

  // Keys in byte order (an insertion sort: there are a few dozen).
  const nkeys = kStart.len;
  const byRank = table(nkeys);
  for (let i = 0; i < nkeys; i++) {
    let j = i;
    while (j > 0) {
      const prev = ld(byRank, j - 1);
      if (compareBytes(at(kStart, prev), at(kLen, prev), at(kStart, i), at(kLen, i)) <= 0) break;
      st(byRank, j, prev);
      j--;
    }
    st(byRank, j, i);
  }
  rank = table(nkeys);
  for (let r = 0; r < nkeys; r++) st(rank, ld(byRank, r), r);
  keyOff = table(nkeys);
  memory.fill(keyOff, 0xff, <usize>nkeys << 2);
  keyStamp = zeros(nkeys);
  keySlot = zeros(nkeys);
  stamp = 0;

  let srcBytes = 0;
  for (let i = 0; i < nslots; i++) srcBytes += at(pVEnd, i) - at(pVStart, i) + 1;
  for (let i = 0; i < nlines; i++) srcBytes += at(mLen, i);
  outCap = HEADER_SIZE + (n + (n >> 1) + 16) * (NODE_SIZE + CHILD_ENTRY_SIZE) + nslots * valueSize;
  out = heap.alloc(<usize>outCap);
  outLen = HEADER_SIZE;
  poolCap = srcBytes + 1024;
  pool = heap.alloc(<usize>poolCap);
  store<u8>(pool, 0);
  poolLen = 1; // offset 0: the empty string
  patches.len = 0;
  nodes = 0;
  children = 0;
  values = 0;
  fileOff = table(nfiles);
  for (let f = 0; f < nfiles; f++) {
    const p = fileNames + (<usize>f << 3);
    st(fileOff, f, poolAdd(<usize>load<i32>(p), load<i32>(p + 4)));
  }
  valueOff = table(nslots);
  memory.fill(valueOff, 0xff, <usize>nslots << 2);
  sEnd.len = 0;
  sMatch.len = 0;
  sMatchEnd.len = 0;
  sChild.len = 0;
  sRep.len = 0;
  cChar.len = 0;
  cOff.len = 0;

  pushOpen(0, 0, -1, 0, 0); // the root
  let prev: usize = 0;
  let prevLen = 0;
  for (let k = 0; k < n; k++) {
    const key = <usize>at(mStart, ld(order, k));
    const len = at(mLen, ld(order, k));
    const max = prevLen < len ? prevLen : len;
    let l = 0;
    while (l + 8 <= max && load<u64>(prev + <usize>l) == load<u64>(key + <usize>l)) l += 8;
    while (l < max && load<u8>(prev + <usize>l) == load<u8>(key + <usize>l)) l++;
    if (l == len && l == prevLen && k > 0) {
      // The same match string again (another record or file): the open leaf covers it too.
      set(sMatchEnd, sMatchEnd.len - 1, k + 1);
      continue;
    }
    closeTo(l);
    pushOpen(len, <i32>key, k, cChar.len, k + 1);
    prev = key;
    prevLen = len;
  }
  closeTo(0);
  rootOff = writeNode(0, 0);

  // Pool offsets become file offsets: the string section follows the node section.
  const base = <u64>outLen;
  for (let i = 0; i < patches.len; i++) {
    const p = out + <usize>at(patches, i);
    store<u64>(p, load<u64>(p) + base);
  }
  return rootOff;
}
