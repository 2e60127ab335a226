// The device model: what sd-device offers rules and devctl, over an injectable sysfs root.
// Everything is read lazily from sysfs and cached; a Device made from a uevent carries the kernel's
// properties instead of re-reading the uevent file.
import { readFileSync, realpathSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { DEV_PREFIX, devPath, mangleDevname, type Roots } from './roots.js';
import { DeviceError, deviceIfAny } from './errors.js';
import { errnoCode, isErrno, lstatIfAny, pathStartsWith, readdirIfAny, readFileIfAny, readlinkIfAny, statIfAny, tryOr } from '../util/fs.js';
import { readDb, type DbRecord } from './db.js';
import { splitDevT, type DevNum } from '../sys/devnum.js';

export { DeviceError, deviceIfAny };

/** Properties worked out from the device's state (property()) that every property map carries. */
const DERIVED_KEYS = ['DEVLINKS', 'TAGS', 'CURRENT_TAGS', 'USEC_INITIALIZED'] as const;

/** Properties set from the kernel's uevent that have dedicated fields. */
const SPECIAL_UEVENT_KEYS = new Set(['DEVPATH', 'ACTION', 'SEQNUM', 'SUBSYSTEM', 'DEVTYPE', 'DEVNAME', 'MAJOR', 'MINOR', 'IFINDEX', 'DRIVER', 'DEVMODE', 'DEVUID', 'DEVGID']);

function readLinkBase(path: string): string | undefined {
  const t = readlinkIfAny(path);
  return t === undefined ? undefined : basename(t);
}

/** udev splits a kernel uevent file into KEY=VALUE lines. */
export function parseUeventFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return out;
}

/** The longest file name (sysfs names, and the device ids that name files under the run root). */
const NAME_MAX = 255;

/**
 * A device path: "/" then names, each neither empty nor "." nor "..", of NAME_MAX bytes at most. Walked on the
 * string (it is checked for every uevent): a name is measured in bytes only where its length could exceed NAME_MAX.
 */
function isDevpath(p: string): boolean {
  if (!p.startsWith('/')) return false;
  for (let at = 1; ; ) {
    const slash = p.indexOf('/', at);
    const end = slash < 0 ? p.length : slash;
    const n = end - at;
    if (n === 0 || (p.charCodeAt(at) === 46 && (n === 1 || (n === 2 && p.charCodeAt(at + 1) === 46)))) return false;
    // UTF-8 takes at most 3 bytes per UTF-16 unit
    if (3 * n > NAME_MAX && Buffer.byteLength(p.slice(at, end)) > NAME_MAX) return false;
    if (slash < 0) return true;
    at = slash + 1;
  }
}

export class Device {
  readonly roots: Roots;
  /** Kernel device path, always starting with "/" and relative to the sysfs root (e.g. /devices/virtual/mem/null). */
  readonly devpath: string;

  #uevent: Map<string, string> | undefined;
  #fromUevent = false;
  #subsystem: string | null | undefined;
  #driver: string | null | undefined;
  #driverSet = false;
  /** The attributes read (null: none), made at the first read (most events read none of their device's). */
  #attrs: Map<string, string | null> | undefined;
  #parent: Device | null | undefined;
  #sysname: string | undefined;
  #dbLoaded = false;
  // worked out once from the uevent properties (which never change): null = none
  #devnum: DevNum | null | undefined;
  #devname: string | null | undefined;
  #id: string | undefined;

  /** Properties added by rules and imports (these are what the database stores as E: lines). */
  readonly dbProperties = new Map<string, string>();
  /** Tags ever set on the device (G: lines) and those set by the current event (Q: lines). */
  readonly tags = new Set<string>();
  readonly currentTags = new Set<string>();
  /** Symlinks, as logical "/dev/..." paths. */
  readonly devlinks = new Set<string>();
  devlinkPriority = 0;
  /** Microseconds (CLOCK_MONOTONIC) when the device was first initialized by udev; 0 = not yet. */
  usecInitialized = 0;
  /** The database entry's persist flag (OPTIONS+="db_persist"). */
  dbPersist = false;
  /** Watch handle from an old database (W: lines); kept for compatibility. */
  watchHandle: number | undefined;

  action: string | undefined;
  seqnum: number | undefined;
  /**
   * Looked up by device number (a /dev node, a b/c device id, a tag index entry): sd-device then reads the uevent
   * file before the subsystem, which is the order `udevadm info` lists their properties in.
   */
  foundByDevnum = false;

  private constructor(roots: Roots, devpath: string) {
    this.roots = roots;
    this.devpath = devpath;
  }

  // ---------------------------------------------------------------- construction

  /** From a full path under the sysfs root (symlinks such as /sys/class/net/lo are resolved). */
  static fromSyspath(roots: Roots, syspath: string): Device {
    const root = resolve(roots.sysfs);
    let real: string;
    const abs = resolve(syspath);
    if (!pathStartsWith(abs, root)) throw new DeviceError('EINVAL', `${syspath}: not under the sysfs root ${root}`);
    try {
      real = realpathSync.native(abs);
    } catch (e) {
      if (!isErrno(e, 'ENOENT', 'ENOTDIR', 'ELOOP')) throw e;
      throw new DeviceError('ENODEV', `${syspath}: no such device`);
    }
    const realRoot = realRootOf(root);
    if (real === realRoot || !real.startsWith(realRoot + '/')) throw new DeviceError('EINVAL', `${syspath}: resolves outside the sysfs root ${root}`);
    const devpath = real.slice(realRoot.length);
    if (devpath === '/devices' || devpath.startsWith('/devices/')) {
      if (!existsSync(join(real, 'uevent'))) throw new DeviceError('ENODEV', `${syspath}: not a device (no uevent file)`);
    } else {
      if (!isDirectory(real)) throw new DeviceError('ENODEV', `${syspath}: no such device`);
    }
    return new Device(roots, devpath);
  }

  /** From a devpath ("/devices/...") relative to the sysfs root. */
  static fromDevpath(roots: Roots, devpath: string): Device {
    if (!devpath.startsWith('/')) throw new DeviceError('EINVAL', `${devpath}: a devpath starts with /`);
    return Device.fromSyspath(roots, join(roots.sysfs, devpath));
  }

  /** From a device number through /sys/dev/{block,char}/MAJOR:MINOR. */
  static fromDevnum(roots: Roots, type: 'b' | 'c', major: number, minor: number): Device {
    const link = join(roots.sysfs, 'dev', type === 'b' ? 'block' : 'char', `${major}:${minor}`);
    if (!existsSync(link)) throw new DeviceError('ENODEV', `no ${type === 'b' ? 'block' : 'character'} device ${major}:${minor}`);
    const d = Device.fromSyspath(roots, link);
    d.foundByDevnum = true;
    return d;
  }

  /**
   * From a device node path. A logical "/dev/..." name is looked up under the dev root; the node's type and
   * number lead to sysfs. A path that is not a device node (e.g. a symlink to one) is followed.
   */
  static fromDevname(roots: Roots, name: string): Device {
    if (!name.startsWith(DEV_PREFIX + '/') && !name.startsWith(roots.dev + '/')) throw new DeviceError('EINVAL', `${name}: not a device node path under ${DEV_PREFIX}`);
    const phys = name.startsWith(roots.dev + '/') ? name : devPath(roots, name);
    let st;
    try {
      st = statSync(phys);
    } catch (e) {
      if (!isErrno(e, 'ENOENT', 'ENOTDIR', 'ELOOP')) throw e;
      throw new DeviceError('ENODEV', `${name}: no such device node`);
    }
    const type = st.isBlockDevice() ? 'b' : st.isCharacterDevice() ? 'c' : undefined;
    if (!type) throw new DeviceError('ENOTBLK', `${name}: not a device node`);
    const { major, minor } = splitDevT(st.rdev);
    return Device.fromDevnum(roots, type, major, minor);
  }

  /** From a subsystem and a sysname, the way sd_device_new_from_subsystem_sysname searches. */
  static fromSubsystemSysname(roots: Roots, subsystem: string, sysname: string): Device {
    const name = sysname.replace(/\//g, '!');
    const s = roots.sysfs;
    const candidates: string[] = [];
    if (subsystem === 'subsystem') {
      candidates.push(join(s, 'bus', name), join(s, 'class', name));
    } else if (subsystem === 'module') {
      candidates.push(join(s, 'module', name));
    } else if (subsystem === 'drivers') {
      const colon = name.indexOf(':');
      if (colon > 0) {
        const bus = name.slice(0, colon);
        const drv = name.slice(colon + 1);
        candidates.push(join(s, 'bus', bus, 'drivers', drv));
      }
    } else {
      candidates.push(join(s, 'bus', subsystem, 'devices', name), join(s, 'class', subsystem, name), join(s, 'firmware', subsystem, name));
    }
    // a device whose subsystem has a colon: "drivers" form is subsystem:driver
    for (const c of candidates) {
      // not a device (or gone meanwhile): try the next
      const d = existsSync(c) ? deviceIfAny(() => Device.fromSyspath(roots, c)) : undefined;
      if (d) return d;
    }
    throw new DeviceError('ENODEV', `no device ${subsystem}/${sysname}`);
  }

  /** From a udev database id: b8:0, c1:3, n3, +subsystem:sysname. */
  static fromDeviceId(roots: Roots, id: string): Device {
    const m = /^([bc])(\d+):(\d+)$/.exec(id);
    if (m) return Device.fromDevnum(roots, m[1] as 'b' | 'c', Number(m[2]), Number(m[3]));
    const n = /^n(\d+)$/.exec(id);
    if (n) return Device.fromIfindex(roots, Number(n[1]));
    if (id.startsWith('+')) {
      const colon = id.indexOf(':');
      if (colon < 2) throw new DeviceError('EINVAL', `${id}: invalid device id`);
      const subsystem = id.slice(1, colon);
      const sysname = id.slice(colon + 1);
      if (subsystem === 'drivers') return Device.fromSubsystemSysname(roots, 'drivers', sysname);
      return Device.fromSubsystemSysname(roots, subsystem, sysname);
    }
    throw new DeviceError('EINVAL', `${id}: invalid device id`);
  }

  /** From a network interface index, by scanning /sys/class/net. */
  static fromIfindex(roots: Roots, ifindex: number): Device {
    const base = join(roots.sysfs, 'class', 'net');
    for (const n of readdirIfAny(base)) {
      // an interface gone meanwhile is skipped
      const index = tryOr(() => readFileSync(join(base, n, 'ifindex'), 'utf8'), undefined, 'ENOENT', 'ENOTDIR');
      if (index !== undefined && Number(index.trim()) === ifindex) return Device.fromSyspath(roots, join(base, n));
    }
    throw new DeviceError('ENODEV', `no network interface with index ${ifindex}`);
  }

  /**
   * From the properties of a kernel (or libudev) uevent. DEVPATH is required; the sysfs directory need not
   * exist any more (remove events).
   */
  static fromUevent(roots: Roots, props: Map<string, string> | Record<string, string>): Device {
    // a Map is kept, not copied (one per event): the device never changes its uevent properties, nor may the caller
    const map = props instanceof Map ? props : new Map(Object.entries(props));
    const devpath = map.get('DEVPATH');
    if (!devpath || !isDevpath(devpath)) throw new DeviceError('EINVAL', `uevent without a valid DEVPATH`);
    // the device's id ("+subsystem:sysname" at the longest) names files in the run root: sysfs names fit NAME_MAX
    const subsystem = map.get('SUBSYSTEM') ?? '';
    const name = devpath.slice(devpath.lastIndexOf('/'));
    // measured in bytes only where it could be too long, as the DEVPATH's names (isDevpath())
    if (3 * (subsystem.length + name.length) + 1 > NAME_MAX && Buffer.byteLength(subsystem) + Buffer.byteLength(name) + 1 > NAME_MAX) throw new DeviceError('EINVAL', `uevent whose SUBSYSTEM and name are longer than ${NAME_MAX} bytes`);
    // as sd-device: a DEVNAME that would leave /dev makes the uevent invalid (nothing is done for it)
    const devname = map.get('DEVNAME');
    const node = devname === undefined ? null : mangleDevname(devname);
    if (node === undefined) throw new DeviceError('EINVAL', `uevent with an invalid DEVNAME '${devname!.slice(0, 80)}'`);
    const d = new Device(roots, devpath);
    d.#devname = node; // what the devname getter works out (the uevent is the device's for good)
    d.#uevent = map;
    d.#fromUevent = true;
    d.action = map.get('ACTION');
    const seq = map.get('SEQNUM');
    if (seq !== undefined && /^\d+$/.test(seq)) d.seqnum = Number(seq);
    const sub = map.get('SUBSYSTEM');
    d.#subsystem = sub ?? undefined;
    if (map.has('DRIVER')) {
      d.#driver = map.get('DRIVER')!;
      d.#driverSet = true;
    }
    return d;
  }

  /** A fresh Device for the same sysfs entry (no cached attributes, no database state). */
  clone(): Device {
    const d = new Device(this.roots, this.devpath);
    if (this.#uevent) d.#uevent = new Map(this.#uevent);
    d.#fromUevent = this.#fromUevent;
    d.#subsystem = this.#subsystem;
    d.#driver = this.#driver;
    d.#driverSet = this.#driverSet;
    d.action = this.action;
    d.seqnum = this.seqnum;
    return d;
  }

  // ---------------------------------------------------------------- identity

  get syspath(): string {
    return this.roots.sysfs + this.devpath;
  }

  /** Last devpath component, with '!' turned into '/' (as the kernel encodes such names). */
  get sysname(): string {
    if (this.#sysname === undefined) {
      const name = this.devpath.slice(this.devpath.lastIndexOf('/') + 1);
      this.#sysname = name.includes('!') ? name.replace(/!/g, '/') : name;
    }
    return this.#sysname;
  }

  /** Trailing digits of the sysname, or undefined (also when the whole name is digits). */
  get sysnum(): string | undefined {
    const name = this.sysname;
    let i = name.length;
    while (i > 0 && name.charCodeAt(i - 1) >= 48 && name.charCodeAt(i - 1) <= 57) i--;
    if (i === name.length || i === 0) return undefined;
    return name.slice(i);
  }

  /** The kernel uevent properties (from the event, or read from the uevent file). */
  get ueventProperties(): Map<string, string> {
    if (!this.#uevent) {
      // no uevent file: a subsystem, driver or module
      const text = readFileIfAny(this.syspath + '/uevent');
      this.#uevent = text === undefined ? new Map() : parseUeventFile(text);
    }
    return this.#uevent;
  }

  get subsystem(): string | undefined {
    if (this.#subsystem === undefined) {
      let sub: string | null = readLinkBase(this.syspath + '/subsystem') ?? null;
      if (sub === null) {
        const dp = this.devpath;
        if (dp.startsWith('/module/')) sub = 'module';
        else if (dp.includes('/drivers/') || dp.endsWith('/drivers')) sub = 'drivers';
        else if (/^\/(class|bus|subsystem)\/[^/]/.test(dp)) sub = 'subsystem';
      }
      this.#subsystem = sub;
    }
    return this.#subsystem ?? undefined;
  }

  /** For a driver device (/bus/BUS/drivers/NAME), the bus it belongs to. */
  get driverSubsystem(): string | undefined {
    if (this.subsystem !== 'drivers') return undefined;
    const m = /^\/bus\/([^/]+)\/drivers(\/|$)/.exec(this.devpath);
    return m?.[1];
  }

  get devtype(): string | undefined {
    return this.ueventProperties.get('DEVTYPE');
  }

  get driver(): string | undefined {
    if (!this.#driverSet) {
      this.#driver = readLinkBase(this.syspath + '/driver') ?? null;
      this.#driverSet = true;
    }
    return this.#driver ?? undefined;
  }

  /** The kernel's MAJOR and MINOR (the uevent properties never change: worked out once). */
  get devnum(): DevNum | undefined {
    if (this.#devnum === undefined) {
      const u = this.ueventProperties;
      const ma = u.get('MAJOR');
      const mi = u.get('MINOR');
      this.#devnum = ma === undefined || mi === undefined || !/^\d+$/.test(ma) || !/^\d+$/.test(mi) ? null : Object.freeze({ major: Number(ma), minor: Number(mi) });
    }
    return this.#devnum ?? undefined;
  }

  /** Logical device node path ("/dev/..."), or undefined (also for a name that would leave /dev). */
  get devname(): string | undefined {
    if (this.#devname === undefined) {
      const n = this.ueventProperties.get('DEVNAME');
      this.#devname = (n ? mangleDevname(n) : undefined) ?? null;
    }
    return this.#devname ?? undefined;
  }

  /** The node's mode from the kernel (DEVMODE), if given. */
  get devmode(): number | undefined {
    const m = this.ueventProperties.get('DEVMODE');
    return m !== undefined && /^[0-7]+$/.test(m) ? parseInt(m, 8) : undefined;
  }

  get devuid(): number | undefined {
    const v = this.ueventProperties.get('DEVUID');
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  }

  get devgid(): number | undefined {
    const v = this.ueventProperties.get('DEVGID');
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  }

  get ifindex(): number | undefined {
    const v = this.ueventProperties.get('IFINDEX');
    if (v !== undefined && /^\d+$/.test(v) && Number(v) > 0) return Number(v);
    return undefined;
  }

  /** True for a block device. */
  get isBlock(): boolean {
    return this.subsystem === 'block';
  }

  /**
   * The udev database id: b<maj>:<min> / c<maj>:<min> for nodes, n<ifindex> for interfaces,
   * +drivers:<bus>:<name> for drivers, +<subsystem>:<sysname> otherwise.
   */
  get id(): string {
    return (this.#id ??= this.#makeId());
  }

  #makeId(): string {
    const dn = this.devnum;
    const sub = this.subsystem;
    if (dn && dn.major > 0) return `${sub === 'block' ? 'b' : 'c'}${dn.major}:${dn.minor}`;
    const ifi = this.ifindex;
    if (ifi !== undefined) return `n${ifi}`;
    // the last devpath component as the kernel names it ('!' not translated), as sd-device
    const name = basename(this.devpath);
    return sub === 'drivers' ? `+drivers:${this.driverSubsystem ?? ''}:${name}` : `+${sub ?? ''}:${name}`;
  }

  /** True when the sysfs directory still exists. */
  exists(): boolean {
    return existsSync(this.syspath);
  }

  // ---------------------------------------------------------------- properties

  /** Value of a property: built-in identity fields, kernel uevent properties, then rules/db properties. */
  property(name: string): string | undefined {
    const db = this.dbProperties.get(name);
    if (db !== undefined) return db;
    switch (name) {
      case 'DEVPATH':
        return this.devpath;
      case 'SUBSYSTEM':
        return this.subsystem;
      case 'DEVTYPE':
        return this.devtype;
      case 'DRIVER':
        return this.#fromUevent ? this.ueventProperties.get('DRIVER') : this.driver;
      case 'DEVNAME':
        return this.devname;
      case 'ACTION':
        return this.action;
      case 'SEQNUM':
        return this.seqnum?.toString();
      case 'DEVLINKS':
        return this.devlinks.size ? [...this.devlinks].join(' ') : undefined;
      case 'TAGS':
        return this.tags.size ? `:${[...this.tags].join(':')}:` : undefined;
      case 'CURRENT_TAGS':
        return this.currentTags.size ? `:${[...this.currentTags].join(':')}:` : undefined;
      case 'USEC_INITIALIZED':
        return this.usecInitialized ? String(this.usecInitialized) : undefined;
    }
    return this.ueventProperties.get(name);
  }

  /**
   * Every property, in udev's order: DEVPATH, ACTION, SUBSYSTEM, DEVTYPE?, the rest of the kernel's,
   * then database/rules properties, then DEVLINKS, TAGS, CURRENT_TAGS, USEC_INITIALIZED.
   */
  get properties(): Map<string, string> {
    // built for every broadcast: forEach, unlike for...of, allocates nothing per entry in V8's interpreter
    const out = new Map<string, string>();
    out.set('DEVPATH', this.devpath);
    if (this.action !== undefined) out.set('ACTION', this.action);
    const subsystem = this.subsystem;
    if (subsystem !== undefined) out.set('SUBSYSTEM', subsystem);
    const uevent = this.ueventProperties;
    const devtype = uevent.get('DEVTYPE');
    if (devtype !== undefined) out.set('DEVTYPE', devtype);
    uevent.forEach((v, k) => {
      if (k === 'DEVNAME') {
        const name = this.devname;
        if (name !== undefined) out.set(k, name);
      } else if (k !== 'DEVPATH' && k !== 'ACTION' && k !== 'SUBSYSTEM' && k !== 'DEVTYPE') out.set(k, v);
    });
    if (!this.#fromUevent && !out.has('DRIVER')) {
      const driver = this.driver;
      if (driver !== undefined) out.set('DRIVER', driver);
    }
    if (this.seqnum !== undefined) out.set('SEQNUM', String(this.seqnum));
    const db = this.dbProperties;
    db.forEach((v, k) => out.set(k, v));
    // as property() gives them (a rules property of the same name wins)
    for (let i = 0; i < DERIVED_KEYS.length; i++) {
      const k = DERIVED_KEYS[i]!;
      const v = this.property(k);
      if (v !== undefined) out.set(k, v);
    }
    return out;
  }

  /** Sets (or with value "" deletes) a rules/db property. */
  setProperty(name: string, value: string): void {
    if (value === '') this.dbProperties.delete(name);
    else this.dbProperties.set(name, value);
  }

  /** Kernel properties are part of the event; rules may override them through setProperty. */
  isKernelProperty(name: string): boolean {
    return SPECIAL_UEVENT_KEYS.has(name) || this.ueventProperties.has(name);
  }

  // ---------------------------------------------------------------- attributes

  /**
   * A sysfs attribute, read once and cached. Trailing newlines are dropped as sd-device does. Symlinks
   * "driver", "subsystem", "module" give the link target's name. Unreadable or missing → undefined.
   */
  sysattr(name: string): string | undefined {
    const attrs = (this.#attrs ??= new Map());
    const known = attrs.get(name);
    if (known !== undefined || attrs.has(name)) return known ?? undefined;
    const value = this.#readAttr(name);
    attrs.set(name, value ?? null);
    return value;
  }

  #readAttr(name: string): string | undefined {
    if (name.includes('..') && name.split('/').includes('..')) return undefined;
    const path = this.syspath + '/' + name;
    let st = lstatIfAny(path);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (name === 'driver' || name === 'subsystem' || name === 'module' || name.endsWith('/driver') || name.endsWith('/subsystem') || name.endsWith('/module'))
        return readLinkBase(path);
      const target = statIfAny(path);
      if (!target) return undefined;
      st = target;
    }
    if (st.isDirectory()) return undefined;
    if (!(st.mode & 0o444)) return undefined;
    // a sysfs attribute can fail to read with any errno (EIO, ENODEV, EINVAL, ...): it has no value then
    return tryOr(() => readFileSync(path, 'utf8').replace(/\n+$/, ''), undefined);
  }

  /** Writes an attribute (and updates the cache). Throws DeviceError on failure. */
  setSysattr(name: string, value: string): void {
    if (name.split('/').includes('..')) throw new DeviceError('EINVAL', `${name}: invalid attribute name`);
    try {
      writeFileSync(join(this.syspath, name), value);
      (this.#attrs ??= new Map()).set(name, value.replace(/\n+$/, ''));
    } catch (e) {
      this.#attrs?.delete(name);
      throw new DeviceError(errnoCode(e), `cannot write ${this.syspath}/${name}: ${(e as Error).message}`);
    }
  }

  /** Drops cached attribute values (e.g. after a change event). */
  forgetAttributes(): void {
    this.#attrs = undefined;
  }

  // ---------------------------------------------------------------- parents

  /** The closest ancestor that is a device, or undefined at the top. */
  parent(): Device | undefined {
    if (this.#parent !== undefined) return this.#parent ?? undefined;
    // The devpath is canonical, so every prefix is too: no realpath needed on the way up.
    let p = this.devpath;
    let found: Device | null = null;
    for (;;) {
      p = dirname(p);
      if (p === '/' || p === '.' || p === '' || p === '/devices') break;
      const dir = this.roots.sysfs + p;
      const isDevice = p.startsWith('/devices/') ? existsSync(dir + '/uevent') : isDirectory(dir);
      if (isDevice) {
        found = new Device(this.roots, p);
        break;
      }
    }
    this.#parent = found;
    return found ?? undefined;
  }

  /** This device and then each ancestor. */
  *selfAndAncestors(): Generator<Device> {
    let d: Device | undefined = this as Device;
    while (d) {
      yield d;
      d = d.parent();
    }
  }

  /** Closest ancestor (not the device itself) with the given subsystem and, if given, devtype. */
  parentWithSubsystemDevtype(subsystem: string, devtype?: string): Device | undefined {
    for (let d = this.parent(); d; d = d.parent()) {
      if (d.subsystem === subsystem && (devtype === undefined || d.devtype === devtype)) return d;
    }
    return undefined;
  }

  // ---------------------------------------------------------------- database

  /** Loads tags, links, properties and init time from the run root's database (once). */
  loadDb(): DbRecord | undefined {
    if (this.#dbLoaded) return undefined;
    this.#dbLoaded = true;
    const rec = readDb(this.roots.run, this.id);
    if (!rec) return undefined;
    this.applyDb(rec);
    return rec;
  }

  /** Copies a database record onto this device. */
  applyDb(rec: DbRecord): void {
    for (const l of rec.links) this.devlinks.add(l);
    if (rec.linkPriority !== undefined) this.devlinkPriority = rec.linkPriority;
    for (const [k, v] of rec.properties) if (!this.dbProperties.has(k)) this.dbProperties.set(k, v);
    for (const t of rec.tags) this.tags.add(t);
    for (const t of rec.currentTags) this.currentTags.add(t);
    if (rec.usecInitialized) this.usecInitialized = rec.usecInitialized;
    if (rec.watchHandle !== undefined) this.watchHandle = rec.watchHandle;
    this.dbPersist = rec.persist;
  }

  get isInitialized(): boolean {
    return this.usecInitialized > 0;
  }

  toString(): string {
    return this.devpath;
  }
}


const realRoots = new Map<string, string>();

/** The canonical path of a sysfs root (cached: roots do not move). */
function realRootOf(root: string): string {
  let r = realRoots.get(root);
  if (r === undefined) {
    r = realpathSync.native(root);
    realRoots.set(root, r);
  }
  return r;
}

function isDirectory(p: string): boolean {
  return statIfAny(p)?.isDirectory() ?? false;
}
