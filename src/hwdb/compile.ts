// Compiler from parsed .hwdb sources to systemd's hwdb.bin layout (see format.ts).
//
// systemd-hwdb inserts every match string into a radix trie one at a time. The radix trie of a set of strings
// is unique, so devMaster builds the same trie in one pass instead: it sorts the match strings bytewise and
// walks them with the length of the common prefix of each neighbour pair, keeping the open path on a stack.
// A node is final when the walk leaves it, so it is written at that moment, which is exactly the post-order
// (children before parent, root last) that systemd writes. The walk runs in the hwdb kernel
// (wasm/kernel.ts), next to the sources it parsed; this file hands it the file names and fills in the header.
import type { HwdbSources } from './parse.js';
import {
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
  CHILD_ENTRY_SIZE,
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

/** Compiles parsed sources into the bytes of a hwdb.bin file. */
export function compileHwdb(db: HwdbSources, opts: CompileOptions = {}): { data: Buffer; stats: CompileStats } {
  const { parts, stats } = compileHwdbParts(db, opts);
  return { data: Buffer.concat(parts, stats.size), stats };
}

/**
 * Like compileHwdb, but returns the file as two pieces (header and nodes; strings) to be written with one
 * writev, which spares a copy of the whole file. The pieces are views of the kernel's memory: write them
 * before adding more sources to db.
 */
export function compileHwdbParts(db: HwdbSources, opts: CompileOptions = {}): { parts: Buffer[]; stats: CompileStats } {
  const k = db.kernel;
  const valueSize = opts.compat ? VALUE_ENTRY_SIZE_V1 : VALUE_ENTRY_SIZE_V2;
  // The file names (v2 value entries name their source), as a table of (address, length) pairs.
  const names = db.files.map((f) => Buffer.from(f, 'utf8'));
  let bytes = 0;
  for (const b of names) bytes += b.length;
  const table = k.alloc(names.length * 8);
  const text = k.alloc(bytes);
  let at = text;
  for (let f = 0; f < names.length; f++) {
    new Uint8Array(k.memory.buffer, at, names[f]!.length).set(names[f]!);
    const dv = new DataView(k.memory.buffer, table + f * 8, 8);
    dv.setInt32(0, at, true);
    dv.setInt32(4, names[f]!.length, true);
    at += names[f]!.length;
  }
  const rootOff = k.compile(opts.compat ? 0 : 1, table, names.length);

  const out = k.outPtr();
  const nodesEnd = k.outSize();
  const stringsLen = k.poolSize();
  const size = nodesEnd + stringsLen;
  const head = Buffer.from(k.memory.buffer, out, nodesEnd);
  HWDB_SIGNATURE.copy(head, 0);
  const w64 = (at: number, v: number) => head.writeBigUInt64LE(BigInt(v), at);
  w64(H_TOOL_VERSION, DEVMASTER_TOOL_VERSION);
  w64(H_FILE_SIZE, size);
  w64(H_HEADER_SIZE, HEADER_SIZE);
  w64(H_NODE_SIZE, NODE_SIZE);
  w64(H_CHILD_ENTRY_SIZE, CHILD_ENTRY_SIZE);
  w64(H_VALUE_ENTRY_SIZE, valueSize);
  w64(H_NODES_ROOT_OFF, rootOff);
  w64(H_NODES_LEN, nodesEnd - HEADER_SIZE);
  w64(H_STRINGS_LEN, stringsLen);
  return {
    parts: [head, Buffer.from(k.memory.buffer, k.poolPtr(), stringsLen)],
    stats: { nodes: k.nodes.value, children: k.children.value, values: k.values.value, stringsLen, size },
  };
}
