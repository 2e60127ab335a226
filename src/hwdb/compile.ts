// Compiler from parsed .hwdb sources to systemd's hwdb.bin layout (see format.ts).
//
// systemd-hwdb inserts every match string into a radix trie one at a time. The radix trie of a set of strings
// is unique, so devMaster builds the same trie in one pass instead: it sorts the distinct match strings
// bytewise and walks them with the length of the common prefix of each neighbour pair, keeping the open path
// on a stack. A node is final when the walk leaves it, so it is written at that moment, which is exactly the
// post-order (children before parent, root last) that systemd writes. Strings are interned into one pool;
// node records hold pool-relative offsets that are shifted once the size of the node section is known.
import { endianness } from 'node:os';
import { tagIndex, type HwdbSources } from './parse.js';
import {
  CHILD_ENTRY_SIZE,
  DEVMASTER_TOOL_VERSION,
  HEADER_SIZE,
  HWDB_SIGNATURE,
  H_CHILD_ENTRY_SIZE,
  H_FILE_SIZE,
  H_HEADER_SIZE,
  H_NODES_LEN,
  H_NODES_ROOT_OFF,
  H_NODE_SIZE,
  H_STRINGS_LEN,
  H_TOOL_VERSION,
  H_VALUE_ENTRY_SIZE,
  NODE_SIZE,
  VALUE_ENTRY_SIZE_V1,
  VALUE_ENTRY_SIZE_V2,
} from './format.js';

export interface CompileOptions {
  /** Write the v1 value entries (key and value only), as `udevadm hwdb --update` does. Default: v2. */
  compat?: boolean;
}

export interface CompileStats {
  nodes: number;
  children: number;
  values: number;
  stringsLen: number;
  size: number;
}

/** Growable NUL-separated string section; offset 0 is the empty string. */
class StringPool {
  private readonly index = new Map<string, number>();
  buf: Buffer;
  len = 1;

  constructor(sizeHint = 1 << 20) {
    this.buf = Buffer.alloc(Math.max(1024, sizeHint));
    this.index.set('', 0);
  }

  private grow(need: number): void {
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const nb = Buffer.alloc(cap);
    this.buf.copy(nb, 0, 0, this.len);
    this.buf = nb;
  }

  /** Appends s.slice(from, to) without looking for an equal string (for strings that are nearly always unique). */
  add(s: string, from = 0, to = s.length): number {
    const off = this.len;
    const n = to - from;
    if (off + n + 1 > this.buf.length) this.grow(off + n + 1);
    const b = this.buf;
    if (n < 48) for (let i = 0; i < n; i++) b[off + i] = s.charCodeAt(from + i);
    else b.write(from === 0 && to === s.length ? s : s.slice(from, to), off, 'latin1');
    this.len = off + n + 1; // the byte after is already 0
    return off;
  }

  /** Appends bytes. */
  addBytes(src: Buffer, from: number, to: number): number {
    const off = this.len;
    const n = to - from;
    if (off + n + 1 > this.buf.length) this.grow(off + n + 1);
    const b = this.buf;
    if (n < 48) for (let i = 0; i < n; i++) b[off + i] = src[from + i]!;
    else src.copy(b, off, from, to);
    this.len = off + n + 1;
    return off;
  }

  intern(s: string): number {
    const have = this.index.get(s);
    if (have !== undefined) return have;
    const off = this.add(s);
    this.index.set(s, off);
    return off;
  }
}

/** Compiles parsed sources into the bytes of a hwdb.bin file. */
export function compileHwdb(db: HwdbSources, opts: CompileOptions = {}): { data: Buffer; stats: CompileStats } {
  const { parts, stats } = compileHwdbParts(db, opts);
  return { data: Buffer.concat(parts, stats.size), stats };
}

/**
 * Like compileHwdb, but returns the file as two pieces (header and nodes; strings) to be written with one
 * writev, which spares a copy of the whole file.
 */
export function compileHwdbParts(db: HwdbSources, opts: CompileOptions = {}): { parts: Buffer[]; stats: CompileStats } {
  const v2 = !opts.compat;
  const valueSize = v2 ? VALUE_ENTRY_SIZE_V2 : VALUE_ENTRY_SIZE_V1;
  // Tagged match lines (match, NUL, 3-byte line index), latin1: UTF-16 code unit order is byte order, which is
  // what the trie needs; equal matches end up next to each other in input order.
  const keys = db.occ.slice().sort();
  const { start: gStart, slots } = db.groups();
  const { pKey, pFile, pLine, pVStart, pVEnd, pFirst, data: fileData } = db;

  // Node section, grown on demand.
  // About 1.4 nodes per match string in practice; grown if needed.
  let cap = HEADER_SIZE + Math.ceil(keys.length * 1.5 + 16) * (NODE_SIZE + CHILD_ENTRY_SIZE) + db.count * valueSize;
  let buf = Buffer.alloc(cap);
  // Every u32 field sits at a multiple of 4, so on little-endian hosts a Uint32Array view writes them
  // directly (much cheaper than DataView before the optimizing compiler kicks in); DataView otherwise.
  const le = endianness() === 'LE';
  let dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let u32 = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteOffset % 4 === 0 ? buf.byteLength >> 2 : 0);
  const fast = le && buf.byteOffset % 4 === 0;
  const w32 = (at: number, v: number) => {
    if (fast) u32[at >> 2] = v;
    else dv.setUint32(at, v, true);
  };
  let pos = HEADER_SIZE;
  let patches = new Uint32Array(Math.ceil(keys.length * 1.5) + db.count * 3 + 1024);
  let npatch = 0;
  let srcBytes = 0;
  for (const d of db.data) srcBytes += d.length;
  const pool = new StringPool(srcBytes >> 1);
  const fileOffs = db.files.map((f) => pool.intern(f));
  // A value shared by several match lines of one record is stored once (keyed by the line's first slot).
  const valueOffs = new Int32Array(db.count).fill(-1);
  let nodes = 0;
  let children = 0;
  let values = 0;

  const ensure = (n: number) => {
    if (pos + n <= cap) return;
    while (pos + n > cap) cap *= 2;
    const nb = Buffer.alloc(cap);
    buf.copy(nb, 0, 0, pos);
    buf = nb;
    dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    u32 = new Uint32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
  };
  // Offsets into the string pool are written pool-relative and shifted by the pool's position at the end.
  const strRef = (at: number, poolOff: number) => {
    w32(at, poolOff);
    if (npatch === patches.length) {
      const np = new Uint32Array(patches.length * 2);
      np.set(patches);
      patches = np;
    }
    patches[npatch++] = at;
  };
  const valueRef = (slot: number): number => {
    const first = pFirst[slot]!;
    let off = valueOffs[first]!;
    if (off < 0) {
      off = pool.addBytes(fileData[pFile[slot]!]!, pVStart[slot]!, pVEnd[slot]!);
      valueOffs[first] = off;
    }
    return off;
  };
  const scratch = new Map<string, number>();
  const one: number[] = [0];

  // The open path, as parallel stacks: end of the node's prefix, a match string through it, its match id, and
  // where its children start on the children stack.
  let depth = 0;
  let sEnd = new Int32Array(256);
  let sMatch = new Int32Array(256);
  let sMatchEnd = new Int32Array(256);
  let sChild = new Int32Array(256);
  const sRep: string[] = [];
  let cChar = new Uint8Array(1024);
  let cOff = new Float64Array(1024);
  let ctop = 0;

  const pushOpen = (end: number, rep: string, match: number) => {
    if (depth === sEnd.length) {
      const g = <T extends Int32Array>(a: T) => {
        const b = new Int32Array(a.length * 2);
        b.set(a);
        return b;
      };
      sEnd = g(sEnd);
      sMatch = g(sMatch);
      sMatchEnd = g(sMatchEnd);
      sChild = g(sChild);
    }
    sEnd[depth] = end;
    sMatch[depth] = match;
    sMatchEnd[depth] = match + 1;
    sChild[depth] = ctop;
    sRep[depth] = rep;
    depth++;
  };
  const pushChild = (c: number, off: number) => {
    if (ctop === cChar.length) {
      const nc = new Uint8Array(cChar.length * 2);
      nc.set(cChar);
      cChar = nc;
      const no = new Float64Array(cOff.length * 2);
      no.set(cOff);
      cOff = no;
    }
    cChar[ctop] = c;
    cOff[ctop++] = off;
  };

  // Writes the node at stack index d (its prefix is rep[from..to)) and drops its children from the stack.
  const writeNode = (d: number, from: number, to: number): number => {
    const rep = sRep[d]!;
    const cbase = sChild[d]!;
    const nchild = ctop - cbase;
    const k0 = sMatch[d]!;
    let vslots: number[] | undefined;
    let nval = 0;
    if (k0 >= 0) {
      const k1 = sMatchEnd[d]!;
      const id = tagIndex(keys[k0]!);
      const a = gStart[id]!;
      const b = gStart[id + 1]!;
      if (k1 - k0 === 1 && b - a === 1) {
        one[0] = slots[a]!;
        vslots = one;
        nval = 1;
      } else {
        // Several properties, or the same match in several records: later wins per key, sorted by key.
        scratch.clear();
        for (let k = k0; k < k1; k++) {
          const occ = tagIndex(keys[k]!);
          for (let i = gStart[occ]!; i < gStart[occ + 1]!; i++) scratch.set(pKey[slots[i]!]!, slots[i]!);
        }
        const vkeys = [...scratch.keys()].sort();
        vslots = vkeys.map((k) => scratch.get(k)!);
        nval = vslots.length;
      }
    }
    ensure(NODE_SIZE + nchild * CHILD_ENTRY_SIZE + nval * valueSize);
    const off = pos;
    strRef(pos, to === from ? 0 : pool.add(rep, from, to));
    buf[pos + 8] = nchild;
    w32(pos + 16, nval);
    pos += NODE_SIZE;
    for (let i = cbase; i < ctop; i++) {
      buf[pos] = cChar[i]!;
      w32(pos + 8, cOff[i]!);
      pos += CHILD_ENTRY_SIZE;
    }
    ctop = cbase;
    for (let j = 0; j < nval; j++) {
      const slot = vslots![j]!;
      strRef(pos, pool.intern(pKey[slot]!));
      strRef(pos + 8, valueRef(slot));
      if (v2) {
        strRef(pos + 16, fileOffs[pFile[slot]!]!);
        w32(pos + 24, pLine[slot]!);
        w32(pos + 28, (pFile[slot]! + 1) & 0xffff); // file_priority u16 + zero padding
      }
      pos += valueSize;
    }
    nodes++;
    children += nchild;
    values += nval;
    return off;
  };

  // Closes every open node deeper than `l` (the common prefix length with the next key).
  const closeTo = (l: number) => {
    while (sEnd[depth - 1]! > l) {
      const top = depth - 1;
      const rep = sRep[top]!;
      const end = sEnd[top]!;
      let pend = sEnd[top - 1]!;
      if (pend < l) {
        // The next key branches inside this node's prefix: a new inner node ending at l goes between.
        // It takes the slot below the closing node: move the closing node up by one first.
        const match = sMatch[top]!;
        const matchEnd = sMatchEnd[top]!;
        const cbase = sChild[top]!;
        depth--;
        pushOpen(l, rep, -1);
        sChild[depth - 1] = cbase; // the inner node's children start where the closing node's did
        pushOpen(end, rep, match);
        sChild[depth - 1] = cbase;
        sMatchEnd[depth - 1] = matchEnd;
        pend = l;
      }
      const d = depth - 1;
      const off = writeNode(d, pend + 1, end);
      depth--;
      pushChild(rep.charCodeAt(pend), off);
    }
  };

  pushOpen(0, '', -1); // the root
  let prev = '';
  let prevLen = 0;
  for (let n = 0; n < keys.length; n++) {
    const key = keys[n]!;
    const len = key.length - 4;
    let l = 0;
    const max = prevLen < len ? prevLen : len;
    while (l < max && prev.charCodeAt(l) === key.charCodeAt(l)) l++;
    if (l === len && l === prevLen && n > 0) {
      // The same match string again (another record or file): the open leaf covers it too.
      sMatchEnd[depth - 1] = n + 1;
      continue;
    }
    closeTo(l);
    pushOpen(len, key, n);
    prev = key;
    prevLen = len;
  }
  closeTo(0);
  const rootOff = writeNode(0, 0, 0);

  const nodesLen = pos - HEADER_SIZE;
  const stringsBase = pos;
  for (let i = 0; i < npatch; i++) {
    const at = patches[i]!;
    if (fast) u32[at >> 2] += stringsBase;
    else dv.setUint32(at, dv.getUint32(at, true) + stringsBase, true);
  }
  const size = stringsBase + pool.len;
  const out = buf;
  HWDB_SIGNATURE.copy(out, 0);
  const h = new DataView(out.buffer, out.byteOffset, HEADER_SIZE);
  const w64 = (at: number, v: number) => {
    h.setUint32(at, v >>> 0, true);
    h.setUint32(at + 4, Math.floor(v / 0x100000000), true);
  };
  w64(H_TOOL_VERSION, DEVMASTER_TOOL_VERSION);
  w64(H_FILE_SIZE, size);
  w64(H_HEADER_SIZE, HEADER_SIZE);
  w64(H_NODE_SIZE, NODE_SIZE);
  w64(H_CHILD_ENTRY_SIZE, CHILD_ENTRY_SIZE);
  w64(H_VALUE_ENTRY_SIZE, valueSize);
  w64(H_NODES_ROOT_OFF, rootOff);
  w64(H_NODES_LEN, nodesLen);
  w64(H_STRINGS_LEN, pool.len);

  return { parts: [buf.subarray(0, stringsBase), pool.buf.subarray(0, pool.len)], stats: { nodes, children, values, stringsLen: pool.len, size } };
}
