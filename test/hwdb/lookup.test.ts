// Lookup: both storages agree, damaged files give clear errors (never a crash or a hang), change detection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev } from '../helpers/reference.js';
import { compileHwdb, HwdbFormatError, hwdbFromBuffer, hwdbSourceFiles, openHwdb, parseHwdbFiles, writeFileAtomic } from '../../src/hwdb/index.js';
import { formatProps, generateModaliases, machineModaliases, matchLinesOf, rng } from './helpers.js';
import { Hwdb, PagedStorage } from '../../src/hwdb/lookup.js';
import { closeSync, openSync, statSync } from 'node:fs';

let tmp: string;
let bin: string;
let data: Buffer;
let queries: string[];

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'devmaster-hwdb-lookup-'));
  const files = hwdbSourceFiles([referenceUdev().hwdbDir]);
  data = compileHwdb(parseHwdbFiles(files)).data;
  bin = join(tmp, 'hwdb.bin');
  writeFileSync(bin, data);
  queries = [...machineModaliases(), ...generateModaliases(matchLinesOf(files), 2000, 5)];
}, 120_000);

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('hwdb lookup', () => {
  it('reads the same answers from one Buffer and from pages read on demand', () => {
    const a = openHwdb(bin);
    const b = openHwdb(bin, { storage: 'paged' });
    let hits = 0;
    for (const q of queries) {
      const x = formatProps(a.lookup(q));
      if (x) hits++;
      expect(formatProps(b.lookup(q)), q).toBe(x);
    }
    expect(hits).toBeGreaterThan(queries.length / 2);
    a.close();
    b.close();
  });

  it('gives the same answers with a few pages kept as with every page, dropping and reading pages again', () => {
    const all = openHwdb(bin);
    // four 4 KiB pages for a 13 MiB file: nearly every lookup drops pages and reads them again
    const small = new PagedStorage(openSync(bin, 'r'), statSync(bin).size, 4096, 4);
    const few = new Hwdb(small, bin);
    for (const q of queries.slice(0, 600)) expect(formatProps(few.lookup(q)), q).toBe(formatProps(all.lookup(q)));
    expect(small.reads).toBeGreaterThan(600);
    // pages of another size, the last one short
    const big = new Hwdb(new PagedStorage(openSync(bin, 'r'), statSync(bin).size, 65536, 3), bin);
    for (const q of queries.slice(0, 200)) expect(formatProps(big.lookup(q)), q).toBe(formatProps(all.lookup(q)));
    const fd = openSync(bin, 'r');
    expect(() => new PagedStorage(fd, 100, 1000)).toThrow(/power of two/);
    closeSync(fd);
    few.close();
    big.close();
    all.close();
  });

  it('refuses a range past the end of the file, whatever a page slot held before', () => {
    const f = join(tmp, 'ten-bytes.bin');
    writeFileSync(f, 'abcdefghij');
    // 8-byte pages, one slot: the second page (2 bytes) lands in the slot the first one filled
    const s = new PagedStorage(openSync(f, 'r'), 10, 8, 1);
    expect(s.str(0, 10)).toBe('abcdefghij');
    expect(s.str(6, 10)).toBe('ghij');
    expect(s.nul(6)).toBe(-1);
    expect(() => s.str(6, 12)).toThrow(HwdbFormatError);
    expect(() => s.copy(6, 12, new Uint8Array(6), 0)).toThrow(HwdbFormatError);
    expect(() => s.u32(8)).toThrow(HwdbFormatError);
    expect(() => s.u8(-1)).toThrow(HwdbFormatError);
    // span(): a range within one page is readable straight from the slab; one that crosses a page, or the end, is not
    const at = s.span(1, 3);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(Buffer.from(s.bytes.subarray(at, at + 3)).toString()).toBe('bcd');
    expect(s.span(6, 4)).toBe(-1);
    expect(s.span(8, 3)).toBe(-1);
    const end = s.span(8, 2);
    expect(Buffer.from(s.bytes.subarray(end, end + 2)).toString()).toBe('ij');
    s.close();
  });

  it('reads 64-bit fields the same from one Buffer and from pages, within a page and across two', () => {
    const bytes = Buffer.alloc(64);
    bytes.writeBigUInt64LE(0x1_2345_6789n, 8); // within an 8-byte page... and a 16-byte one
    bytes.writeBigUInt64LE(0x42n, 20); // across two 8-byte pages, and not 8-aligned
    const f = join(tmp, 'fields.bin');
    writeFileSync(f, bytes);
    for (const pageSize of [8, 16, 4096]) {
      const paged = new PagedStorage(openSync(f, 'r'), 64, pageSize, 2);
      expect(paged.u64(8), `${pageSize}`).toBe(0x1_2345_6789);
      expect(paged.u64(20), `${pageSize}`).toBe(0x42);
      expect(() => paged.u64(60)).toThrow(HwdbFormatError);
      paged.close();
    }
  });

  it('rejects files that are not a hwdb.bin with a clear error', () => {
    const cases: [string, Buffer][] = [
      ['empty', Buffer.alloc(0)],
      ['short', data.subarray(0, 40)],
      ['truncated', data.subarray(0, data.length - 100)],
      ['bad signature', Buffer.concat([Buffer.from('XXXXXXXX'), data.subarray(8)])],
    ];
    for (const [name, bytes] of cases) {
      const f = join(tmp, `${name}.bin`);
      writeFileSync(f, bytes);
      expect(() => openHwdb(f), name).toThrow(HwdbFormatError);
      expect(() => openHwdb(f), name).toThrow(f);
    }
    expect(() => openHwdb(join(tmp, 'missing.bin'))).toThrow(/ENOENT/);
    expect(() => openHwdb(tmp)).toThrow(/not a regular file|EISDIR/);
  });

  it('survives random corruption of the node section: an answer or HwdbFormatError, never a hang', () => {
    const rand = rng(7);
    for (let round = 0; round < 40; round++) {
      const bad = Buffer.from(data);
      const nodesEnd = Number(bad.readBigUInt64LE(64)) + 80;
      for (let k = 0; k < 50; k++) bad[80 + Math.floor(rand() * (nodesEnd - 80))] = Math.floor(rand() * 256);
      let db;
      try {
        db = hwdbFromBuffer(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(HwdbFormatError);
        continue;
      }
      for (const q of queries.slice(0, 50)) {
        try {
          db.lookup(q);
        } catch (e) {
          expect(e).toBeInstanceOf(HwdbFormatError);
        }
      }
    }
  });

  it('tells when the file on disk changed', () => {
    const f = join(tmp, 'watched.bin');
    writeFileSync(f, data);
    const db = openHwdb(f);
    expect(db.changed()).toBe(false);
    utimesSync(f, new Date(), new Date(Date.now() + 5000));
    expect(db.changed()).toBe(true);
    const db2 = openHwdb(f);
    expect(db2.changed()).toBe(false);
    writeFileAtomic(f, readFileSync(f));
    expect(db2.changed()).toBe(true);
    rmSync(f);
    expect(db2.changed()).toBe(true);
  });
});

describe('hwdb lookup on a damaged trie', () => {
  it('detects a cycle instead of hanging', () => {
    const db = parseHwdbFiles([]);
    db.addText('a*\n K=1\n\nab*\n K=2\n', 'cycle.hwdb');
    const bytes = Buffer.from(compileHwdb(db).data);
    // Point every child entry of every node back at the root node.
    const root = Number(bytes.readBigUInt64LE(56));
    const nodesEnd = 80 + Number(bytes.readBigUInt64LE(64));
    for (let off = 80; off < nodesEnd; ) {
      const children = bytes[off + 8]!;
      const values = Number(bytes.readBigUInt64LE(off + 16));
      for (let c = 0; c < children; c++) {
        bytes[off + 24 + c * 16] = 0x2a; // '*': a glob child, walked recursively
        bytes.writeBigUInt64LE(BigInt(root), off + 24 + c * 16 + 8);
      }
      off += 24 + children * 16 + values * 32;
    }
    const h = hwdbFromBuffer(bytes);
    expect(() => h.lookup('abc')).toThrow(/cycle/);
  });
});
