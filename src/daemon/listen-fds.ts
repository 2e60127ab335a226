// Sockets handed over by the service manager, as sd_listen_fds(3) receives them: $LISTEN_PID names this
// process, $LISTEN_FDS counts the descriptors from 3 on, $LISTEN_FDNAMES (optional; sysMaster does not set it)
// names them. Each is marked close-on-exec and the variables are removed, so programs the rules run inherit
// neither the descriptors nor the variables.
//
// What each descriptor is for is decided by what it is, as udevd does with sd_is_socket() (names differ between
// systemd's socket units, sysMaster's and the file descriptor store):
//   AF_NETLINK / SOCK_RAW / NETLINK_KOBJECT_UEVENT  -> the kernel uevent socket (its queued uevents come first)
//   AF_UNIX / SOCK_SEQPACKET, listening             -> udev's control socket (<run>/control, udevadm)
//   AF_UNIX / SOCK_STREAM, listening                -> devMaster's control socket (<run>/devmaster.control)
// Anything else, and a second socket of a kind already taken, is closed with a warning (and, when it came from
// the file descriptor store, removed from it).
import { fstatSync, closeSync } from 'node:fs';
import { setFdFlags } from '../sys/file.js';
import { AF_NETLINK, AF_UNIX, SOCK_RAW, SOCK_SEQPACKET, SOCK_STREAM, socketInfo, type SocketInfo } from '../sys/socket.js';
import { GROUP_KERNEL, NETLINK_KOBJECT_UEVENT } from '../netlink/socket.js';
import { isSystemError, tryOr } from '../util/fs.js';

/** The first passed descriptor (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

export type PassedKind = 'kernel' | 'udev-control' | 'control';

export interface PassedFd {
  fd: number;
  /** From $LISTEN_FDNAMES, "unknown" without it (sd_listen_fds_with_names' default). */
  name: string;
  /** The socket's inode: the same number on every descriptor of one socket, across restarts. */
  inode: number;
  info?: SocketInfo;
}

export interface ListenFds {
  kernel?: PassedFd;
  udevControl?: PassedFd;
  control?: PassedFd;
  /** Closed because unusable or superfluous, with why. */
  rejected: { fd: PassedFd; reason: string }[];
}

export class ListenFdsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListenFdsError';
  }
}

/** The descriptors passed to this process, unclassified (sd_listen_fds_with_names). Throws on malformed variables. */
export function passedFds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): { fd: number; name: string }[] {
  const lpid = env.LISTEN_PID;
  if (lpid === undefined || lpid === '') return [];
  if (!/^\d+$/.test(lpid)) throw new ListenFdsError(`LISTEN_PID='${lpid}' is not a process id`);
  if (Number(lpid) !== pid) return []; // meant for another process (e.g. a wrapper that did not exec)
  const lfds = env.LISTEN_FDS;
  if (lfds === undefined || lfds === '') return [];
  if (!/^\d+$/.test(lfds)) throw new ListenFdsError(`LISTEN_FDS='${lfds}' is not a number`);
  const n = Number(lfds);
  if (n > 4096) throw new ListenFdsError(`LISTEN_FDS=${n}: too many descriptors`);
  const names = env.LISTEN_FDNAMES !== undefined && env.LISTEN_FDNAMES !== '' ? env.LISTEN_FDNAMES.split(':') : undefined;
  if (names && names.length !== n) throw new ListenFdsError(`LISTEN_FDNAMES names ${names.length} descriptor(s) but LISTEN_FDS=${n}`);
  const out: { fd: number; name: string }[] = [];
  for (let i = 0; i < n; i++) out.push({ fd: LISTEN_FDS_START + i, name: names?.[i] ?? 'unknown' });
  return out;
}

/** What a passed socket is for, or why it is of no use here. */
export function classify(info: SocketInfo): PassedKind | string {
  if (info.domain === AF_NETLINK) {
    if (info.type !== SOCK_RAW || info.protocol !== NETLINK_KOBJECT_UEVENT) return `a netlink socket of protocol ${info.protocol}, not NETLINK_KOBJECT_UEVENT`;
    // group 1 carries the kernel's uevents; group 2 libudev's broadcasts, which would all count as forged
    if ((info.groups ?? 0) & ~GROUP_KERNEL) return `a uevent socket bound to multicast groups 0x${(info.groups ?? 0).toString(16)} (the kernel's uevents are group ${GROUP_KERNEL} only)`;
    return 'kernel';
  }
  if (info.domain === AF_UNIX) {
    if (!info.listening) return `an AF_UNIX socket that is not listening (${info.path || 'unbound'})`;
    if (info.type === SOCK_SEQPACKET) return 'udev-control';
    if (info.type === SOCK_STREAM) return 'control';
    return `an AF_UNIX socket of type ${info.type} (${info.path || 'unbound'})`;
  }
  return `a socket of address family ${info.domain}`;
}

/**
 * Takes the descriptors passed by the service manager: marks them close-on-exec, removes the variables (unless
 * `unset` is false) and sorts them by use. Descriptors of no use are closed and listed in `rejected` (the caller
 * logs them and asks the manager to drop named ones from its store).
 */
export function listenFds(env: NodeJS.ProcessEnv = process.env, opts: { pid?: number; unset?: boolean } = {}): ListenFds {
  let fds: { fd: number; name: string }[];
  try {
    fds = passedFds(env, opts.pid ?? process.pid);
  } finally {
    if (opts.unset !== false) {
      delete env.LISTEN_PID;
      delete env.LISTEN_FDS;
      delete env.LISTEN_FDNAMES;
    }
  }
  const res: ListenFds = { rejected: [] };
  const slot: Record<PassedKind, keyof Omit<ListenFds, 'rejected'>> = { kernel: 'kernel', 'udev-control': 'udevControl', control: 'control' };
  for (const { fd, name } of fds) {
    const p: PassedFd = { fd, name, inode: 0 };
    const reject = (reason: string) => {
      res.rejected.push({ fd: p, reason });
      tryOr(() => closeSync(fd), undefined, 'EBADF'); // not open: nothing to close
    };
    try {
      setFdFlags(fd, { cloexec: true });
      p.inode = fstatSync(fd).ino;
      p.info = socketInfo(fd);
    } catch (e) {
      if (!isSystemError(e)) throw e;
      reject(`not a usable socket: ${e.message}`);
      continue;
    }
    const kind = classify(p.info);
    if (kind !== 'kernel' && kind !== 'udev-control' && kind !== 'control') {
      reject(kind);
      continue;
    }
    const have = res[slot[kind]];
    if (have) {
      reject(have.inode === p.inode ? `the same socket as descriptor ${have.fd}` : `a second ${kind} socket (descriptor ${have.fd} is used)`);
      continue;
    }
    res[slot[kind]] = p;
  }
  return res;
}
