// net_id: predictable network interface names (ID_NET_NAME_MAC / _PATH / _SLOT / _ONBOARD, ID_NET_LABEL_ONBOARD)
// as udev 257's udev-builtin-net_id.c computes them, under the naming scheme in force (src/net/naming-scheme.ts:
// v238 ... v257; v252 gives what Debian 12's udev 252 gives). See https://systemd.io/PREDICTABLE_INTERFACE_NAMES.
// Attributes are read "filtered": the hwdb can forbid one with ID_NET_NAME_ALLOW_<ATTR>=0 (or all with
// ID_NET_NAME_ALLOW=0), as udev's 20-net-ifname.hwdb does for some drivers.
import { readdirSync, readFileSync, realpathSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Device, deviceIfAny } from '../device/device.js';
import type { Roots } from '../device/roots.js';
import type { Builtin, BuiltinConfig, BuiltinContext } from './types.js';
import { scanNumbers } from './util.js';
import { HwdbFormatError } from '../hwdb/index.js';
import { resolveNamingScheme, schemeHas, type NamingFlag, type NamingScheme } from '../net/naming-scheme.js';
import { readCmdline } from '../util/cmdline.js';
import { parseHwAddr } from '../net/hw-addr.js';
import { numberOrUndefined, parseBoolean, safeAtoi, safeAtou } from '../util/cnum.js';
import { tryOr } from '../util/fs.js';

export { parseHwAddr };

const ARPHRD_ETHER = 1;
const ARPHRD_INFINIBAND = 32;
const ARPHRD_SLIP = 256;
const NET_ADDR_PERM = 0;
/** ALTIFNAMSIZ: names (with their NUL) must fit in 128 bytes. */
const NAME_MAX_LEN = 127;

type Add = (k: string, v: string) => void;

/** One net_id run: the device, the scheme and where the properties go. */
class Namer {
  constructor(
    readonly dev: Device,
    readonly roots: Roots,
    readonly scheme: NamingScheme,
    readonly add: Add,
  ) {}

  has(flag: NamingFlag): boolean {
    return schemeHas(this.scheme, flag);
  }

  /** snprintf_ok into ALTIFNAMSIZ: the name, or undefined when it does not fit. */
  fit(s: string): string | undefined {
    return Buffer.byteLength(s) > NAME_MAX_LEN ? undefined : s;
  }

  put(key: string, s: string): void {
    const v = this.fit(s);
    if (v !== undefined) this.add(key, v);
  }
}

// ------------------------------------------------------------------ filtered attribute reads

/** device_get_property_bool: true/false, 'error' for a value that is not a boolean, undefined when unset. */
function propertyBool(dev: Device, name: string): boolean | 'error' | undefined {
  const v = dev.property(name);
  if (v === undefined) return undefined;
  return parseBoolean(v) ?? 'error';
}

/** naming_sysattr_allowed: ID_NET_NAME_ALLOW_<ATTR>, else ID_NET_NAME_ALLOW, else allowed. */
function allowed(dev: Device, attr: string): boolean {
  const own = propertyBool(dev, `ID_NET_NAME_ALLOW_${attr}`.toUpperCase());
  const v = own ?? propertyBool(dev, 'ID_NET_NAME_ALLOW') ?? true;
  return v === true;
}

function attr(dev: Device, name: string): string | undefined {
  return allowed(dev, name) ? dev.sysattr(name) : undefined;
}

/** safe_atou() (unsigned) or safe_atoi() of a value, undefined when it is none or not a number. */
function cInt(s: string | undefined, unsigned = false): number | undefined {
  return s === undefined ? undefined : numberOrUndefined(unsigned ? safeAtou(s) : safeAtoi(s));
}

const attrUnsigned = (dev: Device, name: string) => cInt(attr(dev, name), true);
const attrInt = (dev: Device, name: string) => cInt(attr(dev, name));
const attrBool = (dev: Device, name: string) => {
  const v = attr(dev, name);
  return v === undefined ? undefined : parseBoolean(v);
};

/** utf8_is_valid && !string_has_cc */
function cleanString(s: string): boolean {
  return !s.includes('\ufffd') && !/[\x00-\x1f\x7f]/.test(s);
}

// ------------------------------------------------------------------ helpers on the device tree

/** Skips intermediate virtio devices (there is only ever one virtio bus per parent device). */
function skipVirtio(dev: Device | undefined): Device | undefined {
  let d = dev;
  while (d && d.subsystem === 'virtio') d = d.parent();
  return d;
}

/** The direct parent (past virtio when asked) when it is in one of the subsystems. */
function matchingParent(dev: Device, subsystems: string[], skipVirt: boolean): Device | undefined {
  let p = dev.parent();
  if (skipVirt) p = skipVirtio(p);
  return p && p.subsystem !== undefined && subsystems.includes(p.subsystem) ? p : undefined;
}

/** The first path component after `prefix` in the device's (logical) syspath, or undefined. */
function firstComponent(dev: Device, prefix: string): string | undefined {
  const p = '/sys' + dev.devpath;
  if (!p.startsWith(prefix)) return undefined;
  const rest = p.slice(prefix.length).replace(/^\/+/, '');
  const c = rest.split('/')[0];
  return c || undefined;
}

/** The device at a resolved path under the sysfs root, or undefined. */
function deviceFromRealPath(roots: Roots, abs: string): Device | undefined {
  const rootReal = realpathSync(roots.sysfs);
  if (!abs.startsWith(rootReal + '/')) return undefined;
  return deviceIfAny(() => Device.fromDevpath(roots, abs.slice(rootReal.length)));
}

/** realpath(3), or undefined when the path (or a link on it) leads nowhere. */
function realpathIfAny(p: string): string | undefined {
  return tryOr(() => realpathSync(p), undefined);
}

/** For an SR-IOV virtual function: its physical function and the "v<N>" suffix. */
function virtfnInfo(pci: Device): { physfn: Device; suffix: string } | undefined {
  const physfnPath = realpathIfAny(join(pci.syspath, 'physfn'));
  if (physfnPath === undefined) return undefined;
  const physfn = deviceFromRealPath(pci.roots, physfnPath);
  if (!physfn) return undefined;
  const self = realpathSync(pci.syspath);
  for (const e of readdirSync(physfnPath)) {
    const m = /^virtfn(\d+)$/.exec(e);
    if (!m) continue;
    // a dangling link is no virtual function
    if (realpathIfAny(join(physfnPath, e)) === self) return { physfn, suffix: `v${m[1]}` };
  }
  return undefined;
}

// ------------------------------------------------------------------ port, onboard, slot (PCI)

/** dev_port, or (IP-over-InfiniBand on old kernels) dev_id when dev_port is 0. */
function devPort(dev: Device, fallbackToDevId: boolean): number | 'error' {
  const v = attrUnsigned(dev, 'dev_port');
  if (v === undefined) return 'error';
  if (v > 0) return v;
  if (fallbackToDevId) {
    const t = attrUnsigned(dev, 'type');
    if (t === undefined) return 'error';
    if (t === ARPHRD_INFINIBAND) return attrUnsigned(dev, 'dev_id') ?? 'error';
  }
  return 0;
}

/** The port specifier: r<VF> (representor), n<phys_port_name>, d<dev_port>, '' or 'error'. */
function portSpecifier(n: Namer, fallbackToDevId: boolean): string | 'error' {
  const dev = n.dev;
  const ppn = attr(dev, 'phys_port_name');
  if (ppn) {
    if (n.has('SR_IOV_R')) {
      const m = /^pf\d+vf([+-]?\d+)/.exec(ppn);
      if (m && Number(m[1]) >= 0) return `r${Number(m[1])}`;
    }
    if (!cleanString(ppn)) return 'error';
    return `n${ppn}`;
  }
  const port = devPort(dev, fallbackToDevId);
  if (port === 'error') return 'error';
  return port > 0 ? `d${port}` : '';
}

function onboardIndex(n: Namer, pci: Device): number | undefined {
  let idx = attrUnsigned(pci, 'acpi_index');
  if (idx === undefined) idx = attrUnsigned(pci, 'index');
  if (idx === undefined) return undefined;
  if (idx === 0 && !n.has('ZERO_ACPI_INDEX')) return undefined;
  // some BIOSes report rubbish indexes (VMware 2^24-1)
  if (idx > (n.has('16BIT_INDEX') ? 0xffff : 0x3fff)) return undefined;
  return idx;
}

function namesPciOnboard(n: Namer, pci: Device, prefix: string, suffix: string): void {
  const idx = onboardIndex(n, pci);
  if (idx === undefined) return;
  const port = portSpecifier(n, false);
  if (port === 'error') return;
  n.put('ID_NET_NAME_ONBOARD', `${prefix}o${idx}${port}${suffix}`);
}

function namesPciOnboardLabel(n: Namer, pci: Device, prefix: string): void {
  const label = attr(pci, 'label');
  if (label === undefined || !cleanString(label)) return;
  n.put('ID_NET_LABEL_ONBOARD', `${n.has('LABEL_NOPREFIX') ? '' : prefix}${label}`);
}

/** Bit 7 of the PCI header type byte (config space offset 0x0e): a multi-function device. */
function isPciMultifunction(pci: Device): boolean {
  const config = tryOr(() => readFileSync(join(pci.syspath, 'config')), undefined);
  return config !== undefined && config.length > 0x0e && (config[0x0e]! & 0x80) !== 0;
}

/** A PCI bridge: modalias "pci:...sc04..." (subclass 04). */
function isPciBridge(pci: Device): boolean {
  const v = attr(pci, 'modalias');
  if (!v?.startsWith('pci:')) return false;
  const p = v.lastIndexOf('s');
  return p >= 0 && v[p + 1] === 'c' && v.slice(p + 2, p + 4) === '04';
}

/** The s390 function_id names the hotplug slot directory directly. */
function slotFromFunctionId(n: Namer, d: Device, slotsDir: string): number | 'error' | undefined {
  if (!n.has('SLOT_FUNCTION_ID')) return undefined;
  const a = attr(d, 'function_id');
  if (a === undefined) return undefined;
  const id = cInt(a, true) ?? (/^\d+$/.test(a) ? Number(a) : undefined);
  if (id === undefined || id <= 0 || id > 0xffffffff) return 'error';
  return existsSync(join(slotsDir, id.toString(16).padStart(8, '0'))) ? id : 'error';
}

/** pci_get_hotplug_slot: the slot whose address the device (or a parent) sits at. */
function hotplugSlot(n: Namer, pci: Device): { slot: number; dropDomain: boolean } | undefined {
  const slotsDir = join(n.roots.sysfs, 'bus', 'pci', 'slots');
  const dirents = tryOr(() => readdirSync(slotsDir, { withFileTypes: true }), undefined);
  if (!dirents) return undefined;
  const entries = dirents.filter((e) => e.isDirectory()).map((e) => e.name);
  for (let d: Device | undefined = pci; d; d = d.parentWithSubsystemDevtype('pci')) {
    const f = slotFromFunctionId(n, d, slotsDir);
    if (f === 'error') return undefined;
    if (f !== undefined) return { slot: f, dropDomain: true };
    for (const e of entries) {
      const i = cInt(e, true);
      if (i === undefined || i <= 0) continue;
      if (!allowed(d, `slots/${e}/address`)) continue;
      const address = tryOr(() => readFileSync(join(slotsDir, e, 'address'), 'utf8').replace(/\n+$/, ''), undefined);
      if (address === undefined) continue;
      // the slot address is the device address without the function
      if (!d.sysname.startsWith(address)) continue;
      if (n.has('BRIDGE_NO_SLOT') && isPciBridge(d)) {
        if (n.has('BRIDGE_MULTIFUNCTION_SLOT') && !isPciMultifunction(pci)) return undefined;
        if (!n.has('BRIDGE_MULTIFUNCTION_SLOT')) return undefined;
      }
      return { slot: i, dropDomain: false };
    }
  }
  return undefined;
}

function firmwareNodeSun(dev: Device): number | undefined {
  const v = cInt(attr(dev, 'firmware_node/sun'), true);
  return v === undefined || v === 0 ? undefined : v;
}

/** pci_get_slot_from_firmware_node_sun (v257): the ACPI _SUN of the device or its parent port. */
function slotFromFirmwareNode(n: Namer, pci: Device): number | undefined {
  if (!n.has('FIRMWARE_NODE_SUN')) return undefined;
  const own = firmwareNodeSun(pci);
  if (own !== undefined) return own;
  const parent = pci.parentWithSubsystemDevtype('pci');
  if (!parent) return undefined;
  if (isPciBridge(parent) && !isPciMultifunction(pci)) return undefined;
  return firmwareNodeSun(parent);
}

/** PCI path (p<bus>s<slot>...) and slot (s<slot>...) names for `dev` on `pci`, with a suffix (v<N>, u..., b...). */
function namesPciSlot(n: Namer, pci: Device, prefix: string, suffix: string): void {
  const m = /^([0-9a-fA-F]+):([0-9a-fA-F]+):([0-9a-fA-F]+)\.(\d+)/.exec(pci.sysname);
  if (!m) return;
  const domain = parseInt(m[1]!, 16);
  const bus = parseInt(m[2]!, 16);
  const slot = parseInt(m[3]!, 16);
  let func = Number(m[4]);
  // ARI: slot and function together are one 8-bit function number
  if (n.has('NPAR_ARI') && attrBool(pci, 'ari_enabled') === true) func += slot * 8;
  let dom = domain > 0 ? `P${domain}` : '';
  const fn = func > 0 || isPciMultifunction(pci) ? `f${func}` : '';
  const port = portSpecifier(n, true);
  if (port === 'error') return;
  n.put('ID_NET_NAME_PATH', `${prefix}${dom}p${bus}s${slot}${fn}${port}${suffix}`);

  let hp = slotFromFirmwareNode(n, pci);
  if (hp === undefined) {
    const h = hotplugSlot(n, pci);
    if (!h) return;
    hp = h.slot;
    if (h.dropDomain) dom = '';
  }
  n.put('ID_NET_NAME_SLOT', `${prefix}${dom}s${hp}${fn}${port}${suffix}`);
}

function namesPci(n: Namer, prefix: string): void {
  let parent = matchingParent(n.dev, ['pci'], true);
  if (!parent) return;
  let suffix = '';
  const vf = n.has('SR_IOV_V') ? virtfnInfo(parent) : undefined;
  if (vf) {
    // an SR-IOV virtual function: the physical function's names plus "v<N>"
    parent = vf.physfn;
    suffix = vf.suffix;
  } else namesPciOnboardLabel(n, parent, prefix);
  namesPciOnboard(n, parent, prefix, suffix);
  namesPciSlot(n, parent, prefix, suffix);
}

// ------------------------------------------------------------------ other buses

/** u<port>[u<port>...][c<config>][i<interface>] from the USB interface's name (1-1.2:1.0). */
function usbSpecifier(usb: Device): string | undefined {
  const m = /^[^-]*-([^:]*):([^.]*)\.(.*)$/.exec(usb.sysname);
  if (!m) return undefined;
  let s = `u${m[1]!.replace(/\./g, 'u')}`;
  if (m[2] !== '1') s += `c${m[2]}`;
  if (m[3] !== '0') s += `i${m[3]}`;
  return s;
}

function namesUsb(n: Namer, prefix: string): void {
  const usb = n.dev.parentWithSubsystemDevtype('usb', 'usb_interface');
  if (!usb) return;
  const suffix = usbSpecifier(usb);
  if (suffix === undefined) return;
  const pci = usb.parentWithSubsystemDevtype('pci');
  if (pci) return namesPciSlot(n, pci, prefix, suffix);
  if (!n.has('USB_HOST')) return;
  n.put('ID_NET_NAME_PATH', prefix + suffix);
}

function namesBcma(n: Namer, prefix: string): void {
  const b = n.dev.parentWithSubsystemDevtype('bcma');
  if (!b) return;
  const pci = b.parentWithSubsystemDevtype('pci');
  if (!pci) return;
  const core = scanNumbers(b.sysname, 'bcma%*u:%u');
  if (core.length !== 1) return;
  namesPciSlot(n, pci, prefix, core[0]! > 0 ? `b${core[0]}` : '');
}

/** c<bus-id without leading zeros> for CCW / CCW group devices (s390). */
function namesCcw(n: Namer, prefix: string): void {
  const c = matchingParent(n.dev, ['ccwgroup', 'ccw'], true);
  if (!c) return;
  const id = c.sysname;
  if (id.length !== 8 && id.length !== 9) return;
  let start = 0;
  while (start < id.length && (id[start] === '.' || id[start] === '0')) start++;
  n.put('ID_NET_NAME_PATH', `${prefix}c${id.slice(start < id.length ? start : id.length - 1)}`);
}

/** v<slot> for IBM POWER virtual I/O devices (/devices/vio/BBBBSSSS/net/ethN). */
function namesVio(n: Namer, prefix: string): void {
  if (!matchingParent(n.dev, ['vio'], false)) return;
  const s = firstComponent(n.dev, '/sys/devices/vio/');
  if (!s || s.length !== 8 || !/^[0-9a-fA-F]+$/.test(s)) return;
  n.put('ID_NET_NAME_SLOT', `${prefix}v${parseInt(s.slice(4), 16)}`);
}

/** a<vendor><model>i<instance> for ACPI platform devices (/devices/platform/HISI00C2:00/net/ethN). */
function namesPlatform(n: Namer, prefix: string): void {
  if (!matchingParent(n.dev, ['platform'], false)) return;
  const p = firstComponent(n.dev, '/sys/devices/platform/');
  if (!p) return;
  let vendor: string;
  let model: string;
  let instance: string;
  let valid: RegExp;
  if (p.length === 10 && p[7] === ':') {
    [vendor, model, instance, valid] = [p.slice(0, 3), p.slice(3, 7), p.slice(8, 10), /^[A-Z]*$/];
  } else if (p.length === 11 && p[8] === ':') {
    [vendor, model, instance, valid] = [p.slice(0, 4), p.slice(4, 8), p.slice(9, 11), /^[A-Z0-9]*$/];
  } else return;
  if (!valid.test(vendor)) return;
  const hex = (s: string) => (/^\s*[0-9a-fA-F]+$/.test(s) ? parseInt(s, 16) : undefined);
  const mo = hex(model);
  const ins = hex(instance);
  if (mo === undefined || ins === undefined) return;
  n.put('ID_NET_NAME_PATH', `${prefix}a${vendor.toLowerCase()}${mo.toString(16)}i${ins}`);
}

/** i<addr>n<port> for netdevsim devices. */
function namesNetdevsim(n: Namer, prefix: string): void {
  if (!n.has('NETDEVSIM')) return;
  const nd = n.dev.parentWithSubsystemDevtype('netdevsim');
  if (!nd) return;
  const addr = cInt(nd.sysnum, true);
  if (addr === undefined) return;
  const ppn = attr(n.dev, 'phys_port_name');
  if (!ppn || !cleanString(ppn)) return;
  n.put('ID_NET_NAME_PATH', `${prefix}i${addr}n${ppn}`);
}

/** X<n> for Xen VIFs (/devices/vif-N/...). */
function namesXen(n: Namer, prefix: string): void {
  if (!n.has('XEN_VIF')) return;
  if (!matchingParent(n.dev, ['xen'], false)) return;
  const vif = firstComponent(n.dev, '/sys/devices/');
  const m = vif && /^vif-(0|[1-9]\d*)$/.exec(vif);
  if (!m || Number(m[1]) > 0xffffffff) return;
  n.put('ID_NET_NAME_SLOT', `${prefix}X${m[1]}`);
}

/** d<N> when a devicetree alias "ethernet<N>" points at the OF node of the interface (v257) or its parent. */
function namesDevicetree(n: Namer, prefix: string): void {
  if (!n.has('DEVICETREE_ALIASES') || prefix !== 'en') return;
  let ofnode = n.has('DEVICETREE_PORT_ALIASES') ? realpathIfAny(join(n.dev.syspath, 'of_node')) : undefined;
  if (!ofnode) {
    const parent = n.dev.parent();
    ofnode = parent && realpathIfAny(join(parent.syspath, 'of_node'));
  }
  const base = realpathIfAny(join(n.roots.sysfs, 'firmware', 'devicetree', 'base'));
  if (!ofnode || !base || !ofnode.startsWith(base + '/')) return;
  const nodePath = ofnode.slice(base.length);
  const aliases = join(base, 'aliases');
  const names = tryOr(() => readdirSync(aliases), undefined);
  if (!names) return;
  const value = (name: string) => {
    const b = tryOr(() => readFileSync(join(aliases, name)), undefined);
    if (b === undefined) return undefined;
    const z = b.indexOf(0);
    return (z < 0 ? b : b.subarray(0, z)).toString('utf8').replace(/\n+$/, '');
  };
  const norm = (p: string) => p.replace(/\/+/g, '/').replace(/(.)\/$/, '$1');
  for (const a of names.sort()) {
    if (!a.startsWith('ethernet')) continue;
    const v = value(a);
    if (v === undefined || norm(v) !== norm(nodePath)) continue;
    const idxText = a.slice('ethernet'.length);
    const i = idxText === '' ? 0 : cInt(idxText, true);
    if (i === undefined) return;
    // ethernet and ethernet0 both present: a conflict
    if (i === 0 && value(idxText === '' ? 'ethernet0' : 'ethernet') !== undefined) return;
    n.put('ID_NET_NAME_ONBOARD', `${prefix}d${i}`);
    return;
  }
}

// ------------------------------------------------------------------ MAC and vendor

/** ID_NET_NAME_MAC for a permanent (not random or stolen) 6-byte address, then the vendor from the hwdb. */
async function namesMac(n: Namer, prefix: string, oui: (mac: number[]) => Promise<void>): Promise<void> {
  const t = attrUnsigned(n.dev, 'type');
  if (t === undefined || t === ARPHRD_INFINIBAND) return;
  if (attrUnsigned(n.dev, 'addr_assign_type') !== NET_ADDR_PERM) return;
  const a = attr(n.dev, 'address');
  const mac = a === undefined ? undefined : parseHwAddr(a);
  if (!mac || mac.length !== 6) return;
  n.add('ID_NET_NAME_MAC', `${prefix}x${mac.map((b) => b.toString(16).padStart(2, '0')).join('')}`);
  await oui(mac);
}

function ifnamePrefix(n: Namer): string | undefined {
  const t = attrUnsigned(n.dev, 'type');
  if (t === ARPHRD_ETHER) {
    const dt = n.dev.devtype;
    return dt === 'wlan' ? 'wl' : dt === 'wwan' ? 'ww' : 'en';
  }
  if (t === ARPHRD_INFINIBAND) return n.has('INFINIBAND') ? 'ib' : undefined;
  if (t === ARPHRD_SLIP) return 'sl';
  return undefined;
}

// ------------------------------------------------------------------ the builtin

let configured: NamingScheme | undefined;

/** The scheme for this process: NET_NAMING_SCHEME, net.naming_scheme= on the kernel command line, the config, v257. */
export function namingScheme(config: Pick<BuiltinConfig, 'namingScheme' | 'cmdlinePath'> = {}, warn?: (msg: string) => void): NamingScheme {
  const r = resolveNamingScheme({ cmdline: readCmdline(config.cmdlinePath), env: process.env.NET_NAMING_SCHEME, configured: config.namingScheme });
  if (r.unknown !== undefined) warn?.(`unknown interface naming scheme '${r.unknown}' requested, ignoring`);
  return r.scheme;
}

/** The scheme net_id uses: the one set by init(), else resolved now from the defaults. */
export function currentNamingScheme(): NamingScheme {
  return (configured ??= namingScheme());
}

/**
 * Computes the properties in udev's order, or an Error when the device's link information is unreadable.
 * `hwdb` looks up the vendor of a MAC address (the caller's initialized hwdb builtin), when there is one.
 */
export async function netProperties(
  ctx: Pick<BuiltinContext, 'roots' | 'device'> & Partial<BuiltinContext>,
  scheme: NamingScheme = currentNamingScheme(),
): Promise<Array<[string, string]> | Error> {
  const dev = ctx.device;
  const out: Array<[string, string]> = [];
  const add: Add = (k, v) => out.push([k, v]);
  const ifindex = dev.ifindex;
  if (ifindex === undefined) return new Error('no ifindex');
  const iflink = attrInt(dev, 'iflink');
  if (iflink === undefined) return new Error('no iflink attribute');
  // stacked devices (VLANs, ...) are named by their own tools
  if (ifindex !== iflink) return out;
  const n = new Namer(dev, ctx.roots, scheme, add);
  const prefix = ifnamePrefix(n);
  if (prefix === undefined) return out;

  add('ID_NET_NAMING_SCHEME', scheme.name);
  await namesMac(n, prefix, (mac) => ouiLookup(ctx, mac, add));
  namesDevicetree(n, prefix);
  namesCcw(n, prefix);
  namesVio(n, prefix);
  namesPlatform(n, prefix);
  namesNetdevsim(n, prefix);
  namesXen(n, prefix);
  namesPci(n, prefix);
  namesUsb(n, prefix);
  namesBcma(n, prefix);
  return out;
}

/** ID_OUI_FROM_DATABASE through the caller's hwdb builtin ("OUI:XXXXXXXXXXXX"), skipping the misused 00:00:00 prefix. */
async function ouiLookup(ctx: Partial<BuiltinContext>, mac: number[], add: Add): Promise<void> {
  if (mac[0] === 0 && mac[1] === 0 && mac[2] === 0) return;
  const hwdb = ctx.builtins?.get('hwdb');
  if (!hwdb || !ctx.device || !ctx.roots || !ctx.log) return;
  const key = `OUI:${mac.map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join('')}`;
  try {
    await hwdb.run({ ...(ctx as BuiltinContext), test: ctx.test ?? true, action: ctx.action ?? 'add', setProperty: add }, ['hwdb', key]);
  } catch (e) {
    if (!(e instanceof HwdbFormatError)) throw e;
    ctx.log.debug(`net_id: ${ctx.device.devpath}: hwdb look-up of ${key} failed: ${e.message}`);
  }
}

const netId: Builtin = {
  name: 'net_id',
  help: 'Network device properties',
  init(_roots: Roots, config: BuiltinConfig = {}) {
    configured = namingScheme(config, config.warn);
  },
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
