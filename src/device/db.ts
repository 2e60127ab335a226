// udev's database: /run/udev/data/<id> (S: L: I: E: G: Q: V: W: lines) and the tag index
// /run/udev/tags/<tag>/<id>. Writes are atomic (temp file + rename). Properties starting with '.' are never written.
import { closeSync, mkdirSync, openSync, unlinkSync } from 'node:fs';
import type { DirChanges } from '../sys/dir-changes.js';
import { join } from 'node:path';
import { isErrno, linkFileAtomic, lstatIfAny, readdirIfAny, rmdirIfEmpty, unlinkIfAny, writeFileAtomic } from '../util/fs.js';
import { readStamped, stampOf } from '../sys/stamped.js';

/** The sticky bit: a record kept over the initrd's switch to the real root (OPTIONS+="db_persist"). */
const S_ISVTX = 0o1000;
const S_IFREG = 0o100000;

export const DB_VERSION = 1;

export interface DbRecord {
  /** Symlinks, as logical "/dev/..." paths. */
  links: string[];
  linkPriority: number | undefined;
  usecInitialized: number;
  /** Rules/imported properties, in file order. */
  properties: Map<string, string>;
  tags: string[];
  currentTags: string[];
  version: number;
  watchHandle: number | undefined;
  /** The sticky bit on the file (OPTIONS+="db_persist"). */
  persist: boolean;
  /** The file's text, when read from disk. */
  text?: string;
}

export interface DbParseIssue {
  line: number;
  message: string;
}

export function emptyRecord(): DbRecord {
  return { links: [], linkPriority: undefined, usecInitialized: 0, properties: new Map(), tags: [], currentTags: [], version: 0, watchHandle: undefined, persist: false };
}

/** Parses database text. Unknown or malformed lines are reported and skipped, as sd-device skips them. */
export function parseDb(text: string, issues?: DbParseIssue[]): DbRecord {
  const rec = emptyRecord();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    if (line.length < 2 || line[1] !== ':') {
      issues?.push({ line: i + 1, message: `malformed line '${line.slice(0, 40)}'` });
      continue;
    }
    const v = line.slice(2);
    switch (line[0]) {
      case 'S':
        rec.links.push(`/dev/${v}`);
        break;
      case 'L':
        if (/^-?\d+$/.test(v)) rec.linkPriority = Number(v);
        else issues?.push({ line: i + 1, message: `invalid link priority '${v}'` });
        break;
      case 'I':
        if (/^\d+$/.test(v)) rec.usecInitialized = Number(v);
        else issues?.push({ line: i + 1, message: `invalid initialization time '${v}'` });
        break;
      case 'E': {
        const eq = v.indexOf('=');
        if (eq <= 0) issues?.push({ line: i + 1, message: `invalid property '${v.slice(0, 40)}'` });
        else rec.properties.set(v.slice(0, eq), v.slice(eq + 1));
        break;
      }
      case 'G':
        rec.tags.push(v);
        break;
      case 'Q':
        rec.currentTags.push(v);
        break;
      case 'V':
        if (/^\d+$/.test(v)) rec.version = Number(v);
        else issues?.push({ line: i + 1, message: `invalid version '${v}'` });
        break;
      case 'W':
        if (/^\d+$/.test(v)) rec.watchHandle = Number(v);
        break;
      default:
        issues?.push({ line: i + 1, message: `unknown key '${line[0]}'` });
    }
  }
  // Version 0 databases (systemd <= 246) had no Q: lines; every tag was current.
  if (rec.version === 0 && rec.currentTags.length === 0) rec.currentTags = [...rec.tags];
  return rec;
}

export interface DbContent {
  /** Whether the device has a device node (major > 0): only then S: and L: lines are written. */
  hasDevnode: boolean;
  links: Iterable<string>;
  linkPriority: number;
  usecInitialized: number;
  properties: Iterable<[string, string]>;
  tags: Iterable<string>;
  currentTags: Iterable<string>;
}

/** Whether a record carries anything worth storing (sd-device's device_has_info). */
export function hasInfo(c: DbContent): boolean {
  if (nonEmpty(c.links) || c.linkPriority !== 0 || nonEmpty(c.tags) || nonEmpty(c.currentTags)) return true;
  let stored = false;
  eachProperty(c.properties, (k) => {
    if (!k.startsWith('.')) stored = true;
  });
  return stored;
}

/** for...of allocates per entry in V8's interpreter, a Map's forEach does not: this runs for every event. */
function eachProperty(props: Iterable<[string, string]>, fn: (k: string, v: string) => void): void {
  if (props instanceof Map) (props as Map<string, string>).forEach((v, k) => fn(k, v));
  else for (const [k, v] of props) fn(k, v);
}

function eachOf(items: Iterable<string>, fn: (s: string) => void): void {
  if (items instanceof Set || Array.isArray(items)) (items as Set<string>).forEach((x) => fn(x));
  else for (const x of items) fn(x);
}

/** Whether an iterable has an element (a Set or an array without an iterator: the common case, once per event). */
function nonEmpty(it: Iterable<unknown>): boolean {
  if (it instanceof Set || it instanceof Map) return it.size > 0;
  if (Array.isArray(it)) return it.length > 0;
  return !it[Symbol.iterator]().next().done;
}

/** Serializes exactly as udev writes: S:, L:, I:, E:, G:, Q:, V:. */
export function formatDb(c: DbContent): string {
  return hasInfo(c) ? formatRecord(c) : '';
}

/** formatDb() of a record known to carry something (hasInfo). */
function formatRecord(c: DbContent): string {
  let out = '';
  if (c.hasDevnode) {
    eachOf(c.links, (l) => (out += `S:${l.startsWith('/dev/') ? l.slice(5) : l}\n`));
    if (c.linkPriority !== 0) out += `L:${c.linkPriority}\n`;
  }
  if (c.usecInitialized > 0) out += `I:${c.usecInitialized}\n`;
  eachProperty(c.properties, (k, v) => {
    if (!k.startsWith('.')) out += `E:${k}=${v}\n`;
  });
  eachOf(c.tags, (t) => (out += `G:${t}\n`));
  eachOf(c.currentTags, (t) => (out += `Q:${t}\n`));
  out += `V:${DB_VERSION}\n`;
  return out;
}

export function dbPath(runRoot: string, id: string): string {
  return `${runRoot}/data/${id}`;
}

/** Reads a device's record; undefined when there is none. A corrupt file is parsed as far as it goes. */
export function readDb(runRoot: string, id: string, issues?: DbParseIssue[]): DbRecord | undefined {
  const file = readDbFile(dbPath(runRoot, id));
  if (file === undefined) return undefined;
  const rec = parseDb(file.text, issues);
  rec.text = file.text;
  rec.persist = (file.mode & S_ISVTX) !== 0; // as sd-device: the sticky bit is db_persist
  return rec;
}

/**
 * The records last read or written, by path, with the stamp (inode, size, change time, mode) the file had: a
 * record whose file still has that stamp is not read again. An event storm reads the same few records over and
 * over; one statx instead of open, statx, read and close. Whoever else writes a record (a rename onto it, an edit,
 * a chmod) changes its stamp.
 *
 * In the daemon the data directory is watched (watchRecords(), src/sys/dir-changes.ts): a record remembered while
 * it is watched is `trusted` and used without the statx until inotify names its file (the daemon looks once per
 * batch of events); a change by the daemon's own writes included, so that costs one read again.
 */
const recent = new Map<string, { stamp: string; text: string; mode: number; trusted: boolean }>();
const RECENT_MAX = 4096;

/** What watches <run>/data in the daemon, while something does. */
let watched: DirChanges | undefined;

/**
 * While <run>/data is watched: the names it held when the watch began (`listed`) and the names inotify or this
 * process's own writes named since (`named`). A record under any other name does not exist, and is not looked for:
 * a coldplug into an empty run root (a boot) reads no record at all. Dropped when the watch may have missed changes.
 */
let listing: { dir: string; listed: Set<string>; named: Set<string> } | undefined;

function listRecords(dir: string): void {
  listing = watched?.covers(`${dir}/.`) ? { dir, listed: new Set(readdirIfAny(dir)), named: new Set() } : undefined;
}

/** More names than this and the listing goes (its records are looked for again): a bound on its memory. */
const NAMED_MAX = 65536;

/**
 * The record at `path` is to be looked at again: it was written, removed or named by inotify. Not kept from before,
 * and no longer known absent.
 */
function forget(path: string): void {
  recent.delete(path);
  if (listing === undefined) return;
  const name = path.slice(path.lastIndexOf('/') + 1);
  if (name.includes('.tmp-')) return; // a record being written (writeFileAtomic), never read as one
  listing.named.add(name);
  if (listing.named.size > NAMED_MAX) listing = undefined;
}

function knownAbsent(path: string): boolean {
  if (listing === undefined || !path.startsWith(listing.dir) || path.lastIndexOf('/') !== listing.dir.length) return false;
  const name = path.slice(listing.dir.length + 1);
  return !listing.listed.has(name) && !listing.named.has(name);
}

function readDbFile(path: string): { text: string; mode: number } | undefined {
  const known = recent.get(path);
  if (known !== undefined) {
    if (known.trusted) return known;
    const stamp = stampOf(path);
    if (stamp === known.stamp) return known;
    recent.delete(path);
    if (stamp === undefined) return undefined;
  }
  if (knownAbsent(path)) return undefined;
  const file = readStamped(path);
  if (file !== undefined) remember(path, file);
  return file;
}

function remember(path: string, file: { stamp: string; text: string; mode: number }): void {
  if (recent.size >= RECENT_MAX) recent.clear();
  recent.set(path, { ...file, trusted: watched?.covers(path) === true });
}

/**
 * Trusts the records of `runRoot` unless `changes` says their file changed (the daemon, which calls its sync() once
 * per batch of events it read) until unwatchRecords(changes).
 */
export function watchRecords(runRoot: string, changes: DirChanges): void {
  recent.clear();
  const dir = `${runRoot}/data`;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  watched = changes;
  changes.watch(dir, {
    changed: forget,
    lost: () => {
      recent.forEach((r) => (r.trusted = false));
      // listed again while the watch holds (a queue overflow; a watch armed again), else not at all
      listRecords(dir);
    },
  });
  listRecords(dir);
}

/** Stops trusting what `changes` watches: every use looks at the record's stamp again. */
export function unwatchRecords(changes: DirChanges): void {
  if (watched !== changes) return;
  watched = undefined;
  listing = undefined;
  recent.clear();
}

/**
 * Writes (or, for a device with nothing to store and neither node nor interface, deletes) the database file.
 * `keepEmpty` is true for devices with a node or an ifindex (udev writes an empty record for them).
 */
export function writeDb(runRoot: string, id: string, c: DbContent, opts: { keepEmpty: boolean; persist?: boolean; previous: Pick<DbRecord, 'text' | 'persist'> | undefined }): void {
  const path = dbPath(runRoot, id);
  const info = hasInfo(c);
  if (!info && !opts.keepEmpty) {
    // no record was there when the event started (most devices at boot): nothing to delete
    if (opts.previous !== undefined) deleteDb(runRoot, id);
    return;
  }
  const text = info ? formatRecord(c) : '';
  // the same record again (change events of a quiet device): the file already says it, unless its sticky bit
  // (db_persist) is to change
  if (opts.previous?.text === text && opts.previous.persist === (opts.persist ?? false)) return;
  const mode = opts.persist ? 0o1644 : 0o644;
  forget(path);
  if (text !== '' || !linkEmptyRecord(runRoot, path, mode, opts.previous === undefined)) {
    try {
      writeFileAtomic(path, text, { mode });
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) throw e;
      mkdirSync(join(runRoot, 'data'), { recursive: true, mode: 0o755 });
      writeFileAtomic(path, text, { mode });
    }
  }
  // watched, the rename is news at the next sync anyway: the next use reads the record then
  if (watched?.covers(path)) return;
  const stamp = stampOf(path);
  if (stamp !== undefined) remember(path, { stamp, text, mode: S_IFREG | mode });
}

/** The shared empty files this process checked or made (linkEmptyRecord). */
const emptyChecked = new Set<string>();
/** The run root's file system refused a hard link: records are written as files from then on. */
let linksRefused = false;

/**
 * An empty record (a device with a node or an interface and nothing else to store: most devices) is a hard link to
 * one empty file of the run root, `<run>/devmaster/empty-record` (`empty-record-persist` with db_persist's sticky
 * bit). Readers see the empty file udev writes; a record is only ever replaced whole (a rename, by devMaster and by
 * udevd alike), never written in place, so the names sharing the file stay empty. A link allocates no inode, which
 * on a disk's file system is most of what creating a record costs, and takes one system call instead of five.
 * False when the file system refuses hard links: the caller writes the record.
 */
function linkEmptyRecord(runRoot: string, path: string, mode: number, fresh: boolean): boolean {
  if (linksRefused) return false;
  const shared = `${runRoot}/devmaster/empty-record${mode & S_ISVTX ? '-persist' : ''}`;
  const makeShared = () => writeFileAtomic(shared, '', { mode, mkdir: true });
  try {
    if (!emptyChecked.has(shared)) {
      // made or checked once per process: a regular empty file with the record's mode, else made anew
      const st = lstatIfAny(shared);
      if (!st?.isFile() || st.size !== 0 || (st.mode & 0o7777) !== mode) makeShared();
      emptyChecked.add(shared);
    }
    try {
      linkFileAtomic(shared, path, fresh);
    } catch (e) {
      if (!isErrno(e, 'ENOENT', 'EMLINK')) throw e;
      // the data directory or the shared file went away (a cleanup), or the file has as many links as the file
      // system allows: made again, once
      mkdirSync(join(runRoot, 'data'), { recursive: true, mode: 0o755 });
      if (isErrno(e, 'EMLINK') || lstatIfAny(shared) === undefined) makeShared();
      linkFileAtomic(shared, path, fresh);
    }
    return true;
  } catch (e) {
    if (!isErrno(e, 'EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK')) throw e;
    linksRefused = true;
    return false;
  }
}

export function deleteDb(runRoot: string, id: string): void {
  forget(dbPath(runRoot, id));
  try {
    unlinkSync(dbPath(runRoot, id));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Tag index: /run/udev/tags/<tag>/<id>, an empty file per tagged device. */
export function setTagIndex(runRoot: string, tag: string, id: string, present: boolean): void {
  if (!isValidTag(tag)) return;
  const dir = join(runRoot, 'tags', tag);
  const file = join(dir, id);
  if (present) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    closeSync(openSync(file, 'a', 0o444));
  } else {
    unlinkIfAny(file);
    rmdirIfEmpty(dir);
  }
}

/** Updates the tag index from the tags of an old record to the new set. */
export function updateTagIndex(runRoot: string, id: string, oldTags: Iterable<string>, newTags: Iterable<string>): void {
  if (!nonEmpty(oldTags) && !nonEmpty(newTags)) return; // most devices have no tags
  const keep = new Set(newTags);
  const had = new Set(oldTags);
  for (const t of had) if (!keep.has(t)) setTagIndex(runRoot, t, id, false);
  // entries of tags the device already had are in place: an event storm need not touch them again
  for (const t of keep) if (!had.has(t)) setTagIndex(runRoot, t, id, true);
}

/** Device ids listed under a tag. */
export function devicesWithTag(runRoot: string, tag: string): string[] {
  return readdirIfAny(join(runRoot, 'tags', tag)).sort();
}

/** Every device id with a database file. */
export function allDbIds(runRoot: string): string[] {
  return readdirIfAny(join(runRoot, 'data'))
    .filter((n) => !n.includes('.tmp-'))
    .sort();
}

/** A tag is a non-empty name of letters, digits, '-' and '_' (udev's rule). */
export function isValidTag(tag: string): boolean {
  return /^[A-Za-z0-9_-]+$/.test(tag);
}
