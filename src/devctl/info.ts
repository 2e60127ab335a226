// devctl info: query sysfs and the udev database (udevadm info).
import { lstatSync, readdirSync, rmdirSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { basename, join } from 'node:path';
import { parseVerbArgs, list, UsageError } from './common.js';
import { configHelp } from '../config/config.js';
import { DeviceError, type Device } from '../device/device.js';
import { splitDevT } from '../sys/devnum.js';
import { deviceCompare, enumerateDevices } from '../device/enumerate.js';
import { findDevice } from './info/find-device.js';
import { buildRecord, formatRecord, recordJson, type InfoRecord } from './info/record.js';
import { attributeWalk } from './info/attribute-walk.js';
import { log } from '../log.js';

export const summary = 'Query sysfs or the udev database';

export const help = `devctl info [OPTIONS] [DEVICE...]

Query sysfs or the udev database.

  -h --help                   Print this message
  -q --query=TYPE             Query device information:
       name                     Name of device node
       symlink                  Pointing to node
       path                     sysfs device path
       property                 The device properties
       all                      All values
     --property=NAME          Show only properties by this name (comma-separated, repeatable)
     --value                  When showing properties, print only their values
  -p --path=SYSPATH           sysfs device path used for query or attribute walk
  -n --name=NAME              Node or symlink name used for query or attribute walk
  -r --root                   Prepend dev directory to path names
  -a --attribute-walk         Print all key matches walking along the chain
                              of parent devices
  -t --tree                   Show tree of devices
  -d --device-id-of-file=FILE Print major:minor of device containing this file
  -x --export                 Export key/value pairs
  -P --export-prefix          Export the key name with a prefix
  -e --export-db              Export the content of the udev database
  -c --cleanup-db             Clean up the udev database
  -w --wait-for-initialization[=SECONDS]
                              Wait for device to be initialized
     --json=MODE              Print the records as JSON: short (one line each) or pretty
     --no-pager               Accepted for compatibility (devctl never pages)

DEVICE is a /sys path, a /dev node or symlink, a device unit name (dev-sda.device), a device id
(b8:0, c1:3, n2, +pci:0000:00:02.0) or SUBSYSTEM/SYSNAME (net/lo).
Exit status: 0 on success, 1 on a bad argument or an unknown device.

Global options:
${configHelp()}
`;

const OPTIONS = {
  query: { type: 'string', short: 'q' },
  property: { type: 'string', multiple: true },
  value: { type: 'boolean' },
  path: { type: 'string', short: 'p', multiple: true },
  name: { type: 'string', short: 'n', multiple: true },
  root: { type: 'boolean', short: 'r' },
  'attribute-walk': { type: 'boolean', short: 'a' },
  tree: { type: 'boolean', short: 't' },
  'device-id-of-file': { type: 'string', short: 'd' },
  export: { type: 'boolean', short: 'x' },
  'export-prefix': { type: 'string', short: 'P' },
  'export-db': { type: 'boolean', short: 'e' },
  'cleanup-db': { type: 'boolean', short: 'c' },
  'wait-for-initialization': { type: 'string', short: 'w' },
  json: { type: 'string' },
  'no-pager': { type: 'boolean' },
} as const;

const QUERIES = ['name', 'symlink', 'path', 'property', 'all'] as const;
type Query = (typeof QUERIES)[number];

function out(s: string): void {
  process.stdout.write(s);
}

/**
 * udevadm's --cleanup-db: removes the database except records marked persistent (sticky bit), the link claims and
 * tag index entries of the records removed (those of persistent ones stay), and the static_node tags. The queue
 * flag and the watches stay: a running daemon owns them.
 */
export function cleanupDb(run: string): void {
  const data = join(run, 'data');
  cleanupDir(data, 0o1000, 1);
  cleanupAfterDb(join(run, 'links'), data);
  cleanupAfterDb(join(run, 'tags'), data);
  cleanupDir(join(run, 'static_node-tags'), 0, 2);
}

/** Calls fn with the path and lstat of every entry of dir (none when dir cannot be read; vanished entries skipped). */
function eachEntry(dir: string, fn: (path: string, st: Stats) => void): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const n of names) {
    const p = join(dir, n);
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    fn(p, st);
  }
}

/** Unlinks a file (or with `dir`, removes an empty directory); what refuses stays (udev's unlinkat, errors ignored). */
function removeQuietly(path: string, dir: boolean): void {
  try {
    if (dir) rmdirSync(path);
    else unlinkSync(path);
  } catch {
    /* stays */
  }
}

/** udev's cleanup_dir(): entries whose mode has a bit of `mask` stay; directories are emptied `depth` - 1 deep, then removed if empty. */
function cleanupDir(dir: string, mask: number, depth: number): void {
  if (depth <= 0) return;
  eachEntry(dir, (p, st) => {
    if (st.mode & mask) return;
    if (st.isDirectory()) cleanupDir(p, mask, depth - 1);
    removeQuietly(p, st.isDirectory());
  });
}

/** udev's cleanup_dirs_after_db_cleanup(): in each <dir>/<name>/, drop the entries of devices whose record is gone. */
function cleanupAfterDb(dir: string, data: string): void {
  eachEntry(dir, (p, st) => {
    if (st.isDirectory()) {
      eachEntry(p, (entry) => {
        // a persistent record keeps its own (udev: faccessat without following links); only files go
        if (lstatSync(join(data, basename(entry)), { throwIfNoEntry: false }) === undefined) removeQuietly(entry, false);
      });
    }
    removeQuietly(p, st.isDirectory());
  });
}

function treeLines(devices: Device[]): string {
  // A device's tree parent is its closest listed ancestor by path.
  const bySys = new Set(devices.map((d) => d.devpath));
  const children = new Map<string, string[]>();
  const roots: string[] = [];
  const byPath = new Map(devices.map((d) => [d.devpath, d]));
  for (const d of devices) {
    let p = d.devpath;
    let parent: string | undefined;
    for (;;) {
      const slash = p.lastIndexOf('/');
      if (slash <= 0) break;
      p = p.slice(0, slash);
      if (bySys.has(p)) {
        parent = p;
        break;
      }
    }
    if (parent) {
      let c = children.get(parent);
      if (!c) children.set(parent, (c = []));
      c.push(d.devpath);
    } else roots.push(d.devpath);
  }
  let text = '';
  const walk = (devpath: string, prefix: string, last: boolean, parent: string | undefined) => {
    const label = parent ? devpath.slice(parent.length + 1) : devpath;
    text += `${prefix}${last ? '└─' : '├─'}${label}\n`;
    // as udevadm: the record under "┆ " after the branch's own continuation ("│ " while siblings follow)
    const inner = prefix + (last ? '  ' : '│ ');
    const kids = children.get(devpath) ?? [];
    const rec = formatRecord(buildRecord(byPath.get(devpath)!)).split('\n').filter((l) => l !== '');
    for (const l of rec) text += `${inner}┆ ${l}\n`;
    kids.forEach((k, i) => walk(k, inner, i === kids.length - 1, devpath));
  };
  roots.forEach((r, i) => walk(r, '', i === roots.length - 1, undefined));
  return text;
}

/** The tree and udevadm's count line after it ("No items." on stderr when there is nothing). */
function treeOutput(devices: Device[]): string {
  if (devices.length === 0) {
    process.stderr.write('No items.\n');
    return '';
  }
  return `${treeLines(devices)}\n${devices.length} items shown.\n`;
}

function emitJson(records: InfoRecord[], mode: string): void {
  for (const r of records) out((mode === 'pretty' ? JSON.stringify(recordJson(r), null, 2) : JSON.stringify(recordJson(r))) + '\n');
}

export async function run(argv: string[]): Promise<number> {
  argv = argv.map((a) => (a === '--wait-for-initialization' || a === '-w' ? '--wait-for-initialization=0' : a));
  const { values, positionals, roots } = parseVerbArgs(argv, OPTIONS);
  const v = values as Record<string, unknown>;

  const json = v.json as string | undefined;
  if (json !== undefined && !['short', 'pretty', 'off'].includes(json)) throw new UsageError(`--json: expected short, pretty or off, got '${json}'`);
  const jsonMode = json === 'off' ? undefined : json;

  if (v['cleanup-db']) {
    cleanupDb(roots.run);
    return 0;
  }
  if (v['device-id-of-file'] !== undefined) {
    const f = v['device-id-of-file'] as string;
    let st;
    try {
      st = statSync(f, { bigint: true });
    } catch (e) {
      process.stderr.write(`devctl info: --device-id-of-file: ${f}: ${(e as Error).message}\n`);
      return 1;
    }
    const { major, minor } = splitDevT(st.dev);
    const prefix = (v['export-prefix'] as string | undefined) ?? '';
    if (v.export) out(`${prefix}MAJOR=${major}\n${prefix}MINOR=${minor}\n`);
    else out(`${major}:${minor}\n`);
    return 0;
  }
  if (v['export-db']) {
    const devices = enumerateDevices(roots, 'devices', {}, (s) => log().debug(`export-db: skipping ${s.path}: ${s.reason}`));
    const recs: InfoRecord[] = [];
    for (const d of devices) {
      try {
        recs.push(buildRecord(d));
      } catch (e) {
        log().debug(`export-db: skipping ${d.syspath}: ${(e as Error).message}`);
      }
    }
    if (jsonMode) emitJson(recs, jsonMode);
    else for (const r of recs) out(formatRecord(r));
    return 0;
  }

  let query: Query | undefined;
  if (v.query !== undefined) {
    const q = v.query as string;
    // udevadm accepts a few spellings
    const alias: Record<string, Query> = { env: 'property', symlinks: 'symlink' };
    query = (QUERIES as readonly string[]).includes(q) ? (q as Query) : alias[q];
    if (!query) throw new UsageError(`--query: unknown query type '${q}' (name, symlink, path, property or all)`);
  }
  const walk = !!v['attribute-walk'];
  const tree = !!v.tree;
  const exp = !!v.export || v['export-prefix'] !== undefined;
  const prefix = (v['export-prefix'] as string | undefined) ?? '';
  const propFilter = list(v.property).flatMap((p) => p.split(',')).filter((p) => p !== '');
  const valueOnly = !!v.value;
  if (walk && query) throw new UsageError('--attribute-walk cannot be combined with --query');

  const args: Array<{ arg: string; prefix?: '/sys' | '/dev' }> = [
    ...list(v.path).map((a) => ({ arg: a, prefix: '/sys' as const })),
    ...list(v.name).map((a) => ({ arg: a, prefix: '/dev' as const })),
    ...positionals.map((a) => ({ arg: a })),
  ];

  if (tree && args.length === 0) {
    out(treeOutput(enumerateDevices(roots, 'all')));
    return 0;
  }
  if (args.length === 0) throw new UsageError('a device is needed: a /sys or /dev path, a unit name, a device id, or SUBSYSTEM/SYSNAME (or use --export-db, --tree)');

  const waitS = v['wait-for-initialization'] !== undefined ? Number(v['wait-for-initialization']) : undefined;
  if (waitS !== undefined && !(waitS >= 0)) throw new UsageError(`--wait-for-initialization: invalid time '${v['wait-for-initialization']}'`);

  let rc = 0;
  const records: InfoRecord[] = [];
  for (const { arg, prefix: pfx } of args) {
    let d: Device;
    try {
      d = findDevice(roots, arg, pfx);
    } catch (e) {
      process.stderr.write(`devctl info: unknown device "${arg}": ${e instanceof DeviceError ? e.message : (e as Error).message}\n`);
      return 1;
    }
    const forProps = query === 'property';
    let rec = buildRecord(d, forProps);
    if (waitS !== undefined && !rec.initialized) {
      const deadline = Date.now() + waitS * 1000;
      while (!rec.initialized && (waitS === 0 || Date.now() < deadline)) {
        await new Promise((r) => setTimeout(r, 100));
        rec = buildRecord(d, forProps);
      }
      if (!rec.initialized) {
        process.stderr.write(`devctl info: ${arg}: not initialized after ${waitS} s\n`);
        return 1;
      }
    }
    if (walk) {
      out(attributeWalk(d));
      continue;
    }
    if (tree) {
      // as udevadm: the device, everything below it, and its ancestors (not their other children)
      const list = new Map(enumerateDevices(roots, 'all', { parents: [d] }).map((x) => [x.devpath, x]));
      for (let a: Device | undefined = d; a; a = a.parent()) if (a.subsystem !== undefined && !list.has(a.devpath)) list.set(a.devpath, a);
      out(treeOutput([...list.values()].sort((a, b) => deviceCompare(a.devpath, b.devpath))));
      continue;
    }
    const root = !!v.root;
    switch (query ?? 'all') {
      case 'name':
        if (rec.devname === undefined) {
          process.stderr.write(`devctl info: ${arg}: no device node found\n`);
          rc = 1;
          break;
        }
        out(root ? `/dev/${rec.devname}\n` : `${rec.devname}\n`);
        break;
      case 'symlink':
        out(rec.links.map((l) => (root ? `/dev/${l}` : l)).join(' ') + '\n');
        break;
      case 'path':
        out(`${rec.devpath}\n`);
        break;
      case 'property': {
        let props = rec.properties;
        if (propFilter.length) props = props.filter(([k]) => propFilter.includes(k));
        if (jsonMode) {
          out(JSON.stringify(Object.fromEntries(props), null, jsonMode === 'pretty' ? 2 : undefined) + '\n');
          break;
        }
        for (const [k, val] of props) {
          if (valueOnly) out(`${val}\n`);
          else if (exp) out(`${prefix}${k}='${val}'\n`);
          else out(`${k}=${val}\n`);
        }
        break;
      }
      case 'all':
        if (jsonMode) records.push(rec);
        else out(formatRecord(rec));
        break;
    }
  }
  if (records.length) emitJson(records, jsonMode!);
  return rc;
}
