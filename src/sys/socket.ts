// Sockets through libc, for what Node's net and dgram modules cannot do: AF_UNIX SOCK_SEQPACKET (udev's control
// socket), AF_UNIX datagrams with descriptors attached (sd_notify, FDSTORE=1), sender credentials (SO_PEERCRED,
// SCM_CREDENTIALS), socket options of the netlink socket and what an inherited descriptor is (sd_is_socket()'s
// questions). The structs are declared once as koffi structs (on the first call that needs them), so their layout is
// the platform's.
//
// Conventions: set-up calls (socket, bind, listen, socketInfo, sendUnixDatagram) throw an Error carrying the
// errno; the calls a non-blocking loop makes (accept4, recvmsg, connect, setsockopt, getsockopt) return a
// negative errno instead of throwing.
import { chmodSync, fchmodSync } from 'node:fs';
import { constants } from 'node:os';
import { errnoError } from './errno.js';
import { close, O_CLOEXEC, O_NONBLOCK } from './file.js';
import { declared, errno, koffi, libcFunction } from './libc.js';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = O_NONBLOCK;
export const SOCK_CLOEXEC = O_CLOEXEC;
export const SOL_SOCKET = 1;
export const SO_TYPE = 3;
export const SO_PASSCRED = 16;
export const SO_PEERCRED = 17;
export const SO_ACCEPTCONN = 30;
export const SO_PEERGROUPS = 59;
export const SO_RCVBUFFORCE = 33;
export const SO_PROTOCOL = 38;
export const SO_DOMAIN = 39;
export const SO_MEMINFO = 55;
/** Index of the drop counter in SO_MEMINFO's array of u32. */
export const SK_MEMINFO_DROPS = 8;
export const SOL_NETLINK = 270;
export const NETLINK_NO_ENOBUFS = 5;
export const SCM_RIGHTS = 1;
export const SCM_CREDENTIALS = 2;
export const MSG_CTRUNC = 0x8;
export const MSG_TRUNC = 0x20;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
export const MSG_CMSG_CLOEXEC = 0x40000000;

/** struct sockaddr_storage: room for any address getsockname() returns. */
const SOCKADDR_STORAGE = 128;
const { EAGAIN, EINPROGRESS, EINVAL, ENAMETOOLONG, ERANGE } = constants.errno;

/** The structs, declared on first use, and the sizes and offsets the calls below take from them. */
const layout = declared((k) => {
  const sockaddrUn = k.struct('sockaddr_un', { sun_family: 'uint16_t', sun_path: k.array('char', 108) });
  const sunPathOffset = k.offsetof(sockaddrUn, 'sun_path');
  k.struct('iovec', { iov_base: 'void *', iov_len: 'size_t' });
  // named in recvmsg's and sendmsg's prototypes
  k.struct('msghdr', {
    msg_name: 'void *',
    msg_namelen: 'uint32_t',
    msg_iov: 'iovec *',
    msg_iovlen: 'size_t',
    msg_control: 'void *',
    msg_controllen: 'size_t',
    msg_flags: 'int',
  });
  const cmsghdr = k.struct('cmsghdr', { cmsg_len: 'size_t', cmsg_level: 'int', cmsg_type: 'int' });
  const ucred = k.struct('ucred', { pid: 'int32_t', uid: 'uint32_t', gid: 'uint32_t' });
  const sizeT = k.sizeof('size_t');
  /** CMSG_ALIGN. */
  const cmsgAlign = (n: number) => (n + sizeT - 1) & ~(sizeT - 1);
  return {
    sockaddrUn,
    sockaddrUnSize: k.sizeof(sockaddrUn),
    sunPathOffset,
    sunPathMax: k.sizeof(sockaddrUn) - sunPathOffset,
    sockaddrNl: k.struct('sockaddr_nl', { nl_family: 'uint16_t', nl_pad: 'uint16_t', nl_pid: 'uint32_t', nl_groups: 'uint32_t' }),
    cmsghdr,
    ucred,
    cmsgAlign,
    cmsgHeader: cmsgAlign(k.sizeof(cmsghdr)),
    ucredSize: k.sizeof(ucred),
  };
});

export interface Ucred {
  pid: number;
  uid: number;
  gid: number;
}

interface Msghdr {
  msg_name: Buffer | null;
  msg_namelen: number;
  msg_iov: { iov_base: Buffer; iov_len: number }[];
  msg_iovlen: number;
  msg_control: Buffer | null;
  msg_controllen: number | bigint;
  msg_flags: number;
}

const socketC = libcFunction<(domain: number, type: number, protocol: number) => number>('int socket(int, int, int)');
const bindC = libcFunction<(fd: number, addr: Buffer, len: number) => number>('int bind(int, const void *, uint32_t)');
const listenC = libcFunction<(fd: number, backlog: number) => number>('int listen(int, int)');
const connectC = libcFunction<(fd: number, addr: Buffer, len: number) => number>('int connect(int, const void *, uint32_t)');
const accept4C = libcFunction<(fd: number, addr: null, len: null, flags: number) => number>('int accept4(int, void *, void *, int)');
const getsockoptC = libcFunction<(fd: number, level: number, name: number, val: Buffer, len: number[]) => number>('int getsockopt(int, int, int, _Out_ void *, _Inout_ uint32_t *)');
const setsockoptC = libcFunction<(fd: number, level: number, name: number, val: Buffer, len: number) => number>('int setsockopt(int, int, int, const void *, uint32_t)');
const recvmsgC = libcFunction<(fd: number, msg: Msghdr, flags: number) => number | bigint>('intptr_t recvmsg(int, _Inout_ msghdr *msg, int)', layout);
const sendmsgC = libcFunction<(fd: number, msg: Msghdr, flags: number) => number | bigint>('intptr_t sendmsg(int, const msghdr *msg, int)', layout);
const sendtoC = libcFunction<(fd: number, buf: Buffer, len: number, flags: number, addr: Buffer, addrLen: number) => number | bigint>(
  'intptr_t sendto(int, const void *, size_t, int, const void *, uint32_t)',
);
const getsocknameC = libcFunction<(fd: number, addr: Buffer, len: number[]) => number>('int getsockname(int, _Out_ void *, _Inout_ uint32_t *)');

/**
 * struct sockaddr_un for a path, or for an abstract name (`abstract`: a NUL, then the name, no terminating NUL),
 * and the length to pass with it. Throws ENAMETOOLONG when the name does not fit, EINVAL for an empty abstract name.
 */
function sockaddr(name: string, abstract = false): { addr: Buffer; len: number } {
  const { sockaddrUn, sockaddrUnSize, sunPathOffset, sunPathMax } = layout();
  const shown = abstract ? `@${name}` : name;
  const p = Buffer.from(name, 'utf8');
  if (abstract && p.length === 0) throw errnoError(`empty abstract AF_UNIX address '${shown}'`, EINVAL);
  if (p.length >= sunPathMax) {
    throw errnoError(`socket path too long for AF_UNIX (${p.length} bytes, at most ${sunPathMax - 1}): ${shown}`, ENAMETOOLONG);
  }
  const addr = Buffer.alloc(sockaddrUnSize);
  koffi().encode(addr, sockaddrUn, { sun_family: AF_UNIX });
  p.copy(addr, sunPathOffset + (abstract ? 1 : 0));
  // a path carries its terminating NUL; an abstract name is exactly as long as given, after its leading NUL
  return { addr, len: sunPathOffset + p.length + 1 };
}

/** The sockaddr_un of an address written as sd_notify(3) takes it: a path, or "@name" for an abstract socket. */
export function unixAddress(address: string): { addr: Buffer; len: number } {
  return address.startsWith('@') ? sockaddr(address.slice(1), true) : sockaddr(address);
}

/** socket(2); throws on failure. */
export function socket(domain: number, type: number, protocol = 0): number {
  const fd = socketC()(domain, type, protocol);
  if (fd < 0) throw errnoError(`socket(${domain}, ${type})`, errno());
  return fd;
}

/** bind(2) of a netlink socket to its multicast `groups` (a bit mask; the kernel picks the port); throws on failure. */
export function bindNetlink(fd: number, groups: number): void {
  const addr = netlinkAddress(groups);
  if (bindC()(fd, addr, addr.length) !== 0) throw errnoError(`bind netlink groups ${groups}`, errno());
}

/** The sockaddr_nl of multicast `groups` (port 0: the kernel's). */
function netlinkAddress(groups: number): Buffer {
  const { sockaddrNl } = layout();
  const addr = Buffer.alloc(koffi().sizeof(sockaddrNl));
  koffi().encode(addr, sockaddrNl, { nl_family: AF_NETLINK, nl_pad: 0, nl_pid: 0, nl_groups: groups });
  return addr;
}

/** sockaddr_nl of each multicast group mask sent to (one or two: made once). */
const netlinkGroupAddrs = new Map<number, Buffer>();

/**
 * sendto(2) of one datagram to netlink multicast `groups`, without waiting (MSG_DONTWAIT): 0, or the errno
 * (EAGAIN when the socket's send buffer is full).
 */
export function sendNetlinkMulticast(fd: number, data: Buffer, groups: number): number {
  let addr = netlinkGroupAddrs.get(groups);
  if (addr === undefined) {
    addr = netlinkAddress(groups);
    netlinkGroupAddrs.set(groups, addr);
  }
  return Number(sendtoC()(fd, data, data.length, MSG_DONTWAIT, addr, addr.length)) < 0 ? errno() : 0;
}

/**
 * bind(2) to a filesystem path, then listen(2); throws on failure. With `mode`, the socket file is created with it
 * (fchmod of the socket before bind: the kernel makes the file with the socket's mode less the umask, then the bits
 * the umask took are given back), so there is no moment where it is more open.
 */
export function bindAndListen(fd: number, path: string, backlog: number, mode?: number): void {
  if (mode !== undefined) fchmodSync(fd, mode);
  const { addr, len } = sockaddr(path);
  if (bindC()(fd, addr, len) !== 0) throw errnoError(`bind ${path}`, errno());
  if (mode !== undefined && (mode & currentUmask()) !== 0) chmodSync(path, mode);
  if (listenC()(fd, backlog) !== 0) throw errnoError(`listen ${path}`, errno());
}

/** The process's umask (umask(2) sets and returns the old one: it is put back at once). */
function currentUmask(): number {
  const m = process.umask(0o077);
  process.umask(m);
  return m;
}

/** connect(2) to a filesystem path: 0 or a negative errno. */
export function connectUnix(fd: number, path: string): number {
  const { addr, len } = sockaddr(path);
  return connectC()(fd, addr, len) === 0 ? 0 : -errno();
}

/** accept4(2) without the peer address: the new descriptor or a negative errno. */
export function accept4(fd: number, flags: number): number {
  const r = accept4C()(fd, null, null, flags);
  return r >= 0 ? r : -errno();
}

/** getsockopt(2) of an int option; throws on failure. */
function intOption(fd: number, level: number, name: number): number {
  const v = Buffer.alloc(4);
  const r = getsockopt(fd, level, name, v);
  if (r < 0) throw errnoError(`getsockopt (fd ${fd})`, -r);
  return v.readInt32LE(0);
}

export interface SocketInfo {
  /** AF_UNIX, AF_NETLINK, ... */
  domain: number;
  /** SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET */
  type: number;
  /** The protocol (NETLINK_KOBJECT_UEVENT = 15 for a uevent socket). */
  protocol: number;
  /** listen() was called on it. */
  listening: boolean;
  /** AF_UNIX: the bound path ("@name" for an abstract one, "" when unbound). AF_NETLINK: undefined. */
  path?: string;
  /** AF_NETLINK: the bound port (nl_pid) and multicast groups (nl_groups). */
  port?: number;
  groups?: number;
}

/** What kind of socket a descriptor is (sd_is_socket()'s questions), or throws (ENOTSOCK, EBADF). */
export function socketInfo(fd: number): SocketInfo {
  const info: SocketInfo = {
    domain: intOption(fd, SOL_SOCKET, SO_DOMAIN),
    type: intOption(fd, SOL_SOCKET, SO_TYPE),
    protocol: intOption(fd, SOL_SOCKET, SO_PROTOCOL),
    listening: intOption(fd, SOL_SOCKET, SO_ACCEPTCONN) !== 0,
  };
  const addr = Buffer.alloc(SOCKADDR_STORAGE);
  const len = [addr.length];
  if (getsocknameC()(fd, addr, len) !== 0) throw errnoError(`getsockname (fd ${fd})`, errno());
  const n = len[0]!;
  const { sunPathOffset, sockaddrNl } = layout();
  if (info.domain === AF_UNIX) {
    if (n <= sunPathOffset) info.path = '';
    else if (addr[sunPathOffset] === 0) info.path = '@' + addr.toString('utf8', sunPathOffset + 1, n);
    else {
      const end = addr.indexOf(0, sunPathOffset);
      info.path = addr.toString('utf8', sunPathOffset, end < 0 || end > n ? n : end);
    }
  } else if (info.domain === AF_NETLINK && n >= koffi().sizeof(sockaddrNl)) {
    const nl = koffi().decode(addr, sockaddrNl) as { nl_pid: number; nl_groups: number };
    info.port = nl.nl_pid;
    info.groups = nl.nl_groups;
  }
  return info;
}

/** setsockopt(2) with an int value: 0 or a negative errno. */
export function setsockoptInt(fd: number, level: number, name: number, value: number): number {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value);
  return setsockoptC()(fd, level, name, v, 4) === 0 ? 0 : -errno();
}

/** getsockopt(2) into `buf`: the length the kernel wrote, or a negative errno. */
export function getsockopt(fd: number, level: number, name: number, buf: Buffer): number {
  const len = [buf.length];
  return getsockoptC()(fd, level, name, buf, len) === 0 ? len[0]! : -errno();
}

/** SO_PEERCRED: the credentials of the peer of a connected AF_UNIX socket, or a negative errno. */
export function peerCredentials(fd: number): Ucred | number {
  const { ucred, ucredSize } = layout();
  const buf = Buffer.alloc(ucredSize);
  const n = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, buf);
  return n < 0 ? n : (koffi().decode(buf, ucred) as Ucred);
}

/**
 * SO_PEERGROUPS: the supplementary groups the peer of a connected AF_UNIX socket had when it connected, or a
 * negative errno.
 */
export function peerGroups(fd: number): number[] | number {
  let buf = Buffer.alloc(64 * 4);
  let n = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buf);
  if (n === -ERANGE) {
    // the kernel says how much it needs: ask again with that (a group list is at most NGROUPS_MAX entries)
    const need = [0];
    getsockoptC()(fd, SOL_SOCKET, SO_PEERGROUPS, Buffer.alloc(0), need);
    buf = Buffer.alloc(Math.max(need[0]!, 4));
    n = getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buf);
  }
  if (n < 0) return n;
  return Array.from(new Uint32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + n - (n % 4)))); // gid_t, native order
}

/** What recvWithCredentials() received. */
export interface Received {
  /** Bytes received into the buffer (0: the peer closed its end). */
  n: number;
  /** msg_flags (MSG_TRUNC, MSG_CTRUNC). */
  flags: number;
  /** SCM_CREDENTIALS, when the message carried them (SO_PASSCRED). */
  cred: Ucred | undefined;
}

/**
 * recvmsg(2) of one datagram into `data`, with a control buffer for SCM_CREDENTIALS; descriptors passed with
 * SCM_RIGHTS are closed at once. Returns what was received, or a negative errno.
 */
export function recvWithCredentials(fd: number, data: Buffer, flags: number): Received | number {
  const control = Buffer.alloc(256);
  const msg: Msghdr = { msg_name: null, msg_namelen: 0, msg_iov: [{ iov_base: data, iov_len: data.length }], msg_iovlen: 1, msg_control: control, msg_controllen: control.length, msg_flags: 0 };
  const n = Number(recvmsgC()(fd, msg, flags));
  if (n < 0) return -errno();
  const end = Math.min(control.length, Number(msg.msg_controllen));
  const { cmsghdr, cmsgHeader, cmsgAlign, ucred, ucredSize } = layout();
  const k = koffi();
  let cred: Ucred | undefined;
  for (let off = 0; off + cmsgHeader <= end; ) {
    const h = k.decode(control, off, cmsghdr) as { cmsg_len: number | bigint; cmsg_level: number; cmsg_type: number };
    const clen = Number(h.cmsg_len);
    if (clen < cmsgHeader || off + clen > end) break;
    if (h.cmsg_level === SOL_SOCKET && h.cmsg_type === SCM_CREDENTIALS && clen >= cmsgHeader + ucredSize) {
      cred = k.decode(control, off + cmsgHeader, ucred) as Ucred;
    } else if (h.cmsg_level === SOL_SOCKET && h.cmsg_type === SCM_RIGHTS) {
      for (let p = off + cmsgHeader; p + 4 <= off + clen; p += 4) close(control.readInt32LE(p));
    }
    off += cmsgAlign(clen);
  }
  return { n, flags: msg.msg_flags, cred };
}

/**
 * Is a server listening on this AF_UNIX path? A non-blocking connect: refused means a stale socket file; a full
 * backlog or a connection in progress means somebody is there.
 */
export function unixSocketListening(path: string, type: typeof SOCK_STREAM | typeof SOCK_SEQPACKET): boolean {
  const fd = socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC);
  try {
    const r = connectUnix(fd, path);
    return r === 0 || r === -EAGAIN || r === -EINPROGRESS;
  } finally {
    close(fd);
  }
}

/**
 * Sends one datagram on a new AF_UNIX SOCK_DGRAM socket to `address` (a path or "@abstract"), with the
 * descriptors `fds` attached as SCM_RIGHTS. Returns the bytes sent; throws on failure.
 */
export function sendUnixDatagram(address: string, data: Buffer, fds: readonly number[] = []): number {
  const { addr, len } = unixAddress(address);
  let control: Buffer | null = null;
  if (fds.length > 0) {
    // CMSG_SPACE(n fds): the header, then the descriptors, padded to the alignment of size_t
    const { cmsghdr, cmsgHeader, cmsgAlign } = layout();
    control = Buffer.alloc(cmsgHeader + cmsgAlign(4 * fds.length));
    koffi().encode(control, cmsghdr, { cmsg_len: cmsgHeader + 4 * fds.length, cmsg_level: SOL_SOCKET, cmsg_type: SCM_RIGHTS });
    fds.forEach((fd, i) => control!.writeInt32LE(fd, cmsgHeader + 4 * i));
  }
  const msg: Msghdr = { msg_name: addr, msg_namelen: len, msg_iov: [{ iov_base: data, iov_len: data.length }], msg_iovlen: 1, msg_control: control, msg_controllen: control?.length ?? 0, msg_flags: 0 };
  const fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC);
  try {
    const n = Number(sendmsgC()(fd, msg, MSG_NOSIGNAL));
    if (n < 0) throw errnoError(`sendmsg to ${address}`, errno());
    return n;
  } finally {
    close(fd);
  }
}
