// Reading and comparing what two udev daemons left behind: database files, tag index, dev roots.
// Deliberately independent of devMaster's own parsers (src/device/db.ts): a bug there must not hide a difference.
import { readdirSync, readFileSync, readlinkSync, lstatSync, existsSync } from 'node:fs';
import { join, basename } from 'node:path';

export interface DbFile {
  properties: Map<string, string>;
  tags: string[];
  currentTags: string[];
  links: string[];
  linkPriority: string | undefined;
  version: string | undefined;
  /** Has a W: line (an inotify watch); its number differs by nature. */
  watch: boolean;
  /** Lines with another key. */
  other: string[];
}

/** Parses a /run/udev/data/<id> file: I: (initialization time) and the W: number are dropped on purpose. */
export function readDbFile(path: string): DbFile {
  const rec: DbFile = { properties: new Map(), tags: [], currentTags: [], links: [], linkPriority: undefined, version: undefined, watch: false, other: [] };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const v = line.slice(2);
    switch (line.slice(0, 2)) {
      case 'E:': {
        const eq = v.indexOf('=');
        rec.properties.set(v.slice(0, eq), v.slice(eq + 1));
        break;
      }
      case 'G:':
        rec.tags.push(v);
        break;
      case 'Q:':
        rec.currentTags.push(v);
        break;
      case 'S:':
        rec.links.push(v);
        break;
      case 'L:':
        rec.linkPriority = v;
        break;
      case 'V:':
        rec.version = v;
        break;
      case 'W:':
        rec.watch = true;
        break;
      case 'I:':
        break;
      default:
        rec.other.push(line);
    }
  }
  return rec;
}

/** Database files by id. */
export function readDatabase(dataDir: string): Map<string, DbFile> {
  const out = new Map<string, DbFile>();
  if (!existsSync(dataDir)) return out;
  for (const f of readdirSync(dataDir)) {
    if (f.startsWith('.') || f.includes('.tmp') || f.endsWith('~')) continue;
    out.set(f, readDbFile(join(dataDir, f)));
  }
  return out;
}

/** The tag index as "tag/id" entries. */
export function readTagIndex(tagsDir: string): Set<string> {
  const out = new Set<string>();
  if (!existsSync(tagsDir)) return out;
  for (const tag of readdirSync(tagsDir)) for (const id of readdirSync(join(tagsDir, tag))) out.add(`${tag}/${id}`);
  return out;
}

export interface DevEntry {
  kind: 'link' | 'block' | 'char' | 'dir' | 'file';
  target?: string;
  rdev?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

/** Every entry under a dev root, by path relative to it ("disk/by-path/x"). */
export function readDevRoot(root: string): Map<string, DevEntry> {
  const out = new Map<string, DevEntry>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, r), { bigint: false });
      if (st.isSymbolicLink()) out.set(r, { kind: 'link', target: readlinkSync(join(root, r)) });
      else if (st.isDirectory()) {
        out.set(r, { kind: 'dir' });
        walk(r);
      } else if (st.isBlockDevice() || st.isCharacterDevice()) {
        const major = Number((BigInt(st.rdev) >> 8n) & 0xfffn);
        const minor = Number((BigInt(st.rdev) & 0xffn) | ((BigInt(st.rdev) >> 12n) & 0xfff00n));
        out.set(r, { kind: st.isBlockDevice() ? 'block' : 'char', rdev: `${major}:${minor}`, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
      } else out.set(r, { kind: 'file' });
    }
  };
  walk('');
  return out;
}

export interface SysDevice {
  syspath: string;
  devpath: string;
  subsystem: string | undefined;
  /** udev database id (b8:0, c1:3, n2, +pci:0000:00:01.0), undefined without a subsystem. */
  id: string | undefined;
}

/** What udev calls the device's id, from sysfs. */
export function sysDevice(syspath: string, sysfs = '/sys'): SysDevice {
  const devpath = syspath.slice(sysfs.length);
  let subsystem: string | undefined;
  try {
    subsystem = basename(readlinkSync(join(syspath, 'subsystem')));
  } catch {
    subsystem = undefined;
  }
  let id: string | undefined;
  let dev: string | undefined;
  try {
    dev = readFileSync(join(syspath, 'dev'), 'utf8').trim();
  } catch {
    dev = undefined;
  }
  if (subsystem !== undefined) {
    if (dev && /^\d+:\d+$/.test(dev)) id = `${subsystem === 'block' ? 'b' : 'c'}${dev}`;
    else if (subsystem === 'net') {
      try {
        id = `n${readFileSync(join(syspath, 'ifindex'), 'utf8').trim()}`;
      } catch {
        id = undefined;
      }
    } else id = `+${subsystem}:${basename(syspath)}`;
  }
  return { syspath, devpath, subsystem, id };
}

/** A difference between the two daemons' results for one device or dev path. */
export interface Difference {
  /** Database id, or "dev:<path>" for dev-root entries. */
  where: string;
  what: string;
  udevd: string;
  devmaster: string;
}

const show = (v: string | undefined) => (v === undefined ? '(none)' : JSON.stringify(v));
const setDiff = (a: string[], b: string[]) => [a.filter((x) => !b.includes(x)), b.filter((x) => !a.includes(x))] as const;

/** Compares two database files field by field. */
export function compareDb(id: string, u: DbFile | undefined, d: DbFile | undefined): Difference[] {
  if (!u || !d) return [{ where: id, what: 'database file', udevd: u ? 'present' : 'absent', devmaster: d ? 'present' : 'absent' }];
  const out: Difference[] = [];
  for (const k of new Set([...u.properties.keys(), ...d.properties.keys()])) {
    if (u.properties.get(k) !== d.properties.get(k)) out.push({ where: id, what: `E:${k}`, udevd: show(u.properties.get(k)), devmaster: show(d.properties.get(k)) });
  }
  for (const [what, a, b] of [['G:', u.tags, d.tags], ['Q:', u.currentTags, d.currentTags], ['S:', u.links, d.links], ['other', u.other, d.other]] as const) {
    const [onlyU, onlyD] = setDiff([...a], [...b]);
    if (onlyU.length || onlyD.length) out.push({ where: id, what, udevd: onlyU.join(' ') || '-', devmaster: onlyD.join(' ') || '-' });
  }
  if (u.linkPriority !== d.linkPriority) out.push({ where: id, what: 'L:', udevd: show(u.linkPriority), devmaster: show(d.linkPriority) });
  if (u.version !== d.version) out.push({ where: id, what: 'V:', udevd: show(u.version), devmaster: show(d.version) });
  if (u.watch !== d.watch) out.push({ where: id, what: 'W: (watch)', udevd: String(u.watch), devmaster: String(d.watch) });
  return out;
}
