// What `udevadm info` shows for a device: the P:/M:/R:/J:/U:/B:/T:/D:/I:/N:/L:/S:/Q:/V:/E: record (udevadm 257;
// 252 had no J: (device id) and B: (a driver's bus) lines), its JSON form, and the property
// list in sd-device's order (which depends on the order sd-device filled it in):
//   DEVPATH; SUBSYSTEM (after the kernel's properties when the device was found by device number);
//   the uevent file's properties in file order, MAJOR and MINOR moved to the end of them;
//   DRIVER from the driver link if the uevent has none; USEC_INITIALIZED and the database's E: properties;
//   DEVLINKS, TAGS, CURRENT_TAGS.
import { existsSync } from 'node:fs';
import type { Device } from '../../device/device.js';
import { dbPath, readDb, type DbRecord } from '../../device/db.js';

export interface InfoRecord {
  devpath: string;
  sysname: string;
  sysnum: string | undefined;
  /** The device id (b8:0, n2, +pci:..., as the database names it). */
  id: string;
  subsystem: string | undefined;
  /** A driver's bus (the B: line). */
  driverSubsystem: string | undefined;
  devtype: string | undefined;
  devnum: { type: 'b' | 'c'; major: number; minor: number } | undefined;
  ifindex: number | undefined;
  /** Without the /dev/ prefix. */
  devname: string | undefined;
  linkPriority: number;
  /** Without the /dev/ prefix. */
  links: string[];
  diskseq: string | undefined;
  driver: string | undefined;
  properties: Array<[string, string]>;
  /** The database record, if there is one. */
  db: DbRecord | undefined;
  initialized: boolean;
}

function stripDev(p: string): string {
  return p.startsWith('/dev/') ? p.slice(5) : p;
}

/**
 * `forProperties`: the order of `--query=property`, where sd-device reads the uevent file before it looks up
 * the subsystem (which the database lookup needs), and the driver link is not read.
 */
export function buildRecord(d: Device, forProperties = false): InfoRecord {
  const props = new Map<string, string>();
  const put = (k: string, v: string | undefined) => {
    if (v !== undefined) props.set(k, v);
  };
  const byDevnum = forProperties || d.foundByDevnum;
  put('DEVPATH', d.devpath);
  if (!byDevnum) put('SUBSYSTEM', d.subsystem);
  const uevent = d.ueventProperties;
  let major: string | undefined;
  let minor: string | undefined;
  for (const [k, v] of uevent) {
    if (k === 'MAJOR') major = v;
    else if (k === 'MINOR') minor = v;
    else if (k === 'DEVNAME') put('DEVNAME', v.startsWith('/') ? v : `/dev/${v}`);
    else if (k === 'DEVPATH' || k === 'SUBSYSTEM' || k === 'ACTION' || k === 'SEQNUM') continue;
    else props.set(k, v);
  }
  if (major !== undefined) {
    put('MAJOR', major);
    put('MINOR', minor ?? '0');
  }
  if (byDevnum) put('SUBSYSTEM', d.subsystem);
  const db = readDb(d.roots.run, d.id);
  const initialized = db !== undefined || existsSync(dbPath(d.roots.run, d.id));
  const driver = d.driver;
  const devname = d.devname;
  const addDb = () => {
    if (!db) return;
    if (db.usecInitialized) put('USEC_INITIALIZED', String(db.usecInitialized));
    for (const [k, v] of db.properties) props.set(k, v);
  };
  // sd-device reads the database when the record asks for the link priority (devices with a node) ...
  if (devname) addDb();
  if (!forProperties && driver !== undefined && !props.has('DRIVER')) props.set('DRIVER', driver);
  // ... and otherwise when the properties are listed
  if (!devname) addDb();
  const links = db?.links ?? [];
  if (links.length) props.set('DEVLINKS', links.join(' '));
  if (db?.tags.length) props.set('TAGS', `:${db.tags.join(':')}:`);
  if (db?.currentTags.length) props.set('CURRENT_TAGS', `:${db.currentTags.join(':')}:`);
  const dn = d.devnum;
  return {
    devpath: d.devpath,
    sysname: d.sysname,
    sysnum: d.sysnum,
    id: d.id,
    subsystem: d.subsystem,
    driverSubsystem: d.driverSubsystem,
    devtype: d.devtype,
    devnum: dn ? { type: d.subsystem === 'block' ? 'b' : 'c', ...dn } : undefined,
    ifindex: d.ifindex,
    devname: devname ? stripDev(devname) : undefined,
    linkPriority: db?.linkPriority ?? 0,
    links: links.map(stripDev),
    diskseq: uevent.get('DISKSEQ'),
    driver,
    properties: [...props],
    db,
    initialized,
  };
}

/** The text `udevadm info --query=all` prints (ending with an empty line). */
export function formatRecord(r: InfoRecord): string {
  let out = `P: ${r.devpath}\n`;
  out += `M: ${r.sysname}\n`;
  if (r.sysnum !== undefined) out += `R: ${r.sysnum}\n`;
  out += `J: ${r.id}\n`;
  if (r.subsystem !== undefined) out += `U: ${r.subsystem}\n`;
  if (r.driverSubsystem !== undefined) out += `B: ${r.driverSubsystem}\n`;
  if (r.devtype !== undefined) out += `T: ${r.devtype}\n`;
  if (r.devnum) out += `D: ${r.devnum.type} ${r.devnum.major}:${r.devnum.minor}\n`;
  if (r.ifindex !== undefined) out += `I: ${r.ifindex}\n`;
  if (r.devname !== undefined) {
    out += `N: ${r.devname}\n`;
    out += `L: ${r.linkPriority}\n`;
    for (const l of r.links) out += `S: ${l}\n`;
  }
  if (r.diskseq !== undefined) out += `Q: ${r.diskseq}\n`;
  if (r.driver !== undefined) out += `V: ${r.driver}\n`;
  for (const [k, v] of r.properties) out += `E: ${k}=${v}\n`;
  return out + '\n';
}

/** The record as udevadm 257's --json prints it: SYSNAME, SYSNUM, DRIVER_SUBSYSTEM, DEVICE_ID, then the properties. */
export function recordJson(r: InfoRecord): Record<string, string> {
  const o: Record<string, string> = { SYSNAME: r.sysname };
  if (r.sysnum !== undefined) o.SYSNUM = r.sysnum;
  if (r.driverSubsystem !== undefined) o.DRIVER_SUBSYSTEM = r.driverSubsystem;
  o.DEVICE_ID = r.id;
  for (const [k, v] of r.properties) o[k] = v;
  return o;
}
