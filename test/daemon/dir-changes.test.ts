// What the daemon keeps of database records and /dev/{block,char} links is trusted only while inotify does not
// name the file (src/sys/dir-changes.ts, one look per batch of kernel events): a record another program rewrote,
// and a link another program removed, are seen by the next event of the device, as when every event looked at
// them. DirChanges itself: changes named, a lost watch, a directory made later, one this process made.
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirChanges } from '../../src/sys/dir-changes.js';
import { deleteDb, readDb, unwatchRecords, watchRecords, writeDb } from '../../src/device/db.js';
import { placeDevnumLink, unwatchDevnumLinks, watchDevnumLinks } from '../../src/event/links.js';
import { sleep, startDevmaster, tempRoots, until, zramAdd, zramRemove, type RunningDevmaster } from './helpers.js';

describe('DirChanges', () => {
  it('names the files changed since the last sync, says a removed directory lost, watches one made later', async () => {
    const base = mkdtempSync(join(tmpdir(), 'dm-dirchanges-'));
    const changes = DirChanges.open();
    try {
      const seen: string[] = [];
      const lost: string[] = [];
      const listener = (dir: string) => ({ changed: (p: string) => seen.push(p), lost: () => lost.push(dir) });
      const a = join(base, 'a');
      mkdirSync(a);
      expect(changes.watch(a, listener('a'))).toBe(true);
      const later = join(base, 'later');
      expect(changes.watch(later, listener('later'))).toBe(false);
      expect(changes.covers(join(later, 'y'))).toBe(false);
      changes.sync();
      expect(seen).toEqual([]);
      writeFileSync(join(a, 'x.tmp'), 'one');
      renameSync(join(a, 'x.tmp'), join(a, 'x'));
      changes.sync();
      expect(seen).toContain(join(a, 'x'));
      seen.length = 0;
      changes.sync(); // nothing since
      expect(seen).toEqual([]);
      unlinkSync(join(a, 'x'));
      changes.sync();
      expect(seen).toEqual([join(a, 'x')]);
      rmSync(a, { recursive: true });
      changes.sync();
      expect(lost).toContain('a');
      expect(changes.covers(join(a, 'x'))).toBe(false);
      mkdirSync(later);
      await sleep(1100); // a directory not watched is tried again at most once a second
      changes.sync();
      expect(changes.covers(join(later, 'y'))).toBe(true);
      writeFileSync(join(later, 'y'), '');
      changes.sync();
      expect(seen).toContain(join(later, 'y'));
    } finally {
      changes.close();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('watches a directory this process made at once when told (watchMade), not at the next try a second later', () => {
    const base = mkdtempSync(join(tmpdir(), 'dm-dirchanges-'));
    const changes = DirChanges.open();
    try {
      const seen: string[] = [];
      const made = join(base, 'made');
      expect(changes.watch(made, { changed: (p) => seen.push(p), lost: () => undefined })).toBe(false);
      changes.sync(); // its try: not there yet
      mkdirSync(made);
      expect(changes.watchMade(join(base, 'other'))).toBe(false); // never given to watch()
      expect(changes.watchMade(made)).toBe(true);
      expect(changes.covers(join(made, 'x'))).toBe(true);
      writeFileSync(join(made, 'x'), '');
      changes.sync();
      expect(seen).toContain(join(made, 'x'));
      expect(changes.watchMade(made)).toBe(true); // watched already: nothing more
    } finally {
      changes.close();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('watches the dev root\'s char/ from the first /dev/char link the daemon makes there', () => {
    const base = mkdtempSync(join(tmpdir(), 'dm-devnum-'));
    const roots = { sysfs: '/sys', dev: join(base, 'dev'), run: join(base, 'run') };
    mkdirSync(roots.dev);
    const changes = DirChanges.open();
    try {
      watchDevnumLinks(roots, changes);
      changes.sync();
      expect(changes.covers(join(roots.dev, 'char', '1:3'))).toBe(false);
      placeDevnumLink(roots, false, 1, 3, '/dev/null', { error: (m) => expect.fail(m) });
      expect(readlinkSync(join(roots.dev, 'char', '1:3'))).toBe('../null');
      expect(changes.covers(join(roots.dev, 'char', '1:3'))).toBe(true);
      expect(changes.covers(join(roots.dev, 'block', '7:0'))).toBe(false);
    } finally {
      unwatchDevnumLinks(changes);
      changes.close();
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('records known absent while <run>/data is watched', () => {
  it('looks for no record the directory did not hold and nothing named since; its own writes and inotify\'s names are looked for', () => {
    const run = mkdtempSync(join(tmpdir(), 'dm-absent-'));
    const changes = DirChanges.open();
    const put = (id: string, text: string) => {
      writeFileSync(join(run, 'data', `${id}.tmp`), text);
      renameSync(join(run, 'data', `${id}.tmp`), join(run, 'data', id));
    };
    try {
      mkdirSync(join(run, 'data'));
      put('c1:1', 'E:BEFORE=1\n');
      watchRecords(run, changes);
      expect(readDb(run, 'c1:1')?.properties.get('BEFORE')).toBe('1');
      expect(readDb(run, 'c1:2')).toBeUndefined();
      // another program's record: not looked for until inotify names it (the daemon syncs before each batch of events)
      put('c1:2', 'E:OTHER=1\n');
      expect(readDb(run, 'c1:2')).toBeUndefined();
      changes.sync();
      expect(readDb(run, 'c1:2')?.properties.get('OTHER')).toBe('1');
      // this process's own write is read back at once, before any sync
      writeDb(run, 'c1:3', { hasDevnode: true, links: [], linkPriority: 0, usecInitialized: 1, properties: [['OWN', '1']], tags: [], currentTags: [] }, { keepEmpty: true, previous: undefined });
      expect(readDb(run, 'c1:3')?.properties.get('OWN')).toBe('1');
      deleteDb(run, 'c1:1');
      expect(readDb(run, 'c1:1')).toBeUndefined();
      put('c1:1', 'E:AGAIN=1\n');
      changes.sync();
      expect(readDb(run, 'c1:1')?.properties.get('AGAIN')).toBe('1');
    } finally {
      unwatchRecords(changes);
      changes.close();
      rmSync(run, { recursive: true, force: true });
    }
  });
});

describe('the daemon, on the real kernel (zram)', () => {
  const r = tempRoots('dm-trusted-');
  let dm: RunningDevmaster | undefined;
  const zrams: number[] = [];
  afterAll(async () => {
    await dm?.stop();
    for (const z of zrams) zramRemove(z);
    r.cleanup();
  });

  it('sees a record another program rewrote and a /dev/block link another program removed at the next event', async () => {
    // DM_SEEN says what the record held when the event started (IMPORT{db}): another program's edit shows there
    writeFileSync(join(r.rules, '50-trusted.rules'), ['KERNEL=="zram*", ENV{DM_TRUSTED}="yes"', 'KERNEL=="zram*", IMPORT{db}="DM_EXTERNAL"', 'KERNEL=="zram*", ENV{DM_EXTERNAL}=="?*", ENV{DM_SEEN}="$env{DM_EXTERNAL}"', ''].join('\n'));
    dm = await startDevmaster(r);
    const z = zramAdd();
    zrams.push(z);
    const name = `zram${z}`;
    const devnum = readFileSync(`/sys/block/${name}/dev`, 'utf8').trim();
    const record = join(r.run, 'data', `b${devnum}`);
    const link = join(r.dev, 'block', devnum);
    const change = () => writeFileSync(`/sys/block/${name}/uevent`, 'change');
    await until(() => existsSync(record) && readFileSync(record, 'utf8').includes('E:DM_TRUSTED=yes'), 10_000, `the record of ${name}`);
    await until(() => existsSync(link), 10_000, `/dev/block/${devnum}`);
    // the daemon watches /dev/block from the first link it makes there (DirChanges.watchMade()); a few events of
    // the device later, its record and link are known to it
    for (let i = 0; i < 3; i++) {
      change();
      await dm.settle();
    }

    // another program rewrites the record (temp file and rename, as udevd does): the next event starts from it
    const text = readFileSync(record, 'utf8');
    expect(text).not.toMatch(/DM_SEEN/);
    writeFileSync(`${record}.other`, text.replace(/^V:/m, 'E:DM_EXTERNAL=one\nV:'));
    renameSync(`${record}.other`, record);
    change();
    await dm.settle();
    expect(readFileSync(record, 'utf8')).toMatch(/^E:DM_SEEN=one$/m);

    // another program removes the /dev/block link: the next event puts it back
    unlinkSync(link);
    change();
    await dm.settle();
    expect(readlinkSync(link)).toBe(`../${name}`);
  }, 60_000);
});
