// Parser of .hwdb sources (hwdb(7)): records of one or more match lines followed by " KEY=VALUE" property
// lines, ended by an empty line; '#' starts a comment (whole line or trailing). Follows systemd-hwdb's reading
// rules so the same sources give the same database: only a line starting with a space is a property, several
// leading blanks fold into one space, trailing whitespace is dropped, and a malformed line is reported and
// skipped the way systemd-hwdb skips it.
//
// The scanning itself is done by the hwdb kernel (wasm/kernel.ts, compiled to WebAssembly): the source bytes are read
// straight into its memory and stay there, byte for byte, until they are copied into hwdb.bin. This class is
// the TypeScript face of one kernel instance: it feeds it files, turns its diagnostics into messages and
// reads its tables back for callers that want to look at the parsed sources.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { instantiateKernel, type Kernel } from './kernel.js';

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

/** Sources larger than this are refused (the kernel addresses 32-bit memory; real sources are a few MB). */
export const MAX_SOURCE_BYTES = 256 * 1024 * 1024;

/** The kernel's diagnostic kinds (DIAG_* in wasm/kernel.ts) as systemd-hwdb words them. */
const MESSAGES: Record<number, (text: string) => string> = {
  1: (t) => `Match expected but got indented property "${t}", ignoring line.`,
  2: () => 'Property expected, ignoring record with no properties.',
  3: (t) => `Property or empty line expected, got "${t}", ignoring record.`,
  4: (t) => `Key-value pair expected but got "${t}", ignoring.`,
  5: (t) => `Empty key in "${t}", ignoring.`,
  // systemd-hwdb stops reading the file here without a word; devMaster says why.
  6: () => 'Line too long (1 MiB or more), ignoring the rest of the file.',
};

function tooLarge(size: number): string {
  return `too large (${size} bytes; at most ${MAX_SOURCE_BYTES})`;
}

/** The parsed contents of a set of source files, in the order they were added (which is their priority). */
export class HwdbSources {
  readonly files: string[] = [];
  readonly diagnostics: HwdbDiagnostic[] = [];
  /** The kernel instance holding the sources and their tables (compile.ts compiles from it). */
  readonly kernel: Kernel = instantiateKernel();

  /** Records (match lines followed by at least one property line). */
  get records(): number {
    return this.kernel.records.value;
  }

  get matchLines(): number {
    return this.kernel.matchLines.value;
  }

  get propertyLines(): number {
    return this.kernel.propertyLines.value;
  }

  /** Parses one source file's bytes as the next file in priority order. */
  addBytes(data: Uint8Array, file: string): void {
    const k = this.kernel;
    if (data.length > MAX_SOURCE_BYTES) throw new Error(`${file}: ${tooLarge(data.length)}`);
    const ptr = k.alloc(data.length);
    new Uint8Array(k.memory.buffer, ptr, data.length).set(data);
    this.parse(file, ptr, data.length);
  }

  addText(text: string, file: string): void {
    this.addBytes(Buffer.from(text, 'utf8'), file);
  }

  /** Reads a file straight into the kernel's memory and parses it; an unreadable file is a diagnostic. */
  addFile(path: string): void {
    const k = this.kernel;
    let fd: number | undefined;
    try {
      fd = openSync(path, 'r');
      const size = fstatSync(fd).size;
      if (size > MAX_SOURCE_BYTES) throw new Error(tooLarge(size));
      const ptr = k.alloc(size);
      let got = 0;
      while (got < size) {
        const n = readSync(fd, new Uint8Array(k.memory.buffer, ptr + got, size - got), 0, size - got, null);
        if (n === 0) break;
        got += n;
      }
      this.parse(path, ptr, got);
    } catch (e) {
      this.files.push(path);
      this.diagnostics.push({ file: path, line: 0, message: `cannot read: ${(e as Error).message}` });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  private parse(file: string, ptr: number, len: number): void {
    const k = this.kernel;
    const first = k.diagCount();
    this.files.push(file);
    k.parse(this.files.length - 1, ptr, len);
    for (let i = first; i < k.diagCount(); i++) {
      const text = this.text(k.diagStart(i), k.diagEnd(i), 'utf8');
      this.diagnostics.push({ file, line: k.diagLine(i), message: MESSAGES[k.diagKind(i)]!(text) });
    }
  }

  /** Bytes [start, end) of the kernel's memory as text (latin1: one char per byte, as hwdb.bin keeps them). */
  private text(start: number, end: number, encoding: BufferEncoding = 'latin1'): string {
    return Buffer.from(this.kernel.memory.buffer, start, end - start).toString(encoding);
  }

  /** Distinct match strings (latin1) in the order first seen. */
  get matchList(): string[] {
    const k = this.kernel;
    const out = new Set<string>();
    for (let i = 0; i < k.matchCount(); i++) out.add(this.text(k.matchStart(i), k.matchStart(i) + k.matchLen(i)));
    return [...out];
  }

  /**
   * The effective properties of one match string (latin1): key (with its leading space) -> value, sorted by
   * key. A key given again for the same match string replaces the earlier value (later file or line wins).
   */
  properties(match: string): Map<string, HwdbValue> {
    const k = this.kernel;
    const out = new Map<string, HwdbValue>();
    for (let i = 0; i < k.slotCount(); i++) {
      const m = k.slotMatch(i);
      if (this.text(k.matchStart(m), k.matchStart(m) + k.matchLen(m)) !== match) continue;
      const key = k.slotKey(i);
      const file = k.slotFile(i);
      out.set(this.text(k.keyStart(key), k.keyStart(key) + k.keyLen(key)), {
        value: this.text(k.slotValueStart(i), k.slotValueEnd(i)),
        file,
        line: k.slotLine(i),
        priority: file + 1,
      });
    }
    return new Map([...out].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));
  }
}

/** Parses the given files in order (the order is the priority: later wins). */
export function parseHwdbFiles(files: readonly string[]): HwdbSources {
  const db = new HwdbSources();
  for (const f of files) db.addFile(f);
  return db;
}
