// User and group names through the system's databases (NSS, via libc's getpwnam/getgrnam), cached; and udev's
// parsers of numeric ids and modes.
//
// Where /etc/nsswitch.conf names `files` first for a database (Debian's `files systemd`), a name that /etc/passwd or
// /etc/group holds is what NSS would return for it: the first source that knows a name answers. Those names are
// read from the file itself, once (one read instead of an open, read and close of the file per name in libc, each
// through a C call); a name the file does not hold, or any name under another order, goes to libc as before.
import { readFileSync } from 'node:fs';
import { declared, koffi, libcFunction } from './libc.js';
import { safeAtou } from '../util/cnum.js';
import { isSystemError } from '../util/fs.js';

const passwd = declared((k) => k.struct('passwd', { pw_name: 'char *', pw_passwd: 'char *', pw_uid: 'uint32_t', pw_gid: 'uint32_t', pw_gecos: 'char *', pw_dir: 'char *', pw_shell: 'char *' }));
const group = declared((k) => k.struct('group', { gr_name: 'char *', gr_passwd: 'char *', gr_gid: 'uint32_t', gr_mem: 'char **' }));
const getpwnam = libcFunction<(name: string) => unknown>('passwd *getpwnam(const char *name)', passwd);
const getgrnam = libcFunction<(name: string) => unknown>('group *getgrnam(const char *name)', group);

/** The system files the fast path reads (tests point them elsewhere). */
export const NAME_FILES = { nsswitch: '/etc/nsswitch.conf', passwd: '/etc/passwd', group: '/etc/group' };

/**
 * Whether nsswitch.conf's line for `db` names `files` as its first source (an action in brackets after a source
 * changes nothing for a name the first source finds). No file, no line or another first source: false.
 */
export function filesFirst(nsswitch: string, db: 'passwd' | 'group'): boolean {
  for (const raw of nsswitch.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^([a-z_]+)\s*:\s*(.*)$/.exec(line);
    if (m && m[1] === db) return /^files(?![\w-])/.test(m[2]!);
  }
  return false;
}

/**
 * name -> id of a passwd or group file (the third field), as glibc's files module reads it: blanks before a line
 * are skipped, and empty and comment lines; the first line of a name wins; a line without a decimal id is skipped.
 */
export function parseIdFile(text: string): Map<string, number> {
  const ids = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':', 3);
    if (f.length < 3 || f[0] === '' || ids.has(f[0]!) || !/^\d+$/.test(f[2]!)) continue;
    const id = Number(f[2]);
    if (id <= 0xffffffff) ids.set(f[0]!, id);
  }
  return ids;
}

/** Per database: the names its file holds, where NSS reads that file first; null where it does not (or unread). */
const fileIds: { passwd?: Map<string, number> | null; group?: Map<string, number> | null } = {};

function readOrEmpty(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch (e) {
    if (!isSystemError(e)) throw e;
    return undefined;
  }
}

function idsFromFile(db: 'passwd' | 'group'): Map<string, number> | null {
  let ids = fileIds[db];
  if (ids === undefined) {
    const nsswitch = readOrEmpty(NAME_FILES.nsswitch);
    const text = nsswitch !== undefined && filesFirst(nsswitch, db) ? readOrEmpty(NAME_FILES[db]) : undefined;
    // names are bytes to NSS: a file that is not ASCII goes to libc, which compares them as such
    ids = text !== undefined && !/[^\x00-\x7f]/.test(text) ? parseIdFile(text) : null;
    fileIds[db] = ids;
  }
  return ids;
}

const userCache = new Map<string, number | undefined>();
const groupCache = new Map<string, number | undefined>();

/** uid of a user name, or undefined when unknown. */
export function lookupUser(name: string): number | undefined {
  if (userCache.has(name)) return userCache.get(name);
  const known = idsFromFile('passwd')?.get(name);
  if (known !== undefined) {
    userCache.set(name, known);
    return known;
  }
  const p = getpwnam()(name);
  const v = p ? (koffi().decode(p, passwd()) as { pw_uid: number }).pw_uid : undefined;
  userCache.set(name, v);
  return v;
}

/** gid of a group name, or undefined when unknown. */
export function lookupGroup(name: string): number | undefined {
  if (groupCache.has(name)) return groupCache.get(name);
  const known = idsFromFile('group')?.get(name);
  if (known !== undefined) {
    groupCache.set(name, known);
    return known;
  }
  const p = getgrnam()(name);
  const v = p ? (koffi().decode(p, group()) as { gr_gid: number }).gr_gid : undefined;
  groupCache.set(name, v);
  return v;
}

/** Forget cached names (after a reload, users may have changed). */
export function clearNameCache(): void {
  userCache.clear();
  groupCache.clear();
  delete fileIds.passwd;
  delete fileIds.group;
}

/** A uid/gid as udev's parse_uid() reads it: decimal, no sign, leading zero or blank, not -1 or 65535. */
export function parseId(s: string): number | undefined {
  const n = safeAtou(s, { base: 10, refusePlusMinus: true, refuseLeadingZero: true, refuseLeadingWhitespace: true });
  return typeof n === 'number' && n !== 0xffffffff && n !== 0xffff ? n : undefined;
}

/** An octal mode as udev's parse_mode() reads it (blanks before it allowed, no sign, at most 07777). */
export function parseMode(s: string): number | undefined {
  const n = safeAtou(s, { base: 8, refusePlusMinus: true });
  return typeof n === 'number' && n <= 0o7777 ? n : undefined;
}
