// rtnetlink operations on one interface through the netlink package: read its link information, rename it,
// add alternative names (RTM_NEWLINKPROP), set MAC, MTU, alias, queue lengths. Errors carry the kernel's errno
// name (EEXIST, EBUSY, ...). The netlink package's rt module is large (~9 MB once loaded): it is imported on
// first use only, so a daemon that never touches an interface never pays for it.
import type { RtNetlinkSocket } from 'netlink';

const IFLA_ALT_IFNAME = 53;
const IFLA_PROP_LIST = 52;
const NLA_F_NESTED = 0x8000;
const IFLA_INFO_KIND = 1;
const RTM_NEWLINKPROP = 108;
const RTM_DELLINKPROP = 109;

export const IFF_LOOPBACK = 0x8;

export interface RtLinkInfo {
  ifindex: number;
  ifname: string | undefined;
  /** ARPHRD_* */
  iftype: number;
  /** IFF_* bits */
  flags: number;
  kind: string | undefined;
  address: number[];
  permAddress: number[];
  altnames: string[];
  mtu: number | undefined;
  txqlen: number | undefined;
  alias: string | undefined;
}

/** A failed rtnetlink request, with the kernel's errno name in `code`. */
export class RtnlError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'RtnlError';
  }
}

let shared: RtNetlinkSocket | undefined;
let rtModule: typeof import('netlink/dist/rt/rt.js') | undefined;
let structs: typeof import('netlink/dist/rt/gen_structs.js') | undefined;

async function socket(): Promise<RtNetlinkSocket> {
  if (!shared) {
    rtModule ??= await import('netlink/dist/rt/rt.js');
    structs ??= await import('netlink/dist/rt/gen_structs.js');
    shared = rtModule.createRtNetlink();
  }
  return shared;
}

/** Closes the shared rtnetlink socket (at daemon exit). */
export function closeRtnl(): void {
  shared?.socket.close();
  shared = undefined;
}

/** The errno name of a netlink package error ("Request rejected: EEXIST"). */
function errCode(e: unknown): string {
  const err = e as { code?: string; errno?: number; message?: string };
  return err.code ?? /\b(E[A-Z]+)\b/.exec(err.message ?? '')?.[1] ?? 'EIO';
}

async function request<T>(what: string, fn: (rt: RtNetlinkSocket) => Promise<T>): Promise<T> {
  const rt = await socket();
  try {
    return await fn(rt);
  } catch (e) {
    throw new RtnlError(`${what}: ${errCode(e)}`, errCode(e));
  }
}

/** Nested attributes of a buffer: [type, payload]. */
function nested(buf: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = [];
  for (let o = 0; o + 4 <= buf.length; ) {
    const len = buf.readUInt16LE(o);
    if (len < 4) break;
    out.push([buf.readUInt16LE(o + 2) & 0x3fff, buf.subarray(o + 4, o + len)]);
    o += (len + 3) & ~3;
  }
  return out;
}

const cstr = (b: Buffer) => {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
};

function flagBits(flags: Record<string, boolean | undefined> | number | undefined): number {
  if (typeof flags === 'number') return flags;
  if (!flags) return 0;
  let v = 0;
  // the netlink package gives DeviceFlags is an object of booleans named after IFF_* in camelCase
  const names: Record<string, number> = { up: 0x1, broadcast: 0x2, debug: 0x4, loopback: 0x8, pointopoint: 0x10, notrailers: 0x20, running: 0x40, noarp: 0x80, promisc: 0x100, allmulti: 0x200, master: 0x400, slave: 0x800, multicast: 0x1000, portsel: 0x2000, automedia: 0x4000, dynamic: 0x8000, lowerUp: 0x10000, dormant: 0x20000, echo: 0x40000 };
  for (const [k, on] of Object.entries(flags)) if (on && names[k]) v |= names[k]!;
  return v;
}

/** RTM_GETLINK of one interface: what net_setup_link needs (type, flags, kind, addresses, alternative names). */
export async function getLinkInfo(ifindex: number): Promise<RtLinkInfo> {
  const [m] = await request(`get link ${ifindex}`, (rt) => rt.getLink({ index: ifindex }));
  if (!m) throw new RtnlError(`get link ${ifindex}: no answer`, 'ENODEV');
  const t = m.data.type;
  const types = structs!.LinkType as unknown as Record<string, number>;
  const iftype = typeof t === 'number' ? t : (types[t as string] ?? 0);
  const a = m.attrs;
  let kind: string | undefined;
  if (a.linkinfo) for (const [ty, p] of nested(a.linkinfo)) if (ty === IFLA_INFO_KIND) kind = cstr(p);
  const altnames = a.propList ? nested(a.propList).filter(([ty]) => ty === IFLA_ALT_IFNAME).map(([, p]) => cstr(p)) : [];
  return {
    ifindex,
    ifname: a.ifname,
    iftype,
    flags: flagBits(m.data.flags as Record<string, boolean>),
    kind,
    address: a.address ? [...a.address] : [],
    permAddress: a.permAddress ? [...a.permAddress] : [],
    altnames,
    mtu: a.mtu,
    txqlen: a.txqlen,
    alias: a.ifalias,
  };
}

/** ifinfomsg for `ifindex` followed by IFLA_PROP_LIST { IFLA_ALT_IFNAME... }. */
function propListMessage(ifindex: number, names: readonly string[]): Buffer {
  const attrs = names.map((n) => {
    const s = Buffer.from(n + '\0');
    const len = 4 + s.length;
    const b = Buffer.alloc((len + 3) & ~3);
    b.writeUInt16LE(len, 0);
    b.writeUInt16LE(IFLA_ALT_IFNAME, 2);
    s.copy(b, 4);
    return b;
  });
  const body = Buffer.concat(attrs);
  const head = Buffer.alloc(4);
  head.writeUInt16LE(4 + body.length, 0);
  head.writeUInt16LE(IFLA_PROP_LIST | NLA_F_NESTED, 2);
  const ifi = Buffer.alloc(16);
  ifi.writeInt32LE(ifindex, 4);
  return Buffer.concat([ifi, head, body]);
}

async function linkProp(type: number, ifindex: number, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  await request(`${type === RTM_NEWLINKPROP ? 'add' : 'delete'} alternative names ${names.join(' ')} of interface ${ifindex}`, (rt) =>
    rt.request(type, [propListMessage(ifindex, names)], { flags: type === RTM_NEWLINKPROP ? 0x400 | 0x200 : 0 }),
  );
}

export const addAltnames = (ifindex: number, names: readonly string[]) => linkProp(RTM_NEWLINKPROP, ifindex, names);
export const deleteAltnames = (ifindex: number, names: readonly string[]) => linkProp(RTM_DELLINKPROP, ifindex, names);

/** RTM_SETLINK with IFLA_IFNAME. */
export async function setLinkName(ifindex: number, name: string): Promise<void> {
  await request(`rename interface ${ifindex} to ${name}`, (rt) => rt.setLink({ index: ifindex }, { ifname: name }));
}

export interface LinkProperties {
  alias?: string;
  address?: number[];
  txQueues?: number;
  rxQueues?: number;
  txqlen?: number;
  mtu?: number;
  gsoMaxSize?: number;
  gsoMaxSegs?: number;
}

/** rtnl_set_link_properties: one RTM_SETLINK with whatever is given (nothing given: no request). */
export async function setLinkProperties(ifindex: number, p: LinkProperties): Promise<boolean> {
  const attrs: Record<string, unknown> = {};
  if (p.alias !== undefined) attrs.ifalias = p.alias;
  if (p.address?.length) attrs.address = Buffer.from(p.address);
  if (p.txQueues) attrs.numTxQueues = p.txQueues;
  if (p.rxQueues) attrs.numRxQueues = p.rxQueues;
  if (p.txqlen !== undefined) attrs.txqlen = p.txqlen;
  if (p.mtu) attrs.mtu = p.mtu;
  if (p.gsoMaxSize) attrs.gsoMaxSize = p.gsoMaxSize;
  if (p.gsoMaxSegs) attrs.gsoMaxSegs = p.gsoMaxSegs;
  if (Object.keys(attrs).length === 0) return false;
  await request(`set ${Object.keys(attrs).join(', ')} of interface ${ifindex}`, (rt) => rt.setLink({ index: ifindex }, attrs));
  return true;
}
