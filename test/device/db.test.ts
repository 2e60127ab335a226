import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileStamp, readFileWithMode } from '../../src/sys/file.js';
import { stampOf, useLibcReads } from '../../src/sys/stamped.js';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync, mkdirSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatDb, parseDb, readDb, writeDb, updateTagIndex, devicesWithTag, type DbParseIssue } from '../../src/device/db.js';
import { scratchDir } from '../helpers/scratch.js';

const content = {
  hasDevnode: true,
  links: ['/dev/disk/by-id/ata-X', '/dev/disk/by-path/pci-0'],
  linkPriority: -10,
  usecInitialized: 12345,
  properties: new Map([['ID_SERIAL', 'X'], ['.HIDDEN', 'never'], ['ID_BUS', 'ata']]),
  tags: ['systemd', 'seat'],
  currentTags: ['systemd'],
};

describe('udev database format', () => {
  it("writes udev's lines in udev's order, never '.' properties", () => {
    expect(formatDb(content)).toBe(
      'S:disk/by-id/ata-X\nS:disk/by-path/pci-0\nL:-10\nI:12345\nE:ID_SERIAL=X\nE:ID_BUS=ata\nG:systemd\nG:seat\nQ:systemd\nV:1\n',
    );
  });
  it('writes S:/L: only for devices with a node, nothing for empty records', () => {
    expect(formatDb({ ...content, hasDevnode: false })).not.toMatch(/^[SL]:/m);
    expect(formatDb({ ...content, links: [], linkPriority: 0, properties: new Map(), tags: [], currentTags: [] })).toBe('');
  });
  it('round-trips through parseDb', () => {
    const rec = parseDb(formatDb(content));
    expect(rec.links).toEqual(content.links);
    expect(rec.linkPriority).toBe(-10);
    expect(rec.usecInitialized).toBe(12345);
    expect([...rec.properties]).toEqual([['ID_SERIAL', 'X'], ['ID_BUS', 'ata']]);
    expect(rec.tags).toEqual(['systemd', 'seat']);
    expect(rec.currentTags).toEqual(['systemd']);
    expect(rec.version).toBe(1);
  });
  it('reads a corrupt file as far as it goes and reports each bad line', () => {
    const issues: DbParseIssue[] = [];
    const rec = parseDb('E:GOOD=1\ngarbage\nL:notanumber\nE:=x\nZ:what\nG:tag\n\u0000\u0001', issues);
    expect([...rec.properties]).toEqual([['GOOD', '1']]);
    expect(rec.tags).toEqual(['tag']);
    expect(issues.map((i) => i.line)).toEqual([2, 3, 4, 5, 7]);
  });
  it('treats a version 0 database (no Q: lines) as all tags current', () => {
    expect(parseDb('G:a\nG:b\n').currentTags).toEqual(['a', 'b']);
  });
  it('writes atomically with db_persist as the sticky bit, deletes empty records without node', () => {
    const run = scratchDir('dm-db-');
    writeDb(run, 'b8:0', content, { keepEmpty: true, persist: true, previous: undefined });
    expect(readFileSync(join(run, 'data', 'b8:0'), 'utf8')).toBe(formatDb(content));
    expect(statSync(join(run, 'data', 'b8:0')).mode & 0o7777).toBe(0o1644);
    expect(readdirSync(join(run, 'data'))).toEqual(['b8:0']);
    expect(readDb(run, 'b8:0')?.tags).toEqual(['systemd', 'seat']);
    const empty = { ...content, hasDevnode: false, links: [], linkPriority: 0, properties: new Map(), tags: [], currentTags: [] };
    writeDb(run, '+pci:0000:00:01.0', content, { keepEmpty: false, previous: undefined });
    expect(existsSync(join(run, 'data', '+pci:0000:00:01.0'))).toBe(true);
    writeDb(run, '+pci:0000:00:01.0', empty, { keepEmpty: false, previous: readDb(run, '+pci:0000:00:01.0') });
    expect(existsSync(join(run, 'data', '+pci:0000:00:01.0'))).toBe(false);
    expect(readDb(run, 'nonexistent')).toBeUndefined();
  });
  it('keeps the tag index in step with the tags', () => {
    const run = scratchDir('dm-tags-');
    updateTagIndex(run, 'b8:0', [], ['systemd', 'seat']);
    updateTagIndex(run, 'b8:1', [], ['systemd']);
    expect(devicesWithTag(run, 'systemd')).toEqual(['b8:0', 'b8:1']);
    updateTagIndex(run, 'b8:0', ['systemd', 'seat'], ['systemd']);
    expect(devicesWithTag(run, 'seat')).toEqual([]);
    expect(existsSync(join(run, 'tags', 'seat'))).toBe(false);
    mkdirSync(join(run, 'x'));
    writeFileSync(join(run, 'x', 'y'), '');
  });
});

describe('empty records', () => {
  const nothing = { hasDevnode: true, links: [], linkPriority: 0, usecInitialized: 0, properties: new Map<string, string>(), tags: [], currentTags: [] };
  const ino = (p: string) => statSync(p).ino;

  it('are links to one empty file per mode, each replaced or removed alone', () => {
    const run = mkdtempSync(join(tmpdir(), 'dm-db-empty-'));
    try {
      const shared = join(run, 'devmaster', 'empty-record');
      const rec = (id: string) => join(run, 'data', id);
      for (const id of ['c4:64', 'c4:65', 'c4:66']) writeDb(run, id, nothing, { keepEmpty: true, previous: undefined });
      writeDb(run, 'c4:67', nothing, { keepEmpty: true, persist: true, previous: undefined });
      for (const id of ['c4:64', 'c4:65', 'c4:66']) {
        expect(readFileSync(rec(id), 'utf8')).toBe('');
        expect(ino(rec(id))).toBe(ino(shared));
        expect(statSync(rec(id)).mode & 0o7777).toBe(0o644);
      }
      expect(statSync(shared).nlink).toBe(4);
      // db_persist's sticky bit: a file of its own
      expect(ino(rec('c4:67'))).toBe(ino(`${shared}-persist`));
      expect(statSync(rec('c4:67')).mode & 0o7777).toBe(0o1644);
      expect(readDb(run, 'c4:67')?.persist).toBe(true);
      // a record that gets something is a file of its own; the others stay empty
      writeDb(run, 'c4:64', content, { keepEmpty: true, previous: readDb(run, 'c4:64') });
      expect(readFileSync(rec('c4:64'), 'utf8')).toBe(formatDb(content));
      expect(ino(rec('c4:64'))).not.toBe(ino(shared));
      expect(readFileSync(rec('c4:65'), 'utf8')).toBe('');
      expect(readFileSync(shared, 'utf8')).toBe('');
      // and back to empty: a link again
      writeDb(run, 'c4:64', nothing, { keepEmpty: true, previous: readDb(run, 'c4:64') });
      expect(ino(rec('c4:64'))).toBe(ino(shared));
      // a record removed is one name less
      unlinkSync(rec('c4:65'));
      expect(existsSync(rec('c4:66'))).toBe(true);
      expect(statSync(shared).nlink).toBe(3);
      // the shared file removed (a clean-up of the run root): made again at the next empty record
      rmSync(join(run, 'devmaster'), { recursive: true });
      writeDb(run, 'c4:65', nothing, { keepEmpty: true, previous: undefined });
      expect(ino(rec('c4:65'))).toBe(ino(shared));
      expect(readFileSync(rec('c4:66'), 'utf8')).toBe('');
      // a record already there that was not known (previous undefined) is replaced all the same
      writeFileSync(rec('c4:70'), 'E:STALE=1\n');
      writeDb(run, 'c4:70', nothing, { keepEmpty: true, previous: undefined });
      expect(readFileSync(rec('c4:70'), 'utf8')).toBe('');
      expect(readdirSync(join(run, 'data')).filter((n) => n.includes('.tmp-'))).toEqual([]);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  });

  it('are not linked to a shared file that is not empty, or has another mode, when first used', () => {
    const run = mkdtempSync(join(tmpdir(), 'dm-db-empty-'));
    try {
      const shared = join(run, 'devmaster', 'empty-record');
      mkdirSync(join(run, 'devmaster'));
      writeFileSync(shared, 'E:PLANTED=1\n');
      writeFileSync(`${shared}-persist`, '', { mode: 0o600 });
      writeDb(run, 'c4:64', nothing, { keepEmpty: true, previous: undefined });
      writeDb(run, 'c4:65', nothing, { keepEmpty: true, persist: true, previous: undefined });
      expect(readFileSync(join(run, 'data', 'c4:64'), 'utf8')).toBe('');
      expect(readFileSync(shared, 'utf8')).toBe('');
      expect(statSync(join(run, 'data', 'c4:65')).mode & 0o7777).toBe(0o1644);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  });
});

describe('a corrupt database entry during an event', () => {
  it('is used as far as it goes and each bad line is logged with file:line', async () => {
    const { processEvent } = await import('../../src/event/process.js');
    const { Device } = await import('../../src/device/device.js');
    const { RuleSet } = await import('../../src/rules/load.js');
    const { pino } = await import('pino');
    const run = scratchDir('dm-corrupt-');
    mkdirSync(join(run, 'data'));
    writeFileSync(join(run, 'data', 'c1:3'), 'E:KEPT=1\n\u0000garbage\nL:x\n');
    const lines: string[] = [];
    const log = pino({ level: 'warn' }, { write: (s: string) => lines.push(s) });
    const dev = Device.fromSyspath({ sysfs: '/sys', dev: run, run }, '/sys/class/mem/null');
    dev.action = 'change';
    const res = await processEvent({ roots: { sysfs: '/sys', dev: run, run }, ruleSet: RuleSet.empty(), log, test: true, mknod: false, execTimeoutMs: 1000, builtins: new Map() }, dev);
    expect(res.dbOld?.properties.get('KEPT')).toBe('1');
    const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs).toEqual([`${join(run, 'data', 'c1:3')}:2: malformed line '\u0000garbage', line ignored`, `${join(run, 'data', 'c1:3')}:3: invalid link priority 'x', line ignored`]);
  });
});

describe('rewriting an unchanged record', () => {
  it('skips an identical record but still drops a sticky bit that is no longer asked for', () => {
    const run = scratchDir('dm-db-same-');
    writeDb(run, 'b8:0', content, { keepEmpty: true, previous: undefined });
    const path = join(run, 'data', 'b8:0');
    const ino = statSync(path).ino;
    // as an event does: the record read before, its text and sticky bit
    const previous = () => readDb(run, 'b8:0');
    expect(previous()).toMatchObject({ text: readFileSync(path, 'utf8'), persist: false });
    writeDb(run, 'b8:0', content, { keepEmpty: true, previous: previous() });
    expect(statSync(path).ino).toBe(ino); // not rewritten
    writeDb(run, 'b8:0', content, { keepEmpty: true, persist: true, previous: previous() });
    expect(statSync(path).mode & 0o7777).toBe(0o1644);
    expect(previous()!.persist).toBe(true); // the sticky bit read back, as sd-device reads db_persist
    const sticky = statSync(path).ino;
    writeDb(run, 'b8:0', content, { keepEmpty: true, persist: true, previous: previous() });
    expect(statSync(path).ino).toBe(sticky); // sticky already: not rewritten
    writeDb(run, 'b8:0', content, { keepEmpty: true, previous: previous() });
    expect(statSync(path).mode & 0o7777).toBe(0o644);
    writeDb(run, 'b8:0', { ...content, tags: ['other'] }, { keepEmpty: true, previous: previous() });
    expect(readFileSync(path, 'utf8')).toContain('G:other\n');
  });
});

describe.each([
  ['Node', undefined],
  ['libc', { readFileWithMode, fileStamp }],
])('a record read again (reads through %s)', (_, libc) => {
  beforeAll(() => useLibcReads(libc));
  afterAll(() => useLibcReads(undefined));
  it('has the stamp of the file: the same for both ways of reading', () => {
    const run = mkdtempSync(join(tmpdir(), 'dm-db-stamp-'));
    writeDb(run, 'c1:5', { ...content, properties: new Map([['A', '1']]) }, { keepEmpty: true, previous: undefined });
    const path = join(run, 'data', 'c1:5');
    const st = statSync(path, { bigint: true });
    expect(readFileWithMode(path)!.stamp).toBe(`${st.ino}:${st.size}:${st.ctimeNs / 1_000_000_000n}.${st.ctimeNs % 1_000_000_000n}:${st.mode}`);
    expect(fileStamp(path)).toBe(readFileWithMode(path)!.stamp);
    useLibcReads(undefined);
    expect(stampOf(path)).toBe(fileStamp(path));
    useLibcReads(libc);
    rmSync(run, { recursive: true, force: true });
  });
  it('sees every change another process makes: a rename onto it, an edit of the same size, a chmod, a removal', () => {
    const run = mkdtempSync(join(tmpdir(), 'dm-db-again-'));
    const path = join(run, 'data', 'c1:3');
    writeDb(run, 'c1:3', { ...content, properties: new Map([['A', '1']]) }, { keepEmpty: true, previous: undefined });
    expect(readDb(run, 'c1:3')!.properties.get('A')).toBe('1');
    expect(readDb(run, 'c1:3')!.properties.get('A')).toBe('1'); // the remembered record
    // replaced by another writer (temp file + rename, as udevd writes)
    writeFileSync(path + '.new', readFileSync(path, 'utf8').replace('E:A=1', 'E:A=2'));
    renameSync(path + '.new', path);
    expect(readDb(run, 'c1:3')!.properties.get('A')).toBe('2');
    // edited in place, same size
    writeFileSync(path, readFileSync(path, 'utf8').replace('E:A=2', 'E:A=3'));
    expect(readDb(run, 'c1:3')!.properties.get('A')).toBe('3');
    // the sticky bit set by someone else
    chmodSync(path, 0o1644);
    expect(readDb(run, 'c1:3')!.persist).toBe(true);
    unlinkSync(path);
    expect(readDb(run, 'c1:3')).toBeUndefined();
    rmSync(run, { recursive: true, force: true });
  });
});
