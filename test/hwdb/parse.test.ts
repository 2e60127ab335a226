// The .hwdb source parser: records, comments, malformed lines reported as file:line like systemd-hwdb.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev } from '../helpers/reference.js';
import { MAX_SOURCE_BYTES } from '../../src/hwdb/parse.js';
import { formatDiagnostic, HwdbSources, hwdbSourceDirs, openHwdb, parseHwdbFiles, updateHwdb, compileHwdb, hwdbFromBuffer } from '../../src/hwdb/index.js';
import { formatProps, systemdQueryAll, trieDump } from './helpers.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'devmaster-hwdb-parse-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const fixture = join(__dirname, '..', '..', 'fixtures', 'hwdb', 'malformed');

describe('hwdb source parser', () => {
  it('reads records, folds leading blanks, strips comments and trailing blanks', () => {
    const db = new HwdbSources();
    db.addText(['# comment', 'a:b*', 'a:c', ' K1=v1 # trailing', '   K2=x=y  ', '', 'a:d', ' K1=late', ''].join('\n'), 'mem.hwdb');
    expect(db.diagnostics).toEqual([]);
    expect(db.records).toBe(2);
    expect(db.matchList).toEqual(['a:b*', 'a:c', 'a:d']);
    const p = db.properties('a:c');
    expect([...p.keys()]).toEqual([' K1', ' K2']);
    expect(p.get(' K1')!.value).toBe('v1');
    expect(p.get(' K2')!.value).toBe('x=y');
    expect(p.get(' K2')!.line).toBe(5);
    const bin = hwdbFromBuffer(compileHwdb(db).data);
    expect([...bin.lookup('a:bzzz')]).toEqual([['K1', 'v1'], ['K2', 'x=y']]);
    expect([...bin.lookup('a:d')]).toEqual([['K1', 'late']]);
    expect(bin.lookup('a:e').size).toBe(0);
  });

  it('handles CRLF line ends and a last line without newline', () => {
    const db = new HwdbSources();
    db.addText('m:1\r\n K=v\r\n\r\nm:2\n K=w', 'crlf.hwdb');
    expect(db.diagnostics).toEqual([]);
    const bin = hwdbFromBuffer(compileHwdb(db).data);
    expect(bin.lookup('m:1').get('K')).toBe('v');
    expect(bin.lookup('m:2').get('K')).toBe('w');
  });

  it('reports malformed lines with file:line and the same reasons as systemd-hwdb', () => {
    const ref = referenceUdev();
    const root = join(tmp, 'malformed');
    mkdirSync(join(root, 'lib', 'udev'), { recursive: true });
    cpSync(fixture, join(root, 'lib', 'udev', 'hwdb.d'), { recursive: true });
    const sd = spawnSync(ref.systemdHwdb, [`--root=${root}`, 'update'], { encoding: 'utf8' });
    expect(sd.status).toBe(0);
    const sdLines = sd.stderr.split('\n').filter((l) => /:\d+: /.test(l));
    const db = parseHwdbFiles([join(root, 'lib', 'udev', 'hwdb.d', '10-malformed.hwdb')]);
    const ours = db.diagnostics.map(formatDiagnostic);
    expect(ours.length).toBeGreaterThanOrEqual(5);
    expect(ours).toEqual(sdLines);
    for (const d of db.diagnostics) {
      expect(d.file).toMatch(/10-malformed\.hwdb$/);
      expect(d.line).toBeGreaterThan(0);
    }
  });

  it('skips malformed lines exactly as systemd-hwdb does (same lookups)', () => {
    const ref = referenceUdev();
    const root = join(tmp, 'malformed2');
    mkdirSync(join(root, 'lib', 'udev'), { recursive: true });
    cpSync(fixture, join(root, 'lib', 'udev', 'hwdb.d'), { recursive: true });
    spawnSync(ref.systemdHwdb, [`--root=${root}`, 'update'], { encoding: 'utf8' });
    const out = join(tmp, 'malformed2-dm.bin');
    updateHwdb({ dirs: hwdbSourceDirs(root), output: out });
    const probes = ['fixture:ok', 'fixture:okay', 'fixture:late-match', 'fixture:no-properties', 'fixture:after-bad', '\ttab:indented', 'fixture:eof-without-properties'];
    const want = systemdQueryAll(ref.systemdHwdb, root, probes, tmp);
    const db = openHwdb(out);
    probes.forEach((p, i) => expect(formatProps(db.lookup(p)), p).toBe(want[i]));
    expect(db.lookup('fixture:ok').get('TWO_SPACES')).toBe('folded into one');
    expect(db.lookup('fixture:ok').get('VALUE_WITH_HASH')).toBe('before');
    db.close();
  });

  it('reports an unreadable file instead of throwing', () => {
    const db = parseHwdbFiles([join(tmp, 'does-not-exist.hwdb')]);
    expect(db.diagnostics).toHaveLength(1);
    expect(formatDiagnostic(db.diagnostics[0]!)).toMatch(/does-not-exist\.hwdb:0: cannot read/);
  });

  it('keeps non-ASCII bytes unchanged', () => {
    const f = join(tmp, 'utf8.hwdb');
    writeFileSync(f, 'u:é*\n NAME=Müller ☃\n');
    const bin = hwdbFromBuffer(compileHwdb(parseHwdbFiles([f])).data);
    expect(bin.lookup('u:éx').get('NAME')).toBe('Müller ☃');
  });
});

describe('hwdb source parser, odd bytes', () => {
  it('ends a line at a NUL byte or a lone CR, as systemd\'s read_line() does', () => {
    const db = new HwdbSources();
    db.addBytes(Buffer.from('n:a\0garbage*\n K=v\0tail\n\nc:1\rc:2\r\n K=w\n\r\n K2=x\n'), 'nul.hwdb');
    // "garbage*" is a second match line of the first record; "tail" a match line after its properties.
    // "\r" alone ends a line and "\r\n" one line, so c:1 and c:2 share K=w; "\n\r" ends one line, so the "\n"
    // after it is an empty line that ends the record (systemd-hwdb warns about line 10 the same way).
    expect(db.diagnostics.map(formatDiagnostic)).toEqual([
      'nul.hwdb:4: Property or empty line expected, got "tail", ignoring record.',
      'nul.hwdb:10: Match expected but got indented property " K2=x", ignoring line.',
    ]);
    const bin = hwdbFromBuffer(compileHwdb(db).data);
    expect([...bin.lookup('n:a')]).toEqual([['K', 'v']]);
    expect([...bin.lookup('garbageX')]).toEqual([['K', 'v']]);
    expect(bin.lookup('n:agarbage').size).toBe(0);
    expect([...bin.lookup('c:1')]).toEqual([['K', 'w']]);
    expect([...bin.lookup('c:2')]).toEqual([['K', 'w']]);
  });

  it('drops the rest of a file at a line of 1 MiB or more, as systemd-hwdb does, and says so', () => {
    const ref = referenceUdev();
    for (const [name, len] of [['at-limit', 1024 * 1024], ['under-limit', 1024 * 1024 - 1]] as const) {
      const root = join(tmp, name);
      const dir = join(root, 'lib', 'udev', 'hwdb.d');
      mkdirSync(dir, { recursive: true });
      const f = join(dir, '10-long.hwdb');
      writeFileSync(f, `a:1\n K=v\n\nb:${'x'.repeat(len - 2)}\n K=w\n\nc:1\n K=u\n`);
      const sd = spawnSync(ref.systemdHwdb, [`--root=${root}`, 'update'], { encoding: 'utf8' });
      expect(sd.status, sd.stderr).toBe(0);
      const res = updateHwdb({ dirs: hwdbSourceDirs(root), output: join(root, 'dm.bin') });
      expect(trieDump(readFileSync(join(root, 'dm.bin')))).toEqual(trieDump(readFileSync(join(root, 'etc', 'udev', 'hwdb.bin'))));
      const c = openHwdb(join(root, 'dm.bin'));
      expect(c.lookup('c:1').get('K')).toBe(len >= 1024 * 1024 ? undefined : 'u');
      c.close();
      expect(res.diagnostics.map(formatDiagnostic)).toEqual(len >= 1024 * 1024 ? [`${f}:4: Line too long (1 MiB or more), ignoring the rest of the file.`] : []);
    }
  });

  it('refuses a source larger than MAX_SOURCE_BYTES with a diagnostic, without reading it', () => {
    const f = join(tmp, 'huge.hwdb');
    writeFileSync(f, '');
    truncateSync(f, MAX_SOURCE_BYTES + 1); // sparse: nothing is written
    const db = parseHwdbFiles([f]);
    expect(db.diagnostics.map(formatDiagnostic)).toEqual([`${f}:0: cannot read: too large (${MAX_SOURCE_BYTES + 1} bytes; at most ${MAX_SOURCE_BYTES})`]);
  });

  it('says why when node hides WebAssembly (the daemon runs with --no-expose-wasm)', () => {
    const parse = join(__dirname, '..', '..', 'dist', 'hwdb', 'parse.js');
    const r = spawnSync(process.execPath, ['--no-expose-wasm', '--input-type=module', '-e', `import { HwdbSources } from ${JSON.stringify(parse)}; new HwdbSources();`], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('compiling the hwdb needs WebAssembly, which this node hides (--no-expose-wasm)');
  });
});
