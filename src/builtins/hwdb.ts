// The "hwdb" builtin (udev's builtin-hwdb.c): imports hardware database properties into the device.
//
//   IMPORT{builtin}="hwdb"                       the device's modalias, else its parents' (like udev)
//   IMPORT{builtin}="hwdb 'usb:v1D6Bp0001'"      a given lookup string
//   options: --subsystem=SUBSYS    only look at the device/parents of that subsystem
//            --lookup-prefix=STR   prepend STR to the modalias before the lookup
//            --filter=GLOB         only import keys matching GLOB
//            --device=ID           read the modalias from another device (udev database id, e.g. +usb:1-1)
//
// The builtin fails (the IMPORT does not match) when nothing was found. A usb_device without a modalias gets
// one composed from idVendor/idProduct/product, and its parents are not looked at (they are hubs).
//
// hwdb.bin: configureHwdb({hwdbBin, configFile}) or the default search (see src/hwdb/index.ts). The file is
// watched (chokidar) and compared on disk; shouldReload() tells the daemon to call init() again.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { FSWatcher } from 'chokidar';
import { Device } from '../device/device.js';
import type { Roots } from '../device/roots.js';
import { findHwdbBin, HwdbFormatError, hwdbBinCandidates, openHwdb, type FindOptions, type Hwdb } from '../hwdb/index.js';
import { fnmatch, FNM_NOESCAPE } from '../util/fnmatch.js';
import { isSystemError } from '../util/fs.js';
import { log } from '../log.js';
import type { Builtin, BuiltinContext } from './types.js';

// A lazy require (bundled by scripts/bundle.mjs, loaded when first called): chokidar only where hwdb.bin is watched
// (the daemon), not in one-shot tools.
const require = createRequire(import.meta.url);

let findOpts: FindOptions = {};
let db: Hwdb | undefined;
let openError: string | undefined;
let watcher: FSWatcher | undefined;
let dirty = false;
let watchEnabled = true;

/** Sets where hwdb.bin is looked for (config hwdb_bin, the config file's directory). Takes effect on init(). */
export function configureHwdb(opts: FindOptions & { watch?: boolean }): void {
  findOpts = { hwdbBin: opts.hwdbBin, configFile: opts.configFile, root: opts.root };
  if (opts.watch !== undefined) watchEnabled = opts.watch;
  dirty = true;
}

/** The open database (undefined when there is no hwdb.bin). */
export function currentHwdb(): Hwdb | undefined {
  return db;
}

function load(): void {
  db?.close();
  db = undefined;
  openError = undefined;
  const path = findHwdbBin(findOpts);
  if (!path) {
    openError = `no hwdb.bin found (looked at ${hwdbBinCandidates(findOpts).join(', ')}); run 'devctl hwdb --update'`;
    return;
  }
  try {
    // pages read on demand into a bounded cache (as udevd maps it): the daemon does not hold the whole file (~12 MB)
    db = openHwdb(path, { storage: 'paged' });
  } catch (e) {
    if (!isSystemError(e) && !(e instanceof HwdbFormatError)) throw e;
    openError = `cannot open ${path}: ${e.message}`;
  }
}

/** Stops watching hwdb.bin; a watcher that fails to close is logged. */
function stopWatch(): void {
  watcher?.close().catch((e: unknown) => log().warn({ err: (e as Error).message }, 'hwdb: cannot stop watching hwdb.bin'));
  watcher = undefined;
}

function startWatch(): void {
  stopWatch();
  if (!watchEnabled) return;
  const paths = hwdbBinCandidates(findOpts);
  watcher = (require('chokidar') as typeof import('chokidar')).watch(paths, { persistent: false, ignoreInitial: true, atomic: true });
  const mark = () => {
    dirty = true;
  };
  watcher
    .on('add', mark)
    .on('change', mark)
    .on('unlink', mark)
    .on('error', (e) => log().warn({ err: (e as Error).message }, 'hwdb: watching hwdb.bin failed (a changed hwdb.bin is noticed at the next reload)'));
}

/** getopt_long-style parsing of the builtin's arguments. */
export function parseHwdbArgs(argv: string[]): { filter?: string; device?: string; subsystem?: string; prefix?: string; lookup?: string } {
  const out: { filter?: string; device?: string; subsystem?: string; prefix?: string; lookup?: string } = {};
  const long: Record<string, 'filter' | 'device' | 'subsystem' | 'prefix'> = {
    filter: 'filter',
    device: 'device',
    subsystem: 'subsystem',
    'lookup-prefix': 'prefix',
  };
  const short: Record<string, 'filter' | 'device' | 'subsystem' | 'prefix'> = { f: 'filter', d: 'device', s: 'subsystem', p: 'prefix' };
  const positionals: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const field = long[name];
      if (!field) throw new Error(`unknown option '${a}'`);
      let v: string | undefined = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new Error(`option '--${name}' needs a value`);
      out[field] = v;
    } else if (a.startsWith('-') && a.length > 1) {
      const field = short[a[1]!];
      if (!field) throw new Error(`unknown option '${a}'`);
      const v = a.length > 2 ? a.slice(2) : argv[++i];
      if (v === undefined) throw new Error(`option '-${a[1]}' needs a value`);
      out[field] = v;
    } else positionals.push(a);
  }
  if (positionals.length > 0) out.lookup = positionals[0];
  return out;
}

function lookupInto(ctx: BuiltinContext, hwdb: Hwdb, modalias: string, prefix: string | undefined, filter: string | undefined): number {
  const key = prefix ? prefix + modalias : modalias;
  let n = 0;
  for (const [k, v] of hwdb.lookup(key)) {
    if (filter !== undefined && !fnmatch(filter, k, FNM_NOESCAPE)) continue;
    ctx.setProperty(k, v);
    n++;
  }
  return n;
}

/** udev's modalias for a usb_device that has none: usb:vVVVVpPPPP:product. */
function usbModalias(d: Device): string | undefined {
  const v = d.sysattr('idVendor');
  const p = d.sysattr('idProduct');
  if (v === undefined || p === undefined) return undefined;
  if (!/^(0x)?[0-9a-fA-F]{1,4}$/.test(v.trim()) || !/^(0x)?[0-9a-fA-F]{1,4}$/.test(p.trim())) return undefined;
  const hex = (s: string) => parseInt(s.trim(), 16).toString(16).toUpperCase().padStart(4, '0');
  return `usb:v${hex(v)}p${hex(p)}:${d.sysattr('product') ?? ''}`;
}

function search(ctx: BuiltinContext, hwdb: Hwdb, src: Device, subsystem: string | undefined, prefix: string | undefined, filter: string | undefined): number {
  let r = 0;
  for (let d: Device | undefined = src; d; d = d.parent()) {
    const dsub = d.subsystem;
    if (subsystem !== undefined && dsub !== subsystem) continue;
    let modalias = d.property('MODALIAS') ?? d.sysattr('modalias');
    let last = false;
    if (dsub === 'usb' && d.devtype === 'usb_device') {
      modalias ??= usbModalias(d);
      last = true; // the parents of a usb_device are hubs
    }
    if (!modalias) continue;
    ctx.log.debug({ modalias }, 'hwdb modalias key');
    r = lookupInto(ctx, hwdb, modalias, prefix, filter);
    if (r > 0 || last) break;
  }
  return r;
}

const hwdbBuiltin: Builtin = {
  name: 'hwdb',
  help: 'Hardware database',

  init(_roots: Roots): void {
    dirty = false;
    load();
    if (openError) log().debug(openError);
    startWatch();
  },

  exit(): void {
    stopWatch();
    db?.close();
    db = undefined;
  },

  shouldReload(): boolean {
    if (dirty) return true;
    if (db) return db.changed();
    // No database yet: reload once one appears (an explicit hwdb_bin that is missing does not count).
    return hwdbBinCandidates(findOpts).some((p) => existsSync(p));
  },

  run(ctx: BuiltinContext, argv: string[]): boolean {
    if (!db && !openError) load();
    if (!db) {
      ctx.log.debug(openError ?? 'no hwdb');
      return false;
    }
    const opts = parseHwdbArgs(argv);
    if (opts.lookup !== undefined) {
      const n = lookupInto(ctx, db, opts.lookup, opts.prefix, opts.filter);
      if (n === 0) ctx.log.debug({ lookup: opts.lookup }, 'no entry found in hwdb');
      return n > 0;
    }
    let src = ctx.device;
    if (opts.device !== undefined) src = Device.fromDeviceId(ctx.roots, opts.device);
    const n = search(ctx, db, src, opts.subsystem, opts.prefix, opts.filter);
    if (n === 0) ctx.log.debug('no entry found in hwdb');
    return n > 0;
  },
};

export default hwdbBuiltin;
