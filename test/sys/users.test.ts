// User and group names: where nsswitch.conf reads `files` first, the names /etc/passwd and /etc/group hold are read
// from them; every other name (and every name under another order) goes through libc's NSS. Checked against
// getent (NSS itself) for every name of this machine, and with files of the test's own.
import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NAME_FILES, clearNameCache, filesFirst, lookupGroup, lookupUser, parseIdFile } from '../../src/sys/users.js';

/** name -> id of every entry getent lists for a database (NSS's answer, first entry of a name). */
function getent(db: 'passwd' | 'group'): Map<string, number> {
  const ids = new Map<string, number>();
  for (const line of execFileSync('getent', [db], { encoding: 'utf8' }).split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && !ids.has(f[0]!)) ids.set(f[0]!, Number(f[2]));
  }
  return ids;
}

const systemFiles = { ...NAME_FILES };
let tmp: string | undefined;
afterEach(() => {
  Object.assign(NAME_FILES, systemFiles);
  clearNameCache();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
});

describe('user and group names', () => {
  it('every user and group of this machine has the id NSS (getent) gives it, and an unknown name none', () => {
    const groups = getent('group');
    const users = getent('passwd');
    expect(groups.get('disk')).toBeDefined();
    expect(users.get('daemon')).toBeDefined();
    for (const [name, gid] of groups) expect([name, lookupGroup(name)]).toEqual([name, gid]);
    for (const [name, uid] of users) expect([name, lookupUser(name)]).toEqual([name, uid]);
    expect(lookupGroup('dm-no-such-group')).toBeUndefined();
    expect(lookupUser('dm-no-such-user')).toBeUndefined();
  });

  it('reads a group file only where nsswitch.conf names files first; a name it lacks goes to NSS', () => {
    tmp = mkdtempSync(join(tmpdir(), 'dm-users-'));
    const diskGid = getent('group').get('disk')!;
    NAME_FILES.group = join(tmp, 'group');
    NAME_FILES.nsswitch = join(tmp, 'nsswitch.conf');
    writeFileSync(NAME_FILES.group, 'dmfake:x:4242:\ndisk:x:4243:\n');

    writeFileSync(NAME_FILES.nsswitch, '# a comment\ngroup:          files systemd\n');
    clearNameCache();
    expect(lookupGroup('dmfake')).toBe(4242); // only the file has it
    expect(lookupGroup('disk')).toBe(4243); // the file answers first

    writeFileSync(NAME_FILES.nsswitch, 'group: systemd files\n');
    clearNameCache();
    expect(lookupGroup('dmfake')).toBeUndefined(); // NSS reads the real /etc/group
    expect(lookupGroup('disk')).toBe(diskGid);

    // a name the file lacks goes to NSS
    writeFileSync(NAME_FILES.nsswitch, 'group: files\n');
    writeFileSync(NAME_FILES.group, 'dmfake:x:4242:\n');
    clearNameCache();
    expect(lookupGroup('disk')).toBe(diskGid);
  });

  it('nsswitch.conf: files must be the first source of that database', () => {
    expect(filesFirst('passwd: files systemd\ngroup: files systemd\n', 'group')).toBe(true);
    expect(filesFirst('group:files\n', 'group')).toBe(true);
    expect(filesFirst('group: files [SUCCESS=merge] systemd\n', 'group')).toBe(true);
    expect(filesFirst('group: systemd files\n', 'group')).toBe(false);
    expect(filesFirst('group: compat\n', 'group')).toBe(false);
    expect(filesFirst('group: filesx\n', 'group')).toBe(false);
    expect(filesFirst('#group: files\npasswd: files\n', 'group')).toBe(false);
    expect(filesFirst('passwd: files\n', 'group')).toBe(false);
    expect(filesFirst('group: sss files # files\n', 'group')).toBe(false);
  });

  it('a passwd or group file: the first line of a name wins; comments, blanks and lines without a decimal id are skipped', () => {
    const ids = parseIdFile('a:x:1:\nb:x:2:\na:x:3:\nc:x:-4:\nd:x::\n  e:x:5\n\n#f:x:6:\n  # h:x:7:\ng\n');
    expect([...ids]).toEqual([['a', 1], ['b', 2], ['e', 5]]);
  });
});
