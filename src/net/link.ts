// One interface under its .link configuration (udev 257's link-config.c): pick the first matching file, work out
// the new name, alternative names and MAC address, apply ethtool and rtnetlink settings, and set the udev
// properties (ID_NET_LINK_FILE, ID_NET_NAME, ...). The rename itself is the event's last step (src/event).
import { createRequire } from 'node:module';
import type { Device } from '../device/device.js';
import { POLICY_PROPERTY, schemeHas, type NamingScheme } from './naming-scheme.js';
import { cmdlineValue } from '../util/cmdline.js';
import { testConditions, type SystemInfo } from './condition.js';
import { netMatch } from './match.js';
import { ifnameValid } from './ifname.js';
import { formatHwAddr, isBroadcastAddr, isNullAddr, sameHwAddr } from './hw-addr.js';
import { featureKey } from './ethtool-features.js';
import type { Ethtool } from '../sys/ethtool.js';
import { getLinkInfo, IFF_LOOPBACK, setLinkProperties, type RtLinkInfo } from './rtnl.js';
import { numberOrUndefined, parseBoolean, safeAtou } from '../util/cnum.js';
import type { LinkConfig } from './link-config.js';
import { isSystemError } from '../util/fs.js';

// A lazy require (bundled by scripts/bundle.mjs, loaded when first called): siphash only for a predictable MAC,
// node:crypto only for a random one.
const require = createRequire(import.meta.url);

const ARPHRD_ETHER = 1;
const ARPHRD_INFINIBAND = 32;
const NET_NAME_ENUM = 1;
const NET_NAME_PREDICTABLE = 2;
const NET_NAME_USER = 3;
const NET_NAME_RENAMED = 4;
const NET_ADDR_PERM = 0;
const NET_ADDR_RANDOM = 1;
const NET_ADDR_STOLEN = 2;
const NET_ADDR_SET = 3;
const INFINIBAND_ALEN = 20;

/** systemd's fixed key for hashing persistent MAC addresses (netif-util.c HASH_KEY). */
const HASH_KEY = Buffer.from('d31e48fa90fe4b4c9dafd5d7a1b12e8a', 'hex');

export interface LinkLog {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
}

/** What the whole configuration context holds (loaded once, reloaded when the files change). */
export interface LinkContext {
  configs: readonly LinkConfig[];
  system: SystemInfo;
  scheme: NamingScheme;
  /** /etc/machine-id as 16 bytes (persistent MAC addresses), undefined when unreadable. */
  machineId: Buffer | undefined;
  ethtool: Ethtool;
}

export interface Link {
  device: Device;
  ifindex: number;
  ifname: string;
  action: string;
  nameAssignType: number | undefined;
  addrAssignType: number | undefined;
  rtnl: RtLinkInfo;
  permanentHwAddr: number[];
  driver: string | undefined;
  config?: LinkConfig;
  newName?: string;
  altnames?: string[];
}

/** sysattr parsed as safe_atou, or undefined. */
function unsignedAttr(dev: Device, name: string, log: LinkLog): number | undefined {
  const v = dev.sysattr(name);
  if (v === undefined) return undefined;
  const n = numberOrUndefined(safeAtou(v));
  if (n === undefined) log.warn(`${dev.sysname}: failed to parse ${name} "${v}"`);
  return n;
}

/** link_new: what the kernel says about the interface. Throws RtnlError (ENODEV when it vanished). */
export async function linkNew(ctx: LinkContext, dev: Device, log: LinkLog): Promise<Link> {
  const ifindex = dev.ifindex;
  if (ifindex === undefined) throw Object.assign(new Error(`${dev.devpath} has no ifindex`), { code: 'ENODEV' });
  const rtnl = await getLinkInfo(ifindex);
  let permanentHwAddr = rtnl.permAddress;
  if (rtnl.address.length > 0 && permanentHwAddr.length === 0) {
    try {
      permanentHwAddr = ctx.ethtool.permanentAddress(dev.sysname);
    } catch (e) {
      if (!isSystemError(e)) throw e;
      log.debug(`${dev.sysname}: failed to get permanent hardware address, ignoring: ${e.message}`);
    }
  }
  return {
    device: dev,
    ifindex,
    ifname: dev.sysname,
    action: dev.action ?? 'add',
    nameAssignType: unsignedAttr(dev, 'name_assign_type', log),
    addrAssignType: unsignedAttr(dev, 'addr_assign_type', log),
    rtnl,
    permanentHwAddr,
    driver: dev.property('ID_NET_DRIVER'),
  };
}

/** link_get_config: the first configuration whose [Match] fits (loopback never gets one). */
export function linkGetConfig(ctx: LinkContext, link: Link, log: LinkLog): LinkConfig | undefined {
  if (link.rtnl.flags & IFF_LOOPBACK) return undefined;
  for (const c of ctx.configs) {
    if (!testConditions(c.conditions, ctx.system)) continue;
    const hit = netMatch(c.match, {
      device: link.device,
      hwAddr: link.rtnl.address,
      permanentHwAddr: link.permanentHwAddr,
      driver: link.driver,
      iftype: link.rtnl.iftype,
      kind: link.rtnl.kind,
      ifname: link.ifname,
    });
    if (!hit) continue;
    if (c.match.originalName && !c.match.originalName.includes('*') && link.nameAssignType === NET_NAME_ENUM)
      log.warn(`${link.ifname}: config file ${c.filename} is applied to device based on potentially unpredictable interface name`);
    else log.debug(`${link.ifname}: config file ${c.filename} is applied`);
    return c;
  }
  return undefined;
}

/** net.ifnames=0 on the kernel command line turns NamePolicy= off. */
function namePolicyEnabled(system: SystemInfo): boolean {
  const v = cmdlineValue(system.cmdline, 'net.ifnames');
  if (v === undefined) return true;
  return parseBoolean(v) ?? true;
}

/** link_generate_new_name: the first policy that yields a valid name, else Name=, else the current name. */
export function generateNewName(ctx: LinkContext, link: Link, log: LinkLog): string {
  const c = link.config!;
  const keep = (why: string) => {
    log.debug(`${link.ifname}: ${why}`);
    return link.ifname;
  };
  if (link.action !== 'add') return keep(`not applying Name= and NamePolicy= on '${link.action}' uevent`);
  const userNamed = link.nameAssignType === NET_NAME_USER || link.nameAssignType === NET_NAME_RENAMED;
  if (userNamed && !schemeHas(ctx.scheme, 'ALLOW_RERENAMES')) return keep('device already has a name given by userspace, not renaming');
  if (namePolicyEnabled(ctx.system) && c.namePolicy) {
    for (const p of c.namePolicy) {
      if (p === 'kernel') {
        if (link.nameAssignType !== NET_NAME_PREDICTABLE) continue;
        return keep('policy *kernel*: keeping predictable kernel name');
      }
      if (p === 'keep') {
        if (!userNamed) continue;
        return keep('policy *keep*: keeping existing userspace name');
      }
      const n = link.device.property(POLICY_PROPERTY[p]!);
      if (ifnameValid(n)) {
        log.debug(`${link.ifname}: policy *${p}* yields "${n}"`);
        return n!;
      }
    }
  }
  if (c.name) {
    log.debug(`${link.ifname}: policies didn't yield a name, using specified Name=${c.name}`);
    return c.name;
  }
  return keep("policies didn't yield a name and Name= is not given, not renaming");
}

/** link_generate_alternative_names: AlternativeName= then the AlternativeNamesPolicy= names (add only). */
export function generateAltnames(link: Link): string[] | undefined {
  const c = link.config!;
  if (link.action !== 'add') return undefined;
  const out = [...c.alternativeNames];
  for (const p of c.alternativeNamesPolicy ?? []) {
    const n = link.device.property(POLICY_PROPERTY[p]!);
    if (ifnameValid(n, { alternative: true })) out.push(n!);
  }
  return out.length ? out : undefined;
}

let siphashModule: { hash(key: number[], m: Uint8Array): { h: number; l: number } } | undefined;

/** siphash24 of the machine id followed by `name`, with systemd's key, as the 8 little-endian bytes of the result. */
export function predictableBytes(machineId: Buffer, name: string): Buffer {
  siphashModule ??= require('siphash') as typeof siphashModule;
  const key = [0, 4, 8, 12].map((o) => HASH_KEY.readUInt32LE(o));
  const { h, l } = siphashModule!.hash(key, Buffer.concat([machineId, Buffer.from(name)]));
  const out = Buffer.alloc(8);
  out.writeUInt32LE(l >>> 0, 0);
  out.writeUInt32LE(h >>> 0, 4);
  return out;
}

/** net_get_persistent_name: the first stable name net_id gave the device. */
function persistentName(dev: Device): string | undefined {
  for (const p of ['ID_NET_NAME_ONBOARD', 'ID_NET_NAME_SLOT', 'ID_NET_NAME_PATH', 'ID_NET_NAME_MAC']) {
    const v = dev.property(p);
    if (v !== undefined) return v;
  }
  return undefined;
}

const validFor = (iftype: number, a: number[]) =>
  iftype === ARPHRD_ETHER ? !isNullAddr(a) && !isBroadcastAddr(a) : !isNullAddr(a.slice(INFINIBAND_ALEN - 8));

/** link_generate_new_hw_addr: the MAC to set (MACAddressPolicy=, MACAddress=), or undefined for none. */
export function generateNewHwAddr(ctx: LinkContext, link: Link, log: LinkLog): number[] | undefined {
  const c = link.config!;
  const cur = link.rtnl.address;
  if (cur.length === 0) return undefined;
  let addr: number[] | undefined;
  const isStatic = c.macAddressPolicy === 'none';
  if (isStatic) addr = c.macAddress;
  else if (link.rtnl.iftype === ARPHRD_ETHER || link.rtnl.iftype === ARPHRD_INFINIBAND) {
    const t = link.addrAssignType;
    if (t === NET_ADDR_SET || t === NET_ADDR_STOLEN) {
      log.debug(`${link.ifname}: MAC address on the device already set ${t === NET_ADDR_SET ? 'by userspace' : 'based on another device'}`);
      return undefined;
    }
    if (t !== NET_ADDR_RANDOM && t !== NET_ADDR_PERM) {
      log.warn(`${link.ifname}: unknown addr_assign_type ${t}, ignoring`);
      return undefined;
    }
    if ((c.macAddressPolicy === 'random') === (t === NET_ADDR_RANDOM)) {
      log.debug(`${link.ifname}: MAC address on the device already matches policy "${c.macAddressPolicy}"`);
      return undefined;
    }
    const len = link.rtnl.iftype === ARPHRD_ETHER ? 6 : INFINIBAND_ALEN;
    const tail = link.rtnl.iftype === ARPHRD_ETHER ? 6 : 8;
    addr = new Array<number>(len).fill(0);
    if (c.macAddressPolicy === 'random') {
      do addr.splice(len - tail, tail, ...(require('node:crypto') as typeof import('node:crypto')).randomBytes(tail));
      while (!validFor(link.rtnl.iftype, addr));
    } else {
      let name = persistentName(link.device);
      if (name === undefined && schemeHas(ctx.scheme, 'STABLE_VIRTUAL_MACS')) name = link.ifname;
      if (name === undefined || !ctx.machineId) {
        log.warn(`${link.ifname}: could not generate persistent MAC address: ${ctx.machineId ? 'no stable identifying information found' : 'no machine id'}`);
        return undefined;
      }
      addr.splice(len - tail, tail, ...predictableBytes(ctx.machineId, name).subarray(0, tail));
      if (!validFor(link.rtnl.iftype, addr)) {
        log.warn(`${link.ifname}: could not generate valid persistent MAC address`);
        return undefined;
      }
    }
  }
  if (!addr) return undefined;
  addr = verifyHwAddr(link, addr, isStatic, log);
  if (!addr || sameHwAddr(addr, cur)) return undefined;
  log.debug(`${link.ifname}: applying ${isStatic ? 'static' : c.macAddressPolicy} MAC address: ${formatHwAddr(addr)}`);
  return addr;
}

/** net_verify_hardware_address: refuse null/broadcast, clear the multicast bit, mark generated ones local. */
function verifyHwAddr(link: Link, a: number[], isStatic: boolean, log: LinkLog): number[] | undefined {
  const where = link.config?.where.get('MACAddress');
  const warn = (m: string) => {
    if (isStatic) log.warn(`${where ? `${where}: ` : ''}${link.ifname}: ${m}`);
  };
  const refuse = (m: string) => {
    warn(m);
    return undefined;
  };
  const t = link.rtnl.iftype;
  const want = t === ARPHRD_ETHER ? 6 : t === ARPHRD_INFINIBAND ? INFINIBAND_ALEN : undefined;
  if (want === undefined) return refuse(`unsupported interface type ${t} to set MAC address, refusing`);
  if (a.length !== want) return refuse(`specified MAC address with invalid length (${a.length}, expected ${want}), refusing`);
  const out = [...a];
  if (t === ARPHRD_ETHER) {
    if (isNullAddr(out)) return refuse('specified MAC address is null, refusing');
    if (isBroadcastAddr(out)) return refuse('specified MAC address is broadcast, refusing');
    if (out[0]! & 1) {
      warn('specified MAC address has the multicast bit set, clearing the bit');
      out[0]! &= 0xfe;
    }
    if (!isStatic) out[0]! |= 0x02;
    return out;
  }
  if (isNullAddr(out.slice(INFINIBAND_ALEN - 8))) return refuse('the last 8 bytes of the InfiniBand MAC address cannot be null, refusing');
  out.splice(0, INFINIBAND_ALEN - 8, ...link.rtnl.address.slice(0, INFINIBAND_ALEN - 8));
  return out;
}

/** link_apply_ethtool_settings: each setting that fails is a warning naming where it was configured. */
export function applyEthtool(ctx: LinkContext, link: Link, log: LinkLog): void {
  const c = link.config!;
  const name = link.ifname;
  const at = (key: string) => (c.where.get(key) ? `${c.where.get(key)}: ` : `${c.filename}: `);
  const attempt = (key: string, what: string, fn: () => void) => {
    try {
      fn();
    } catch (e) {
      if (!isSystemError(e)) throw e;
      log.warn(`${at(key)}${name}: could not set ${what}, ignoring: ${e.code}`);
    }
  };
  const ports = { tp: 0, aui: 1, mii: 2, fibre: 3, bnc: 4 } as const;
  if (c.autoNegotiation !== undefined || c.speed !== undefined || c.duplex !== undefined || c.port !== undefined) {
    const key = c.speed !== undefined ? 'BitsPerSecond' : c.duplex !== undefined ? 'Duplex' : c.port !== undefined ? 'Port' : 'AutoNegotiation';
    attempt(key, 'link settings (BitsPerSecond=, Duplex=, Port=, AutoNegotiation=)', () =>
      ctx.ethtool.setLinkSettings(name, { autoneg: c.autoNegotiation, speedMbps: c.speed === undefined ? undefined : Math.ceil(c.speed / 1_000_000), duplex: c.duplex, port: c.port === undefined ? undefined : ports[c.port] }),
    );
  }
  if (c.wol !== undefined)
    attempt('WakeOnLan', 'WakeOnLan=', () => {
      const missing = ctx.ethtool.setWol(name, c.wol!);
      if (missing) log.warn(`${at('WakeOnLan')}${name}: the interface does not support some requested Wake-on-LAN options (0x${missing.toString(16)}), ignoring them`);
    });
  if (c.features.size)
    attempt(`feature:${[...c.features.keys()][0]}`, 'offload features', () => {
      for (const [f, why] of ctx.ethtool.setFeatures(name, c.features))
        log.warn(`${at(`feature:${f}`)}${name}: could not set ${featureKey(f)}=, ignoring: ${why === 'fixed' ? 'the driver does not allow changing it' : 'the interface has no such feature'}`);
    });
  if (Object.values(c.channels).some((v) => v !== undefined)) attempt('Channels', 'channels', () => ctx.ethtool.setChannels(name, c.channels));
  if (Object.values(c.rings).some((v) => v !== undefined)) attempt('BufferSize', 'ring buffer sizes', () => ctx.ethtool.setRings(name, c.rings));
  if (c.rxFlowControl !== undefined || c.txFlowControl !== undefined || c.autoNegotiationFlowControl !== undefined)
    attempt('FlowControl', 'flow control', () => ctx.ethtool.setFlowControl(name, c.rxFlowControl, c.txFlowControl, c.autoNegotiationFlowControl));
}

/** link_apply_rtnl_settings: alias, MAC, queues, MTU, GSO limits in one RTM_SETLINK. */
export async function applyRtnl(ctx: LinkContext, link: Link, log: LinkLog): Promise<void> {
  const c = link.config!;
  const address = generateNewHwAddr(ctx, link, log);
  try {
    await setLinkProperties(link.ifindex, {
      alias: c.alias,
      address,
      txQueues: c.txQueues,
      rxQueues: c.rxQueues,
      txqlen: c.txQueueLength,
      mtu: c.mtu,
      gsoMaxSize: c.gsoMaxBytes,
      gsoMaxSegs: c.gsoMaxSegments,
    });
  } catch (e) {
    if (!isSystemError(e)) throw e;
    const keys = ['Alias', 'MACAddress', 'MACAddressPolicy', 'TransmitQueues', 'ReceiveQueues', 'TransmitQueueLength', 'MTUBytes', 'GenericSegmentOffloadMaxBytes', 'GenericSegmentOffloadMaxSegments'];
    const where = keys.map((k) => c.where.get(k) && `${k}= at ${c.where.get(k)}`).filter(Boolean);
    log.warn(`${c.filename}: ${link.ifname}: could not set ${where.join(', ') || 'link properties'}, ignoring: ${e.code}`);
  }
}

/** xescape(s, ":"): control characters, bytes >= 127, '\' and ':' as \xNN. */
function xescapeColon(s: string): string {
  let out = '';
  for (const b of Buffer.from(s)) out += b < 0x20 || b >= 0x7f || b === 0x5c || b === 0x3a ? `\\x${b.toString(16).padStart(2, '0')}` : String.fromCharCode(b);
  return out;
}

/** link_apply_udev_properties: ImportProperty=, Property=, UnsetProperty=, then ID_NET_LINK_FILE and friends. */
export function udevProperties(link: Link, dbProperties: ReadonlyMap<string, string> | undefined, set: (k: string, v: string) => void): void {
  const c = link.config!;
  for (const k of c.importProperties) {
    const v = dbProperties?.get(k);
    if (v !== undefined) set(k, v);
  }
  for (const [k, v] of c.properties) set(k, v);
  for (const k of c.unsetProperties) set(k, '');
  set('ID_NET_LINK_FILE', c.filename);
  set('ID_NET_LINK_FILE_DROPINS', c.dropins.map(xescapeColon).join(':'));
  if (link.newName) set('ID_NET_NAME', link.newName);
}
