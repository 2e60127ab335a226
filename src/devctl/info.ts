// devctl info: query sysfs and the udev database (udevadm info, systemd 257). This file reads the options and
// picks the action; the pieces are in ./info/ (DEVICE arguments are src/device/find.ts): record (the P:/M:/.../E: record and
// its JSON), attribute-walk (-a), tree (-t), export-db (-e and its filters), cleanup-db (-c), json (systemd's JSON).
import { statSync } from 'node:fs';
import { fail, parseVerbArgs, type OptionSpec } from './common.js';
import { configHelp } from '../config/config.js';
import { DeviceError, type Device } from '../device/device.js';
import { splitDevT } from '../sys/devnum.js';
import { deviceCompare, enumerateDevices, type EnumerateFilters } from '../device/enumerate.js';
import { findDevice, udevadmNotFoundErrno } from '../device/find.js';
import { buildRecord, formatRecord, recordJson } from './info/record.js';
import { attributeWalk, attributeWalkJson } from './info/attribute-walk.js';
import { treeOutput } from './info/tree.js';
import { cleanupDb } from './info/cleanup-db.js';
import { exportDb, KeyValueError, parseKeyValue } from './info/export-db.js';
import { formatJson, jsonMode, type JsonMode } from './info/json.js';
import { parseSec } from './time.js';
import { strerror } from '../sys/errno.js';
import type { Roots } from '../device/roots.js';
import { tryOr, writeTextSync } from '../util/fs.js';
import { nowMs } from '../util/clock.js';

export const summary = 'Query sysfs or the udev database';

export const help = `devctl info [OPTIONS] [DEVICE...]

Query sysfs or the udev database.

  -h --help                   Print this message
  -V --version                Print version of the program
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
     --no-pager               Accepted for compatibility (devctl never pages)
     --json=pretty|short|off  Generate JSON output (-q all, -e, -a)
     --subsystem-match=SUBSYSTEM
                              With -e: devices of a matching subsystem
     --subsystem-nomatch=SUBSYSTEM
                              With -e: devices not of a matching subsystem
     --attr-match=FILE=VALUE  With -e: devices with a matching attribute
     --attr-nomatch=FILE=VALUE
                              With -e: devices without a matching attribute
     --property-match=KEY=VALUE
                              With -e: devices with a matching property (all must match)
     --tag-match=TAG          With -e: devices with this tag
     --sysname-match=NAME     With -e: devices with this sysname (/sys path's last part)
     --name-match=NAME        With -e: this /dev device and the devices below it
     --parent-match=NAME      With -e: this /sys device and the devices below it
     --initialized-match      With -e: devices that are initialized
     --initialized-nomatch    With -e: devices that are not initialized yet

DEVICE is a /sys path, a /dev node or symlink, a device unit name (dev-sda.device), a device id
(b8:0, c1:3, n2, +pci:0000:00:02.0) or SUBSYSTEM/SYSNAME (net/lo).
Exit status: 0 on success, 1 on a bad argument or an unknown device.

Global options:
${configHelp()}
`;

// udevadm 257's option table, in its order
const OPTIONS: OptionSpec = {
  'attribute-walk': { type: 'boolean', short: 'a' },
  tree: { type: 'boolean', short: 't' },
  'cleanup-db': { type: 'boolean', short: 'c' },
  'device-id-of-file': { type: 'string', short: 'd' },
  export: { type: 'boolean', short: 'x' },
  'export-db': { type: 'boolean', short: 'e' },
  'export-prefix': { type: 'string', short: 'P' },
  name: { type: 'string', short: 'n' },
  path: { type: 'string', short: 'p' },
  property: { type: 'string' },
  query: { type: 'string', short: 'q' },
  root: { type: 'boolean', short: 'r' },
  value: { type: 'boolean' },
  'wait-for-initialization': { type: 'string', short: 'w', optional: true },
  'no-pager': { type: 'boolean' },
  json: { type: 'string' },
  'subsystem-match': { type: 'string' },
  'subsystem-nomatch': { type: 'string' },
  'attr-match': { type: 'string' },
  'attr-nomatch': { type: 'string' },
  'property-match': { type: 'string' },
  'tag-match': { type: 'string' },
  'sysname-match': { type: 'string' },
  'name-match': { type: 'string' },
  'parent-match': { type: 'string' },
  'initialized-match': { type: 'boolean' },
  'initialized-nomatch': { type: 'boolean' },
};

type Action = 'query' | 'attribute-walk' | 'device-id' | 'tree' | 'export';
type Query = 'name' | 'symlink' | 'path' | 'property' | 'all';

interface Settings {
  action: Action;
  query: Query;
  /** --property: undefined = all; [] = none. */
  properties: string[] | undefined;
  value: boolean;
  root: boolean;
  export: boolean;
  exportPrefix: string | undefined;
  /** Seconds to wait for initialization (0: do not wait). */
  waitS: number;
  json: JsonMode | undefined;
  deviceIdFile: string | undefined;
  devices: string[];
  filters: EnumerateFilters;
}

/** An error udevadm reports in these words; the verb exits 1. */
class InfoError extends Error {}

const out = (s: string) => writeTextSync(1, s);

/** Reads the options in order, as udevadm's switch does (so -c acts at once, -h before a bad option wins, ...). */
function settings(roots: Roots, order: { key: string; value: string | undefined }[]): Settings | 'done' {
  const s: Settings = { action: 'query', query: 'all', properties: undefined, value: false, root: false, export: false, exportPrefix: undefined, waitS: 0, json: undefined, deviceIdFile: undefined, devices: [], filters: {} };
  const f = s.filters;
  const push = <T>(list: T[] | undefined, v: T): T[] => [...(list ?? []), v];
  for (const { key, value } of order) {
    const v = value ?? '';
    switch (key) {
      case 'property':
        // an empty list shows no property at all
        s.properties = v === '' && s.properties === undefined ? [] : [...(s.properties ?? []), ...v.split(',').filter((p) => p !== '' && !(s.properties ?? []).includes(p))];
        break;
      case 'value':
        s.value = true;
        break;
      case 'name':
      case 'path': {
        const prefix = key === 'name' ? '/dev/' : '/sys/';
        s.devices.push(v.startsWith(prefix) || v === prefix.slice(0, -1) ? v : prefix + v.replace(/^\/+/, ''));
        break;
      }
      case 'query': {
        s.action = 'query';
        const q = v === 'env' ? 'property' : v;
        if (!['name', 'symlink', 'path', 'property', 'all'].includes(q)) throw new InfoError('unknown query type');
        s.query = q as Query;
        break;
      }
      case 'root':
        s.root = true;
        break;
      case 'device-id-of-file':
        s.action = 'device-id';
        s.deviceIdFile = v;
        break;
      case 'attribute-walk':
        s.action = 'attribute-walk';
        break;
      case 'tree':
        s.action = 'tree';
        break;
      case 'export-db':
        s.action = 'export';
        break;
      case 'cleanup-db':
        cleanupDb(roots.run);
        return 'done';
      case 'export':
        s.export = true;
        break;
      case 'export-prefix':
        s.export = true;
        s.exportPrefix = v;
        break;
      case 'wait-for-initialization': {
        if (value === undefined || value === '') s.waitS = Infinity;
        else {
          const t = parseSec(v);
          if (t === undefined) throw new InfoError('Failed to parse timeout value: Invalid argument');
          s.waitS = t;
        }
        break;
      }
      case 'json': {
        if (v === 'help') {
          out('pretty\nshort\noff\n');
          return 'done';
        }
        const m = jsonMode(v);
        if (m === undefined) throw new InfoError(`Unknown argument to --json= switch: ${v}`);
        s.json = m === 'off' ? undefined : m;
        break;
      }
      case 'subsystem-match':
        f.subsystems = push(f.subsystems, v);
        break;
      case 'subsystem-nomatch':
        f.nomatchSubsystems = push(f.nomatchSubsystems, v);
        break;
      case 'attr-match':
        f.sysattrs = push(f.sysattrs, parseKeyValue(v, true));
        break;
      case 'attr-nomatch':
        f.nomatchSysattrs = push(f.nomatchSysattrs, parseKeyValue(v, true));
        break;
      case 'property-match':
        f.requiredProperties = push(f.requiredProperties, parseKeyValue(v, false));
        break;
      case 'tag-match':
        f.tags = push(f.tags, v);
        break;
      case 'sysname-match':
        f.sysnames = push(f.sysnames, v);
        break;
      case 'name-match':
      case 'parent-match': {
        let d: Device;
        try {
          d = findDevice(roots, v, key === 'name-match' ? '/dev' : '/sys');
        } catch (e) {
          if (!(e instanceof DeviceError)) throw e;
          throw new InfoError(`Failed to open the device '${v}': ${strerror(udevadmNotFoundErrno(v))}`);
        }
        f.parents = push(f.parents, d);
        break;
      }
      case 'initialized-match':
      case 'initialized-nomatch':
        f.initialized = key === 'initialized-match' ? 'yes' : 'no';
        break;
    }
  }
  return s;
}

/** `-d FILE`: the device number of the file system holding FILE. */
function deviceIdOfFile(s: Settings, positionals: string[]): number {
  if (positionals.length > 0) throw new InfoError('Positional arguments are not allowed with -d/--device-id-of-file.');
  const st = tryOr(() => statSync(s.deviceIdFile!, { bigint: true }), undefined);
  if (!st) return 1; // udevadm says nothing
  const { major, minor } = splitDevT(st.dev);
  const prefix = s.exportPrefix ?? 'INFO_';
  out(s.export ? `${prefix}MAJOR=${major}\n${prefix}MINOR=${minor}\n` : `${major}:${minor}\n`);
  return 0;
}

/** Waits (polling the database) until the device has a record; false when the time is up. */
async function waitInitialized(d: Device, seconds: number): Promise<boolean> {
  const deadline = nowMs() + seconds * 1000;
  while (!buildRecord(d).initialized) {
    if (nowMs() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

/** One device for -q: what udevadm's query_device() prints; false after printing an error. */
function query(s: Settings, d: Device): boolean {
  const rec = buildRecord(d, s.query === 'property');
  switch (s.query) {
    case 'name':
      if (rec.devname === undefined) {
        process.stderr.write('No device node found: No such file or directory\n');
        return false;
      }
      out(s.root ? `/dev/${rec.devname}\n` : `${rec.devname}\n`);
      return true;
    case 'symlink':
      out(rec.links.map((l) => (s.root ? `/dev/${l}` : l)).join(' ') + '\n');
      return true;
    case 'path':
      out(`${rec.devpath}\n`);
      return true;
    case 'property':
      for (const [k, val] of rec.properties) {
        if (s.properties && !s.properties.includes(k)) continue;
        if (s.export) out(`${s.exportPrefix ?? ''}${k}='${val}'\n`);
        else if (s.value) out(`${val}\n`);
        else out(`${k}=${val}\n`);
      }
      return true;
    case 'all':
      out(s.json ? formatJson(recordJson(rec), s.json) : formatRecord(rec));
      return true;
  }
}

/** --tree around a device: its ancestors, itself and everything below it. */
function treeAround(roots: Roots, d: Device): string {
  const list = new Map(enumerateDevices(roots, 'all', { parents: [d] }).map((x) => [x.devpath, x]));
  for (let a: Device | undefined = d; a; a = a.parent()) if (a.subsystem !== undefined && !list.has(a.devpath)) list.set(a.devpath, a);
  return treeOutput([...list.values()].sort((a, b) => deviceCompare(a.devpath, b.devpath)));
}

export async function run(argv: string[]): Promise<number> {
  const { order, positionals, roots } = parseVerbArgs(argv, OPTIONS);
  try {
    const s = settings(roots, order);
    if (s === 'done') return 0;
    if (s.action === 'device-id') return deviceIdOfFile(s, positionals);
    if (s.action === 'export') {
      exportDb(roots, s.filters, s.json);
      return 0;
    }
    const devices = [...s.devices, ...positionals];
    if (s.action !== 'tree' && devices.length === 0) return fail('A device name or path is required');
    if ((s.action === 'attribute-walk' || s.action === 'tree') && devices.length > 1) return fail('Only one device may be specified with -a/--attribute-walk and -t/--tree');
    if (s.export && s.value) return fail('-x/--export or -P/--export-prefix cannot be used with --value');
    if (devices.length === 0) {
      out(treeOutput(enumerateDevices(roots, 'all')));
      return 0;
    }
    let rc = 0;
    for (const arg of devices) {
      let d: Device;
      try {
        d = findDevice(roots, arg);
      } catch (e) {
        if (!(e instanceof DeviceError)) throw e;
        const errno = udevadmNotFoundErrno(arg);
        process.stderr.write(errno === 'EINVAL' ? `Bad argument "${arg}", expected an absolute path in /dev/ or /sys/ or a unit name: Invalid argument\n` : `Unknown device "${arg}": No such device\n`);
        rc = 1;
        continue;
      }
      if (s.waitS > 0 && !(await waitInitialized(d, s.waitS))) return fail("Failed to wait for device to be initialized: Connection timed out");
      if (s.action === 'query') {
        if (!query(s, d)) return 1;
      } else if (s.action === 'attribute-walk') out(s.json ? attributeWalkJson(d, s.json) : attributeWalk(d));
      else out(treeAround(roots, d));
    }
    return rc;
  } catch (e) {
    if (e instanceof InfoError || e instanceof KeyValueError) return fail(e.message);
    throw e;
  }
}
