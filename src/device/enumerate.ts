// Device enumeration: the set `udevadm trigger` walks and `devctl info --export-db` prints, with sd-device's
// filters and order.
//
// - devices: every entry of /sys/bus/*/devices and /sys/class/* (or /sys/subsystem/*/devices when it exists),
//   plus the parents of each listed device that pass the same filters; with tag matches, the devices listed in
//   the tag index (run root tags/<tag>/); with parent matches, each parent and every device below it.
// - subsystems: /sys/module/*, /sys/bus/* and /sys/bus/*/drivers/* (plus their matching parents, which is how
//   /sys/bus/X/drivers itself appears).
// - all: both, sorted together.
// Order: sd-device's device_compare(): path-component order of devpaths (so parents come before children),
// md and dm block devices after everything else, a sound card's controlC* device after its siblings; with
// prioritized subsystems, the devices of each such subsystem (with their listed ancestors) come first, group by
// group.
// Unreadable or vanished entries are skipped (and reported through onSkip), never fatal.
import { existsSync, readdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { Device, DeviceError } from './device.js';
import { dbPath, devicesWithTag } from './db.js';
import type { Roots } from './roots.js';
import { fnmatch } from '../util/fnmatch.js';
import { errnoCode, pathStartsWith } from '../util/fs.js';
import { readSysattr } from './enumerate/sysattr.js';


export type EnumerationType = 'devices' | 'subsystems' | 'all';
export type InitializedMatch = 'all' | 'yes' | 'no' | 'compat';

export interface EnumerateFilters {
  /** Subsystem globs: a device must match one (when any is given). */
  subsystems?: string[];
  /** Subsystem globs that exclude. */
  nomatchSubsystems?: string[];
  /** Attribute matches [name, value glob | undefined (= exists)]: all must match. */
  sysattrs?: Array<[string, string | undefined]>;
  /** Attribute matches that exclude. */
  nomatchSysattrs?: Array<[string, string | undefined]>;
  /**
   * Property matches [name glob, value glob]: any one must match. A name whose values were cleared (udevadm trigger
   * -p KEY, no value: value undefined) matches nothing, as in sd-device.
   */
  properties?: Array<[string, string | undefined]>;
  /**
   * Required property matches [name glob, value glob] (udevadm info's --property-match): every name must match, with
   * one of the values given for it.
   */
  requiredProperties?: Array<[string, string]>;
  /** Tags: every one must be set (read from the run root database). */
  tags?: string[];
  /** Sysname globs: one must match. */
  sysnames?: string[];
  nomatchSysnames?: string[];
  /** Devices (or their devpaths/syspaths): the device itself or something below it must match one. */
  parents?: Array<Device | string>;
  /** Default 'all' (as udevadm trigger): uninitialized devices included. */
  initialized?: InitializedMatch;
  /** Subsystems whose devices (and their ancestors) come first, in this order. */
  prioritizedSubsystems?: string[];
}

export interface SkipInfo {
  path: string;
  reason: string;
}

const MAX_DEPTH = 256;

/** systemd's path_compare(): component by component, so "/a/b" < "/a-1". */
export function pathCompare(a: string, b: string): number {
  const aa = a.startsWith('/');
  const ba = b.startsWith('/');
  if (aa !== ba) return aa ? -1 : 1;
  const as = a.split('/').filter((s) => s !== '' && s !== '.');
  const bs = b.split('/').filter((s) => s !== '' && s !== '.');
  const n = Math.min(as.length, bs.length);
  for (let i = 0; i < n; i++) {
    const c = Buffer.compare(Buffer.from(as[i]!), Buffer.from(bs[i]!));
    if (c !== 0) return c;
  }
  return as.length - bs.length;
}

/** sd-device's device_compare(). */
export function deviceCompare(a: string, b: string): number {
  const snd = a.indexOf('/sound/card');
  if (snd >= 0) {
    const slash = a.indexOf('/', snd + '/sound/card'.length);
    if (slash >= 0 && a.slice(0, slash) === b.slice(0, slash)) {
      const ca = a.startsWith('/controlC', slash);
      const cb = b.startsWith('/controlC', slash);
      if (ca !== cb) return ca ? 1 : -1;
    }
  }
  const delay = (p: string) => p.includes('/block/md') || p.includes('/block/dm-');
  const da = delay(a);
  const db = delay(b);
  if (da !== db) return da ? 1 : -1;
  return pathCompare(a, b);
}

export class Enumerator {
  readonly roots: Roots;
  readonly filters: EnumerateFilters;
  readonly onSkip: ((s: SkipInfo) => void) | undefined;
  #bySyspath = new Map<string, Device>();
  #parentPaths: string[];

  constructor(roots: Roots, filters: EnumerateFilters = {}, onSkip?: (s: SkipInfo) => void) {
    this.roots = roots;
    this.filters = filters;
    this.onSkip = onSkip;
    this.#parentPaths = (filters.parents ?? []).map((p) => {
      if (typeof p !== 'string') return p.syspath;
      return p.startsWith(roots.sysfs + '/') ? p : join(roots.sysfs, p);
    });
  }

  // ------------------------------------------------------------ matches

  matchSubsystem(subsystem: string | undefined): boolean {
    if (subsystem === undefined) return false;
    for (const g of this.filters.nomatchSubsystems ?? []) if (fnmatch(g, subsystem)) return false;
    const m = this.filters.subsystems ?? [];
    return m.length === 0 || m.some((g) => fnmatch(g, subsystem));
  }

  matchSysname(sysname: string): boolean {
    for (const g of this.filters.nomatchSysnames ?? []) if (fnmatch(g, sysname)) return false;
    const m = this.filters.sysnames ?? [];
    return m.length === 0 || m.some((g) => fnmatch(g, sysname));
  }

  matchParent(d: Device): boolean {
    if (this.#parentPaths.length === 0) return true;
    return this.#parentPaths.some((p) => pathStartsWith(d.syspath, p));
  }

  matchTags(d: Device): boolean {
    const tags = this.filters.tags ?? [];
    if (tags.length === 0) return true;
    d.loadDb();
    return tags.every((t) => d.tags.has(t));
  }

  matchInitialized(d: Device): boolean {
    const mode = this.filters.initialized ?? 'all';
    if (mode === 'all') return true;
    const init = existsSync(dbPath(this.roots.run, d.id));
    if (mode === 'compat') {
      if (init) return true;
      return d.devnum === undefined && d.ifindex === undefined;
    }
    return (mode === 'no') === !init;
  }

  matchProperties(d: Device): boolean {
    const m = this.filters.properties ?? [];
    if (m.length === 0) return true;
    d.loadDb();
    const props = d.properties;
    for (const [name, value] of m) {
      if (value === undefined) continue;
      for (const [k, v] of props) {
        if (fnmatch(name, k) && fnmatch(value, v)) return true;
      }
    }
    return false;
  }

  matchRequiredProperties(d: Device): boolean {
    const m = this.filters.requiredProperties ?? [];
    if (m.length === 0) return true;
    const byName = new Map<string, string[]>();
    for (const [name, value] of m) byName.set(name, [...(byName.get(name) ?? []), value]);
    d.loadDb();
    const props = d.properties;
    for (const [name, values] of byName) {
      let found = false;
      for (const [k, v] of props) {
        if (fnmatch(name, k) && values.some((g) => fnmatch(g, v))) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
    return true;
  }

  matchSysattrs(d: Device): boolean {
    const test = (name: string, value: string | undefined) => {
      const r = readSysattr(d.syspath, name);
      if (!r.ok) return false;
      return value === undefined || fnmatch(value, r.value);
    };
    for (const [n, v] of this.filters.nomatchSysattrs ?? []) if (test(n, v)) return false;
    for (const [n, v] of this.filters.sysattrs ?? []) if (!test(n, v)) return false;
    return true;
  }

  /** Every filter; `skip` names the ones the caller already checked. */
  matches(d: Device, skip: { sysname?: boolean; subsystem?: boolean; parent?: boolean; tag?: boolean } = {}): boolean {
    if (!skip.sysname && !this.matchSysname(d.sysname)) return false;
    if (!skip.subsystem && !this.matchSubsystem(d.subsystem)) return false;
    if (!skip.parent && !this.matchParent(d)) return false;
    if (!skip.tag && !this.matchTags(d)) return false;
    if (!this.matchInitialized(d)) return false;
    if (!this.matchProperties(d)) return false;
    if (!this.matchRequiredProperties(d)) return false;
    if (!this.matchSysattrs(d)) return false;
    return true;
  }

  // ------------------------------------------------------------ scanning

  #skip(path: string, reason: string): void {
    this.onSkip?.({ path, reason });
  }

  #readdir(path: string, missingOk: boolean): Dirent[] {
    try {
      return readdirSync(path, { withFileTypes: true });
    } catch (e) {
      const code = errnoCode(e);
      if (!(missingOk && code === 'ENOENT')) this.#skip(path, `cannot read directory: ${code}`);
      return [];
    }
  }

  #open(syspath: string): Device | undefined {
    try {
      return Device.fromSyspath(this.roots, syspath);
    } catch (e) {
      if (!(e instanceof DeviceError) || e.code !== 'ENODEV') this.#skip(syspath, (e as Error).message);
      return undefined;
    }
  }

  /** Adds a device; false when it was there already. */
  #add(d: Device): boolean {
    if (this.#bySyspath.has(d.syspath)) return false;
    this.#bySyspath.set(d.syspath, d);
    return true;
  }

  #addParents(d: Device): void {
    for (let p = d.parent(); p; p = p.parent()) {
      if (p.subsystem === undefined) continue;
      if (!this.matchSubsystem(p.subsystem)) continue;
      if (!this.matchSysname(p.sysname)) continue;
      if (!this.matches(p, { sysname: true, subsystem: true })) continue;
      if (!this.#add(p)) break;
    }
  }

  /** /sys/BASE[/SUB1[/SUB2]]/* */
  #scanDirAndAdd(base: string, sub1?: string, sub2?: string): void {
    const dir = join(this.roots.sysfs, base, sub1 ?? '', sub2 ?? '');
    for (const de of this.#readdir(dir, sub1 !== undefined || sub2 !== undefined)) {
      if (de.name.startsWith('.')) continue;
      if (!de.isDirectory() && !de.isSymbolicLink()) continue;
      if (!this.matchSysname(de.name)) continue;
      const d = this.#open(join(dir, de.name));
      if (!d) continue;
      if (!this.matches(d, { sysname: true })) continue;
      if (!this.#add(d)) continue;
      this.#addParents(d);
    }
  }

  /** For each entry E of /sys/BASE matching the subsystem (E, or `subsystem`): /sys/BASE/E/SUB/* */
  #scanDir(base: string, sub: string | undefined, subsystem: string | undefined): void {
    for (const de of this.#readdir(join(this.roots.sysfs, base), false)) {
      if (de.name.startsWith('.')) continue;
      if (!de.isDirectory() && !de.isSymbolicLink()) continue;
      if (!this.matchSubsystem(subsystem ?? de.name)) continue;
      this.#scanDirAndAdd(base, de.name, sub);
    }
  }

  #scanTags(): void {
    for (const tag of this.filters.tags ?? []) {
      for (const id of devicesWithTag(this.roots.run, tag)) {
        let d: Device;
        try {
          d = Device.fromDeviceId(this.roots, id);
        } catch (e) {
          this.#skip(join(this.roots.run, 'tags', tag, id), (e as Error).message);
          continue;
        }
        if (!this.matches(d)) continue;
        this.#add(d);
      }
    }
  }

  #addChild(path: string): void {
    const d = this.#open(path);
    if (!d) return;
    if (!this.matches(d, { parent: true })) return;
    this.#add(d);
  }

  #crawl(path: string, depth: number): void {
    for (const de of this.#readdir(path, true)) {
      if (de.name.startsWith('.')) continue;
      if (!de.isDirectory()) continue;
      const child = join(path, de.name);
      this.#addChild(child);
      if (depth > 0) this.#crawl(child, depth - 1);
    }
  }

  #scanChildren(): void {
    for (const p of this.#parentPaths) {
      this.#addChild(p);
      this.#crawl(p, MAX_DEPTH);
    }
  }

  #scanDevices(): void {
    if ((this.filters.tags ?? []).length > 0) this.#scanTags();
    else if (this.#parentPaths.length > 0) this.#scanChildren();
    else if (existsSync(join(this.roots.sysfs, 'subsystem'))) this.#scanDir('subsystem', 'devices', undefined);
    else {
      this.#scanDir('bus', 'devices', undefined);
      this.#scanDir('class', undefined, undefined);
    }
  }

  #scanSubsystems(): void {
    if (this.matchSubsystem('module')) this.#scanDirAndAdd('module');
    const subsysdir = existsSync(join(this.roots.sysfs, 'subsystem')) ? 'subsystem' : 'bus';
    if (this.matchSubsystem('subsystem')) this.#scanDirAndAdd(subsysdir);
    if (this.matchSubsystem('drivers')) this.#scanDir(subsysdir, 'drivers', 'drivers');
  }

  /** Scans and returns the sorted list. */
  scan(type: EnumerationType = 'devices'): Device[] {
    this.#bySyspath.clear();
    if (type === 'devices' || type === 'all') this.#scanDevices();
    if (type === 'subsystems' || type === 'all') this.#scanSubsystems();
    return this.#sorted();
  }

  #sorted(): Device[] {
    const remaining = new Map(this.#bySyspath);
    const out: Device[] = [];
    const cmp = (a: Device, b: Device) => deviceCompare(a.devpath, b.devpath);
    for (const sub of this.filters.prioritizedSubsystems ?? []) {
      const group: Device[] = [];
      for (const [syspath, d] of [...remaining]) {
        if (!remaining.has(syspath) || d.subsystem !== sub) continue;
        remaining.delete(syspath);
        group.push(d);
        // the device's ancestors that are in the set come with it
        let p = d.devpath;
        for (;;) {
          const slash = p.lastIndexOf('/');
          if (slash <= 0) break;
          p = p.slice(0, slash);
          const key = this.roots.sysfs + p;
          const a = remaining.get(key);
          if (a) {
            remaining.delete(key);
            group.push(a);
          }
        }
      }
      group.sort(cmp);
      out.push(...group);
    }
    const rest = [...remaining.values()].sort(cmp);
    return out.concat(rest);
  }
}

/** One-shot helper: enumerate with filters, sorted as udev sorts. */
export function enumerateDevices(roots: Roots, type: EnumerationType = 'devices', filters: EnumerateFilters = {}, onSkip?: (s: SkipInfo) => void): Device[] {
  return new Enumerator(roots, filters, onSkip).scan(type);
}
