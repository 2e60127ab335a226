// net_id: predictable network interface names (ID_NET_NAME_MAC / _PATH / _SLOT / _ONBOARD, ID_NET_LABEL_ONBOARD)
// as systemd-udevd's udev-builtin-net_id.c (version 252, naming scheme "v252": every naming flag of that
// version on) computes them. See https://systemd.io/PREDICTABLE_INTERFACE_NAMES.
import { readdirSync, readFileSync, realpathSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Device } from '../device/device.js';
import type { Roots } from '../device/roots.js';
import { getBuiltin } from './registry.js';
import type { Builtin, BuiltinContext } from './types.js';
import { scanNumbers } from './util.js';

export const NAMING_SCHEME = 'v252';

const ARPHRD_ETHER = 1;
const ARPHRD_INFINIBAND = 32;
const ARPHRD_SLIP = 256;
const NET_ADDR_PERM = 0;
/** ALTIFNAMSIZ: names (with their NUL) must fit in 128 bytes. */
const NAME_MAX_LEN = 127;
const ONBOARD_INDEX_MAX = 0xffff; // 16-bit indexes (s390) are allowed by the v252 scheme

interface LinkInfo {
  ifindex: number;
  iflink: number;
  iftype: number;
  devtype: string | undefined;
  physPortName: string | undefined;
  hwAddr: number[] | undefined;
}

interface PciNames {
  onboard: string;
  onboardLabel: string | undefined;
  path: string;
  slot: string;
}

/** safe_atoi / safe_atolu style decimal parsing. */
function cInt(s: string | undefined, unsigned = false): number | undefined {
  if (s === undefined) return undefined;
  const m = (unsigned ? /^\s*\+?(\d+)$/ : /^\s*([+-]?\d+)$/).exec(s);
  return m ? Number(m[1]) : undefined;
}

/** parse_hw_addr: bytes as hex pairs separated by ':' or '-' (or "xxxx.xxxx.xxxx"), at most 32 bytes. */
export function parseHwAddr(s: string): number[] | undefined {
  let parts: string[];
  if (/^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4})+$/.test(s)) parts = s.split('.').flatMap((p) => [p.slice(0, 2), p.slice(2)]);
  else parts = s.split(/[:-]/);
  if (parts.length === 0 || parts.length > 32 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) return undefined;
  return parts.map((p) => parseInt(p, 16));
}

function linkInfo(dev: Device): LinkInfo | Error {
  const ifindex = dev.ifindex;
  if (ifindex === undefined) return new Error('no ifindex');
  const iflink = cInt(dev.sysattr('iflink'));
  if (iflink === undefined) return new Error('no iflink attribute');
  const iftype = cInt(dev.sysattr('type'));
  if (iftype === undefined) return new Error('no type attribute');
  const physPortName = dev.sysattr('phys_port_name');
  const addr = dev.sysattr('address');
  return { ifindex, iflink, iftype, devtype: dev.devtype, physPortName, hwAddr: addr === undefined ? undefined : parseHwAddr(addr) };
}

/**
 * The suffix for several ports on one function: n<phys_port_name> or d<dev_port>. (The "r<VF>" suffix for VF
 * representors belongs to later naming schemes than v252: Debian's 252 names them n<phys_port_name> too.)
 */
function portSuffix(info: LinkInfo, devPort: number): string {
  if (info.physPortName) return `n${info.physPortName}`;
  if (devPort > 0) return `d${devPort}`;
  return '';
}

const fit = (s: string) => (Buffer.byteLength(s) > NAME_MAX_LEN ? '' : s);

/** Skips intermediate virtio devices (there is only ever one virtio bus per parent device). */
function skipVirtio(dev: Device | undefined): Device | undefined {
  let d = dev;
  while (d && d.subsystem === 'virtio') d = d.parent();
  return d;
}

/** Bit 7 of the PCI header type byte (config space offset 0x0e): a multi-function device. */
function isPciMultifunction(pci: Device): boolean {
  try {
    const config = readFileSync(join(pci.syspath, 'config'));
    return config.length > 0x0e && (config[0x0e]! & 0x80) !== 0;
  } catch {
    return false;
  }
}

/** A PCI bridge: modalias "pci:...sc04..." (subclass 04). */
function isPciBridge(pci: Device): boolean {
  const v = pci.sysattr('modalias');
  if (!v?.startsWith('pci:')) return false;
  const p = v.lastIndexOf('s');
  return p >= 0 && v[p + 1] === 'c' && v.slice(p + 2, p + 4) === '04';
}

/** dev_port, or (IP-over-InfiniBand on old kernels) dev_id when dev_port is 0. */
function devPort(dev: Device, info: LinkInfo, withDevId: boolean): number {
  const a = dev.sysattr('dev_port');
  if (a === undefined) return 0;
  let port = cInt(a, true) ?? 0;
  if (withDevId && port === 0 && info.iftype === ARPHRD_INFINIBAND) port = cInt(dev.sysattr('dev_id'), true) ?? 0;
  return port;
}

/** Firmware index (ACPI _DSM acpi_index, else SMBIOS index) and label. */
function pciOnboard(dev: Device, pci: Device, info: LinkInfo, names: PciNames): void {
  const attr = pci.sysattr('acpi_index') ?? pci.sysattr('index');
  if (attr === undefined) return;
  const idx = cInt(attr, true);
  if (idx === undefined || idx > ONBOARD_INDEX_MAX) return; // some BIOSes report rubbish indexes
  names.onboard = fit(`o${idx}${portSuffix(info, devPort(dev, info, false))}`);
  names.onboardLabel = pci.sysattr('label');
}

/** The s390 function_id names the hotplug slot directory directly. */
function slotFromFunctionId(pci: Device, slotsDir: string): number | 'error' | undefined {
  const a = pci.sysattr('function_id');
  if (a === undefined) return undefined;
  const id = cInt(a, true);
  if (id === undefined || id <= 0 || id > 0xffffffff) return 'error';
  return existsSync(join(slotsDir, id.toString(16).padStart(8, '0'))) ? id : 'error';
}

/** PCI path (p<bus>s<slot>...) and hotplug slot (s<slot>...) names. */
function pciSlot(roots: Roots, dev: Device, pci: Device, info: LinkInfo, names: PciNames): void {
  const nums = /^([0-9a-fA-F]+):([0-9a-fA-F]+):([0-9a-fA-F]+)\.(\d+)/.exec(pci.sysname);
  if (!nums) return;
  let domain = parseInt(nums[1]!, 16);
  const bus = parseInt(nums[2]!, 16);
  const slot = parseInt(nums[3]!, 16);
  let func = Number(nums[4]);
  // ARI: slot and function together are one 8-bit function number
  if (pci.sysattr('ari_enabled') === '1') func += slot * 8;
  const port = devPort(dev, info, true);
  const suffix = portSuffix(info, port);
  const withFunc = (s: string) => (func > 0 || isPciMultifunction(pci) ? `${s}f${func}` : s);
  names.path = fit(withFunc(`${domain > 0 ? `P${domain}` : ''}p${bus}s${slot}`) + suffix);

  // ACPI _SUN: the slot whose address the device (or a parent bridge) sits at
  const slotsDir = join(roots.sysfs, 'bus', 'pci', 'slots');
  let entries: string[];
  try {
    entries = readdirSync(slotsDir);
  } catch {
    return;
  }
  let hotplugSlot = 0;
  for (let d: Device | undefined = pci; d; d = d.parentWithSubsystemDevtype('pci')) {
    const f = slotFromFunctionId(d, slotsDir);
    if (f === 'error') return;
    if (f !== undefined) {
      hotplugSlot = f;
      domain = 0;
      break;
    }
    for (const e of entries) {
      const i = cInt(e, true);
      if (i === undefined || i <= 0 || !/^\d+$/.test(e)) continue;
      let address: string;
      try {
        address = readFileSync(join(slotsDir, e, 'address'), 'utf8').replace(/\n+$/, '');
      } catch {
        continue;
      }
      // the slot address is the device address without the function
      if (!d.sysname.startsWith(address)) continue;
      hotplugSlot = i;
      // a bridge's slot would be claimed by every device behind it: only for a multi-function device
      if (isPciBridge(d) && !isPciMultifunction(pci)) return;
      break;
    }
    if (hotplugSlot > 0) break;
  }
  if (hotplugSlot > 0) names.slot = fit(withFunc(`${domain > 0 ? `P${domain}` : ''}s${hotplugSlot}`) + suffix);
}

/** For an SR-IOV virtual function: its physical function and the "v<N>" suffix. */
function virtfnInfo(pci: Device): { physfn: Device; suffix: string } | undefined {
  let physfnPath: string;
  try {
    physfnPath = realpathSync(join(pci.syspath, 'physfn'));
  } catch {
    return undefined;
  }
  const physfn = deviceFromRealPath(pci.roots, physfnPath);
  if (!physfn) return undefined;
  const self = realpathSync(pci.syspath);
  for (const e of readdirSync(physfnPath)) {
    const m = /^virtfn(\d+)$/.exec(e);
    if (!m) continue;
    try {
      if (realpathSync(join(physfnPath, e)) === self) return { physfn, suffix: `v${m[1]}` };
    } catch {
      /* dangling */
    }
  }
  return undefined;
}

/** The device at a resolved path under the sysfs root, or undefined. */
function deviceFromRealPath(roots: Roots, abs: string): Device | undefined {
  try {
    const rootReal = realpathSync(roots.sysfs);
    if (!abs.startsWith(rootReal + '/')) return undefined;
    return Device.fromDevpath(roots, abs.slice(rootReal.length));
  } catch {
    return undefined;
  }
}

/** PCI names; `direct` when the interface sits right on the PCI device (through virtio at most). */
function namesPci(roots: Roots, dev: Device, info: LinkInfo): { names: PciNames; direct: boolean } | undefined {
  const parent = skipVirtio(dev.parent());
  if (!parent) return undefined;
  let pci: Device | undefined;
  let direct = false;
  if (parent.subsystem === 'pci') {
    pci = parent;
    direct = true;
  } else {
    pci = dev.parentWithSubsystemDevtype('pci');
    if (!pci) return undefined;
  }
  const names: PciNames = { onboard: '', onboardLabel: undefined, path: '', slot: '' };
  const vf = virtfnInfo(pci);
  if (vf) {
    // an SR-IOV virtual function: the physical function's names plus "v<N>"
    const pf: PciNames = { onboard: '', onboardLabel: undefined, path: '', slot: '' };
    pciOnboard(dev, vf.physfn, info, pf);
    pciSlot(roots, dev, vf.physfn, info, pf);
    const add = (s: string) => (s && Buffer.byteLength(s + vf.suffix) < NAME_MAX_LEN + 1 ? s + vf.suffix : '');
    names.onboard = add(pf.onboard);
    names.slot = add(pf.slot);
    names.path = add(pf.path);
  } else {
    pciOnboard(dev, pci, info, names);
    pciSlot(roots, dev, pci, info, names);
  }
  return { names, direct };
}

/** u<port>[u<port>...][c<config>][i<interface>] from the USB interface's name (1-1.2:1.0). */
function namesUsb(dev: Device): string | undefined {
  const iface = dev.parentWithSubsystemDevtype('usb', 'usb_interface');
  if (!iface) return undefined;
  const m = /^[^-]*-([^:]*):([^.]*)\.(.*)$/.exec(iface.sysname);
  if (!m) return undefined;
  let s = `u${m[1]!.replace(/\./g, 'u')}`;
  if (m[2] !== '1') s += `c${m[2]}`;
  if (m[3] !== '0') s += `i${m[3]}`;
  return fit(s) || undefined;
}

/** b<core> (core 0 gives "") from the BCMA core's name (bcma0:3). */
function namesBcma(dev: Device): string | undefined {
  const b = dev.parentWithSubsystemDevtype('bcma');
  if (!b) return undefined;
  const n = scanNumbers(b.sysname, 'bcma%*u:%u');
  if (n.length !== 1) return undefined;
  return n[0]! > 0 ? `b${n[0]}` : '';
}

/** c<bus-id without leading zeros> for CCW / CCW group devices (s390). */
function namesCcw(dev: Device): string | undefined {
  const c = skipVirtio(dev.parent());
  if (!c || (c.subsystem !== 'ccw' && c.subsystem !== 'ccwgroup')) return undefined;
  const id = c.sysname;
  if (id.length !== 8 && id.length !== 9) return undefined;
  let start = 0;
  while (start < id.length && (id[start] === '.' || id[start] === '0')) start++;
  return fit(`c${id.slice(start < id.length ? start : id.length - 1)}`) || undefined;
}

/** v<slot> for IBM POWER virtual I/O devices (/devices/vio/BBBBSSSS/net/ethN). */
function namesVio(dev: Device): string | undefined {
  if (dev.parent()?.subsystem !== 'vio') return undefined;
  const m = /^\/devices\/vio\/[0-9a-fA-F]{4}([0-9a-fA-F]{1,4})\/net\/eth\d+/.exec(dev.devpath);
  return m ? `v${parseInt(m[1]!, 16)}` : undefined;
}

/** a<vendor><model>i<instance> for ACPI platform devices (/devices/platform/HISI00C2:00/net/ethN). */
function namesPlatform(dev: Device): string | undefined {
  if (dev.parent()?.subsystem !== 'platform') return undefined;
  const base = '/devices/platform/';
  const p = dev.devpath;
  if (p.length < base.length + 8 + 1) return undefined;
  // the vendor is a PNP id (3 letters) or an ACPI id (4 letters or digits), then hex model ':' instance
  const four = p[base.length + 8] === ':';
  const vlen = four ? 4 : 3;
  const rest = p.slice(base.length);
  const vendor = rest.slice(0, vlen);
  const after = /^([0-9a-fA-F]{1,4}):([0-9a-fA-F]{1,2})\/net\/eth(\d+)/.exec(rest.slice(vlen));
  if (!after || !(four ? /^[A-Z0-9]{4}$/ : /^[A-Z]{3}$/).test(vendor)) return undefined;
  return `a${vendor.toLowerCase()}${parseInt(after[1]!, 16).toString(16)}i${parseInt(after[2]!, 16)}`;
}

/** i<addr>n<port> for netdevsim devices. */
function namesNetdevsim(dev: Device, info: LinkInfo): string | undefined {
  if (!info.physPortName) return undefined;
  const n = dev.parentWithSubsystemDevtype('netdevsim');
  const m = n && /^netdevsim(\d+)/.exec(n.sysname);
  return m ? fit(`i${Number(m[1])}n${info.physPortName}`) || undefined : undefined;
}

/** X<n> for Xen VIFs (/devices/vif-N/...). */
function namesXen(dev: Device): string | undefined {
  if (dev.parent()?.subsystem !== 'xen') return undefined;
  const m = /^\/devices\/vif-(0|[1-9]\d*)\//.exec(dev.devpath);
  return m ? `X${m[1]}` : undefined;
}

/** d<N> when a devicetree alias "ethernet<N>" points at the parent's of_node. */
function devicetreeOnboard(roots: Roots, dev: Device): string | undefined {
  const parent = dev.parent();
  if (!parent) return undefined;
  let ofnode: string;
  let base: string;
  try {
    ofnode = realpathSync(join(parent.syspath, 'of_node'));
    base = realpathSync(join(roots.sysfs, 'firmware', 'devicetree', 'base'));
  } catch {
    return undefined;
  }
  if (!ofnode.startsWith(base + '/')) return undefined;
  const nodePath = ofnode.slice(base.length);
  const aliases = join(base, 'aliases');
  let names: string[];
  try {
    names = readdirSync(aliases);
  } catch {
    return undefined;
  }
  const value = (n: string) => {
    try {
      const b = readFileSync(join(aliases, n));
      const z = b.indexOf(0);
      return (z < 0 ? b : b.subarray(0, z)).toString('utf8').replace(/\n+$/, '');
    } catch {
      return undefined;
    }
  };
  for (const a of names) {
    if (!a.startsWith('ethernet')) continue;
    const v = value(a);
    if (v === undefined || v.replace(/\/+$/, '') !== nodePath) continue;
    const idxText = a.slice('ethernet'.length);
    const i = idxText === '' ? 0 : cInt(idxText, true);
    if (i === undefined) return undefined;
    // ethernet and ethernet0 both present: conflict
    if (i === 0 && value(idxText === '' ? 'ethernet0' : 'ethernet') !== undefined) return undefined;
    return `d${i}`;
  }
  return undefined;
}

/** Computes the properties in udev's order, or an Error when the device's link information is unreadable. */
export async function netProperties(ctx: Pick<BuiltinContext, 'roots' | 'device'> & Partial<BuiltinContext>): Promise<Array<[string, string]> | Error> {
  const dev = ctx.device;
  const out: Array<[string, string]> = [];
  const add = (k: string, v: string) => out.push([k, v]);
  const info = linkInfo(dev);
  if (info instanceof Error) return info;
  // stacked devices (VLANs, ...) are named by their own tools
  if (info.ifindex !== info.iflink) return out;
  let prefix: string;
  if (info.iftype === ARPHRD_ETHER) prefix = 'en';
  else if (info.iftype === ARPHRD_INFINIBAND) prefix = 'ib';
  else if (info.iftype === ARPHRD_SLIP) prefix = 'sl';
  else return out;
  if (info.devtype === 'wlan') prefix = 'wl';
  else if (info.devtype === 'wwan') prefix = 'ww';

  add('ID_NET_NAMING_SCHEME', NAMING_SCHEME);

  // a MAC name only for a permanent (not random or stolen) 6-byte address
  if (info.iftype !== ARPHRD_INFINIBAND && info.hwAddr?.length === 6 && cInt(dev.sysattr('addr_assign_type'), true) === NET_ADDR_PERM) {
    add('ID_NET_NAME_MAC', `${prefix}x${info.hwAddr.map((b) => b.toString(16).padStart(2, '0')).join('')}`);
    await ouiLookup(ctx, info.hwAddr, add);
  }
  if (prefix === 'en') {
    const d = devicetreeOnboard(ctx.roots, dev);
    if (d) add('ID_NET_NAME_ONBOARD', prefix + d);
  }
  const name = (s: string | undefined) => (s === undefined ? undefined : fit(prefix + s) || undefined);
  for (const [fn, key] of [
    [() => namesCcw(dev), 'ID_NET_NAME_PATH'],
    [() => namesVio(dev), 'ID_NET_NAME_SLOT'],
    [() => namesPlatform(dev), 'ID_NET_NAME_PATH'],
    [() => namesNetdevsim(dev, info), 'ID_NET_NAME_PATH'],
    [() => namesXen(dev), 'ID_NET_NAME_SLOT'],
  ] as Array<[() => string | undefined, string]>) {
    const s = fn();
    if (s !== undefined) {
      const n = name(s);
      if (n) add(key, n);
      return out;
    }
  }
  const pci = namesPci(ctx.roots, dev, info);
  if (!pci) return out;
  const { names } = pci;
  if (pci.direct) {
    if (names.onboard) add('ID_NET_NAME_ONBOARD', prefix + names.onboard);
    if (names.onboardLabel !== undefined && fit(names.onboardLabel)) add('ID_NET_LABEL_ONBOARD', names.onboardLabel);
    if (names.path) add('ID_NET_NAME_PATH', prefix + names.path);
    if (names.slot) add('ID_NET_NAME_SLOT', prefix + names.slot);
    return out;
  }
  const tail = namesUsb(dev) ?? namesBcma(dev);
  if (tail === undefined) return out;
  if (names.path && fit(prefix + names.path + tail)) add('ID_NET_NAME_PATH', prefix + names.path + tail);
  if (names.slot && fit(prefix + names.slot + tail)) add('ID_NET_NAME_SLOT', prefix + names.slot + tail);
  return out;
}

/** ID_OUI_FROM_DATABASE through the hwdb builtin ("OUI:XXXXXXXXXXXX"), skipping the misused 00:00:00 prefix. */
async function ouiLookup(ctx: Partial<BuiltinContext>, mac: number[], add: (k: string, v: string) => void): Promise<void> {
  if (mac[0] === 0 && mac[1] === 0 && mac[2] === 0) return;
  if (!ctx.device || !ctx.roots || !ctx.log) return;
  const hwdb = await getBuiltin('hwdb');
  if (!hwdb) return;
  const key = `OUI:${mac.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('')}`;
  try {
    await hwdb.run({ device: ctx.device, action: ctx.action ?? 'add', roots: ctx.roots, test: ctx.test ?? true, log: ctx.log, setProperty: add }, ['hwdb', key]);
  } catch {
    /* no database: no vendor name */
  }
}

const netId: Builtin = {
  name: 'net_id',
  help: 'Network device properties',
  async run(ctx: BuiltinContext): Promise<boolean> {
    const res = await netProperties(ctx);
    if (res instanceof Error) {
      ctx.log.debug(`net_id: ${ctx.device.devpath}: ${res.message}`);
      return false;
    }
    for (const [k, v] of res) ctx.setProperty(k, v);
    return true;
  },
};

export default netId;
