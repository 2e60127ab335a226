// C calls for running under a service manager and for the uaccess builtin (issue 14), through koffi.
//
// Kept in one module, in the style of src/util/sys.ts, so that it folds into the project's native layer as it
// is: socket introspection of inherited descriptors (what sd_is_socket() asks), descriptor flags and dup3 (socket
// activation), sendmsg on an AF_UNIX datagram socket with SCM_RIGHTS (sd_notify, FDSTORE=1; Node's dgram has no
// AF_UNIX), and libacl (POSIX ACLs on device nodes).
//
// Every function throws an Error carrying `errno` and `code` (ENOENT, ...) when the call fails.
import koffi from 'koffi';
import { errnoName } from './errno.js';

type Fn = (...a: unknown[]) => unknown;

interface Libc {
  getsockopt: Fn;
  getsockname: Fn;
  fcntl: Fn;
  dup3: Fn;
  socket: Fn;
  sendmsg: Fn;
  close: Fn;
}

let libc: Libc | undefined;

function c(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    getsockopt: lib.func('int getsockopt(int, int, int, _Out_ void *, _Inout_ uint32_t *)') as Fn,
    getsockname: lib.func('int getsockname(int, _Out_ void *, _Inout_ uint32_t *)') as Fn,
    fcntl: lib.func('int fcntl(int, int, int)') as Fn,
    dup3: lib.func('int dup3(int, int, int)') as Fn,
    socket: lib.func('int socket(int, int, int)') as Fn,
    sendmsg: lib.func('intptr_t sendmsg(int, void *, int)') as Fn,
    close: lib.func('int close(int)') as Fn,
  };
  return libc;
}

function fail(call: string, what?: string): never {
  const errno = koffi.errno();
  const code = errnoName(errno);
  const err = new Error(`${call}${what ? ` ${what}` : ''}: ${code}`) as NodeJS.ErrnoException;
  err.errno = errno;
  err.code = code;
  throw err;
}

// ------------------------------------------------------------------ sockets

export const AF_UNIX = 1;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_SEQPACKET = 5;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_TYPE = 3;
const SO_ACCEPTCONN = 30;
const SO_PROTOCOL = 38;
const SO_DOMAIN = 39;
const SCM_RIGHTS = 1;
const MSG_NOSIGNAL = 0x4000;
const SUN_PATH_MAX = 108;

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

function intOpt(fd: number, name: number): number {
  const v = Buffer.alloc(4);
  const len = [4];
  if ((c().getsockopt(fd, SOL_SOCKET, name, v, len) as number) !== 0) fail('getsockopt', `(fd ${fd})`);
  return v.readInt32LE(0);
}

/** What kind of socket a descriptor is (sd_is_socket()'s questions), or throws (ENOTSOCK, EBADF). */
export function socketInfo(fd: number): SocketInfo {
  const info: SocketInfo = { domain: intOpt(fd, SO_DOMAIN), type: intOpt(fd, SO_TYPE), protocol: intOpt(fd, SO_PROTOCOL), listening: intOpt(fd, SO_ACCEPTCONN) !== 0 };
  const addr = Buffer.alloc(128);
  const len = [addr.length];
  if ((c().getsockname(fd, addr, len) as number) !== 0) fail('getsockname', `(fd ${fd})`);
  const n = len[0]!;
  if (info.domain === AF_UNIX) {
    if (n <= 2) info.path = '';
    else if (addr[2] === 0) info.path = '@' + addr.toString('utf8', 3, n);
    else {
      const end = addr.indexOf(0, 2);
      info.path = addr.toString('utf8', 2, end < 0 || end > n ? n : end);
    }
  } else if (info.domain === AF_NETLINK && n >= 12) {
    info.port = addr.readUInt32LE(4);
    info.groups = addr.readUInt32LE(8);
  }
  return info;
}

const F_GETFD = 1;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const FD_CLOEXEC = 1;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

/** Sets or clears FD_CLOEXEC and O_NONBLOCK on a descriptor (undefined leaves a flag as it is). */
export function setFdFlags(fd: number, flags: { cloexec?: boolean; nonblock?: boolean }): void {
  const l = c();
  if (flags.cloexec !== undefined) {
    const cur = l.fcntl(fd, F_GETFD, 0) as number;
    if (cur < 0) fail('fcntl(F_GETFD)', `(fd ${fd})`);
    const next = flags.cloexec ? cur | FD_CLOEXEC : cur & ~FD_CLOEXEC;
    if (next !== cur && (l.fcntl(fd, F_SETFD, next) as number) < 0) fail('fcntl(F_SETFD)', `(fd ${fd})`);
  }
  if (flags.nonblock !== undefined) {
    const cur = l.fcntl(fd, F_GETFL, 0) as number;
    if (cur < 0) fail('fcntl(F_GETFL)', `(fd ${fd})`);
    const next = flags.nonblock ? cur | O_NONBLOCK : cur & ~O_NONBLOCK;
    if (next !== cur && (l.fcntl(fd, F_SETFL, next) as number) < 0) fail('fcntl(F_SETFL)', `(fd ${fd})`);
  }
}

/** dup3(from, onto, O_CLOEXEC): `onto` now refers to what `from` refers to (whatever `onto` was is closed). */
export function dupOnto(from: number, onto: number): void {
  if ((c().dup3(from, onto, O_CLOEXEC) as number) < 0) fail('dup3', `(${from} onto ${onto})`);
}

/** A sockaddr_un for a path, or for an abstract name written "@name" (sd_notify's convention). */
export function unixAddress(address: string): { addr: Buffer; len: number } {
  const abstract = address.startsWith('@');
  const name = Buffer.from(abstract ? address.slice(1) : address, 'utf8');
  if (name.length === 0 || name.length >= SUN_PATH_MAX) throw new Error(`invalid AF_UNIX address '${address}' (1 to ${SUN_PATH_MAX - 1} bytes)`);
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  addr.writeUInt16LE(AF_UNIX, 0);
  name.copy(addr, abstract ? 3 : 2);
  // abstract names are exactly as long as given (no terminating NUL); paths carry theirs
  return { addr, len: 2 + name.length + 1 };
}

/**
 * Sends one datagram on a new AF_UNIX SOCK_DGRAM socket to `address` (a path or "@abstract"), with the
 * descriptors `fds` attached as SCM_RIGHTS. Returns the bytes sent.
 */
export function sendUnixDatagram(address: string, data: Buffer, fds: readonly number[] = []): number {
  const { addr, len: addrLen } = unixAddress(address);
  const l = c();
  // one scratch block: msghdr (56) | iovec (16) | sockaddr_un (112) | control | data
  const MSG = 0;
  const IOV = 64;
  const NAME = 80;
  const CTL = 200;
  const ctlLen = fds.length ? (16 + 4 * fds.length + 7) & ~7 : 0;
  const DATA = CTL + ctlLen;
  const size = DATA + Math.max(1, data.length);
  const ptr = koffi.alloc('uint8_t', size);
  try {
    const base = koffi.address(ptr) as bigint;
    const mem = Buffer.from(koffi.view(ptr, size) as ArrayBuffer);
    mem.fill(0);
    addr.copy(mem, NAME, 0, addrLen);
    data.copy(mem, DATA);
    // struct msghdr (LP64): name, namelen, iov, iovlen, control, controllen, flags
    mem.writeBigUInt64LE(base + BigInt(NAME), MSG);
    mem.writeUInt32LE(addrLen, MSG + 8);
    mem.writeBigUInt64LE(base + BigInt(IOV), MSG + 16);
    mem.writeBigUInt64LE(1n, MSG + 24);
    if (ctlLen) {
      mem.writeBigUInt64LE(base + BigInt(CTL), MSG + 32);
      mem.writeBigUInt64LE(BigInt(ctlLen), MSG + 40);
      // struct cmsghdr: len (size_t), level, type, then the descriptors
      mem.writeBigUInt64LE(BigInt(16 + 4 * fds.length), CTL);
      mem.writeInt32LE(SOL_SOCKET, CTL + 8);
      mem.writeInt32LE(SCM_RIGHTS, CTL + 12);
      fds.forEach((fd, i) => mem.writeInt32LE(fd, CTL + 16 + 4 * i));
    }
    mem.writeBigUInt64LE(base + BigInt(DATA), IOV);
    mem.writeBigUInt64LE(BigInt(data.length), IOV + 8);
    const fd = l.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number;
    if (fd < 0) fail('socket(AF_UNIX, SOCK_DGRAM)');
    try {
      const n = Number(l.sendmsg(fd, ptr, MSG_NOSIGNAL));
      if (n < 0) fail('sendmsg', `to ${address}`);
      return n;
    } finally {
      l.close(fd);
    }
  } finally {
    koffi.free(ptr);
  }
}

// ------------------------------------------------------------------ libacl

export const ACL_READ = 4;
export const ACL_WRITE = 2;
export const ACL_USER = 0x02;
const ACL_TYPE_ACCESS = 0x8000;
const ACL_FIRST_ENTRY = 0;
const ACL_NEXT_ENTRY = 1;

interface LibAcl {
  get_file: Fn;
  set_file: Fn;
  get_entry: Fn;
  get_tag_type: Fn;
  get_qualifier: Fn;
  delete_entry: Fn;
  create_entry: Fn;
  set_tag_type: Fn;
  set_qualifier: Fn;
  get_permset: Fn;
  get_perm: Fn;
  add_perm: Fn;
  calc_mask: Fn;
  free: Fn;
}

let libacl: LibAcl | undefined;

function acl(): LibAcl {
  if (libacl) return libacl;
  const lib = koffi.load('libacl.so.1');
  libacl = {
    get_file: lib.func('void *acl_get_file(const char *, int)') as Fn,
    set_file: lib.func('int acl_set_file(const char *, int, void *)') as Fn,
    get_entry: lib.func('int acl_get_entry(void *, int, _Out_ void **)') as Fn,
    get_tag_type: lib.func('int acl_get_tag_type(void *, _Out_ int *)') as Fn,
    get_qualifier: lib.func('void *acl_get_qualifier(void *)') as Fn,
    delete_entry: lib.func('int acl_delete_entry(void *, void *)') as Fn,
    create_entry: lib.func('int acl_create_entry(_Inout_ void **, _Out_ void **)') as Fn,
    set_tag_type: lib.func('int acl_set_tag_type(void *, int)') as Fn,
    set_qualifier: lib.func('int acl_set_qualifier(void *, const uint32_t *)') as Fn,
    get_permset: lib.func('int acl_get_permset(void *, _Out_ void **)') as Fn,
    get_perm: lib.func('int acl_get_perm(void *, int)') as Fn,
    add_perm: lib.func('int acl_add_perm(void *, int)') as Fn,
    calc_mask: lib.func('int acl_calc_mask(_Inout_ void **)') as Fn,
    free: lib.func('int acl_free(void *)') as Fn,
  };
  return libacl;
}

/**
 * Rewrites the access ACL of `path` as systemd's devnode_acl() does: with `flush`, every named-user entry goes;
 * then `addUid` (when given and not root) gets an entry with read and write. The mask is recomputed and the ACL
 * written only when something changed. Returns whether it was written.
 */
export function devnodeAcl(path: string, opts: { flush: boolean; addUid?: number }): boolean {
  const a = acl();
  const holder = [a.get_file(path, ACL_TYPE_ACCESS)];
  if (!holder[0]) fail('acl_get_file', path);
  try {
    let changed = false;
    const users = (): { entry: unknown; uid: number }[] => {
      const out: { entry: unknown; uid: number }[] = [];
      const entry: unknown[] = [null];
      for (let r = a.get_entry(holder[0], ACL_FIRST_ENTRY, entry) as number; r > 0; r = a.get_entry(holder[0], ACL_NEXT_ENTRY, entry) as number) {
        const tag = [0];
        if ((a.get_tag_type(entry[0], tag) as number) < 0) fail('acl_get_tag_type', path);
        if (tag[0] !== ACL_USER) continue;
        const q = a.get_qualifier(entry[0]);
        if (!q) fail('acl_get_qualifier', path);
        const uid = koffi.decode(q, 'uint32_t') as number;
        a.free(q);
        out.push({ entry: entry[0], uid });
      }
      return out;
    };
    if (opts.flush) {
      // deleting while iterating upsets libacl's cursor: collect first
      for (const u of users()) {
        if ((a.delete_entry(holder[0], u.entry) as number) < 0) fail('acl_delete_entry', path);
        changed = true;
      }
    }
    if (opts.addUid !== undefined && opts.addUid > 0) {
      let entry = users().find((u) => u.uid === opts.addUid)?.entry;
      if (!entry) {
        const out: unknown[] = [null];
        if ((a.create_entry(holder, out) as number) < 0) fail('acl_create_entry', path);
        entry = out[0];
        if ((a.set_tag_type(entry, ACL_USER) as number) < 0) fail('acl_set_tag_type', path);
        if ((a.set_qualifier(entry, [opts.addUid]) as number) < 0) fail('acl_set_qualifier', path);
      }
      const permset: unknown[] = [null];
      if ((a.get_permset(entry, permset) as number) < 0) fail('acl_get_permset', path);
      const rd = a.get_perm(permset[0], ACL_READ) as number;
      const wr = a.get_perm(permset[0], ACL_WRITE) as number;
      if (rd < 0 || wr < 0) fail('acl_get_perm', path);
      if (!rd || !wr) {
        if ((a.add_perm(permset[0], ACL_READ | ACL_WRITE) as number) < 0) fail('acl_add_perm', path);
        changed = true;
      }
    }
    if (!changed) return false;
    if ((a.calc_mask(holder) as number) < 0) fail('acl_calc_mask', path);
    if ((a.set_file(path, ACL_TYPE_ACCESS, holder[0]) as number) < 0) fail('acl_set_file', path);
    return true;
  } finally {
    a.free(holder[0]);
  }
}
