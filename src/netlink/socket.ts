// A NETLINK_KOBJECT_UEVENT socket from the `netlink` package, hardened for devMaster.
//
// The package (netlink 0.3, src/binding.cc) gives us socket/bind/recvmsg/sendmsg on libuv's poll, but:
//  * it can only set SO_RCVBUF (capped by net.core.rmem_max), not SO_RCVBUFFORCE;
//  * it does not expose the file descriptor;
//  * it never asks for SCM_CREDENTIALS (no control buffer in recvmsg), so sender credentials are unavailable;
//  * receive-queue overflow is fatal with it: the kernel sets sk_err=ENOBUFS, epoll reports EPOLLERR, libuv calls
//    the poll callback with UV_EBADF, and the binding builds its error with a NULL syscall name, which throws inside
//    a native callback and aborts the process ("terminate called after throwing an instance of 'Napi::Error'").
//    (When recvmsg itself returns ENOBUFS it emits a normal 'error' event instead, but that race is not ours to win.)
// So this module finds the socket's descriptor (through /proc/net/netlink and /proc/self/fd) and makes the
// missing setsockopt/getsockopt calls through libc (src/sys/socket.ts):
//  * NETLINK_NO_ENOBUFS, so an overflow never raises sk_err (no EPOLLERR, no abort), and
//  * SO_MEMINFO, whose SK_MEMINFO_DROPS counts every datagram the kernel dropped for a full queue: an increase is
//    how an overflow is detected (checked after each received datagram).
//  * SO_RCVBUFFORCE, to get a receive buffer above rmem_max (as udevd does).
// A socket handed over by the service manager (socket activation, its file descriptor store) is taken over by
// putting it in place of the package's own socket with dup3() before the event loop first polls it (the package
// starts polling in its constructor, but libuv registers the descriptor with epoll only on its next loop turn).
import { closeSync, fstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
// Only the raw socket: the package index also loads rtnetlink, nl80211 and WireGuard (~10 MB of modules).
import rawModule from 'netlink/dist/raw.js';
import type { RawNetlinkSocket as RawSocket } from 'netlink';
import { log } from '../log.js';
import { dupOnto, setFdFlags } from '../sys/file.js';
import { getsockopt, NETLINK_NO_ENOBUFS, sendNetlinkMulticast, setsockoptInt, SK_MEMINFO_DROPS, SO_MEMINFO, SO_RCVBUFFORCE, SOL_NETLINK, SOL_SOCKET } from '../sys/socket.js';
import { tryOr } from '../util/fs.js';
import { MAX_UEVENT_SIZE } from './uevent.js';
import { LIBUDEV_MAX_MESSAGE } from './libudev-format.js';

/** The receive buffer: a byte more than the longest kernel uevent or libudev message accepted. */
const READ_BUFFER_SIZE = Math.max(MAX_UEVENT_SIZE, LIBUDEV_MAX_MESSAGE) + 1;

const { RawNetlinkSocket } = rawModule as unknown as typeof import('netlink');
const { EAGAIN, EBADF } = osConstants.errno;

export const NETLINK_KOBJECT_UEVENT = 15;
/** Multicast group of raw kernel uevents. */
export const GROUP_KERNEL = 1;
/** Multicast group of processed events in libudev's format. */
export const GROUP_UDEV = 2;
/** udevd's receive buffer (UDEV_RECEIVE_BUFFER_SIZE_MAX): 128 MiB. */
export const DEFAULT_RECV_BUFFER = 128 * 1024 * 1024;

/** Finds the descriptor of the NETLINK_KOBJECT_UEVENT socket bound at `port` in this process. */
export function findNetlinkFd(protocol: number, port: number): number | undefined {
  let inode: string | undefined;
  for (const line of readFileSync('/proc/net/netlink', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
    if (f.length >= 10 && Number(f[1]) === protocol && Number(f[2]) === port) inode = f[9];
  }
  if (!inode) return undefined;
  const target = `socket:[${inode}]`;
  for (const e of readdirSync('/proc/self/fd')) {
    if (tryOr(() => readlinkSync(`/proc/self/fd/${e}`), undefined, 'ENOENT') === target) return Number(e); // ENOENT: closed meanwhile
  }
  return undefined;
}

/**
 * Puts the socket `fd` in place of the package socket's descriptor (dup3) and closes `fd`. Synchronous, so the
 * event loop has not polled the package's own socket yet. The socket is made non-blocking, as the package's
 * reads expect (a manager may pass it blocking: sysMaster clears O_NONBLOCK unless NonBlocking=yes).
 */
function adopt(raw: RawSocket, fd: number): void {
  const own = findNetlinkFd(NETLINK_KOBJECT_UEVENT, raw.address().port);
  if (own === undefined) throw new Error('cannot find the descriptor of the netlink socket to replace');
  if (own === fd) return;
  dupOnto(fd, own);
  closeSync(fd);
  setFdFlags(own, { nonblock: true });
}

export interface UeventNetlinkOptions {
  /** Multicast groups to join (GROUP_KERNEL, GROUP_UDEV); none for a send-only socket. */
  groups?: number[];
  /** Receive buffer in bytes, forced past rmem_max when possible (0: leave the default). */
  recvBufferSize?: number;
  /**
   * An open NETLINK_KOBJECT_UEVENT socket to use instead of a new one (socket activation). It is taken over:
   * this descriptor is closed, the socket lives on under the package's descriptor, and what is queued in it is
   * received first.
   */
  fd?: number;
}

/** A raw uevent socket plus what the package cannot do by itself. */
export class UeventNetlink {
  readonly raw: RawSocket;
  /** The kernel-assigned netlink port (nl_pid) of this socket. */
  readonly port: number;
  /** The descriptor, if it could be found (needed for the libc calls). */
  readonly fd: number | undefined;
  /** True when NETLINK_NO_ENOBUFS is set (overflows cannot abort the process) and drops are countable. */
  readonly hardened: boolean;
  /** The socket's inode (stable across the descriptors and restarts that share the socket), if known. */
  readonly inode: number | undefined;
  /** True when the socket was handed over (opts.fd) rather than opened here. */
  readonly adopted: boolean;
  private readonly meminfo = Buffer.alloc(4 * 16);
  private closed = false;

  private constructor(raw: RawSocket, adopted: boolean) {
    this.raw = raw;
    this.adopted = adopted;
    this.port = raw.address().port;
    this.fd = findNetlinkFd(NETLINK_KOBJECT_UEVENT, this.port);
    this.inode = this.fd === undefined ? undefined : fstatSync(this.fd).ino;
    let hardened = false;
    if (this.fd !== undefined) hardened = setsockoptInt(this.fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, 1) === 0 && this.drops() !== undefined;
    this.hardened = hardened;
  }

  /** Opens, configures and joins the groups (in that order, so no message arrives before hardening). */
  static async open(opts: UeventNetlinkOptions = {}): Promise<UeventNetlink> {
    // One recvmsg per datagram into a buffer one byte larger than any message accepted here (the package's
    // default peeks at every datagram's size first: a second system call per event). A longer datagram arrives
    // as 'truncatedMessage' and is passed on as a 'message' of READ_BUFFER_SIZE bytes, which every receiver rejects
    // as too long (after the sender check), as it would the whole of it.
    const raw = new RawNetlinkSocket(NETLINK_KOBJECT_UEVENT, {
      messagePeeking: false,
      msgBufferSize: READ_BUFFER_SIZE,
      // 0 leaves the socket's buffers as they are (the package's typings call these required; it skips a 0)
      recvBufferSize: 0,
      sendBufferSize: 0,
    });
    raw.on('truncatedMessage', (msg, rinfo) => raw.emit('message', msg, rinfo));
    let s: UeventNetlink;
    try {
      if (opts.fd !== undefined) adopt(raw, opts.fd);
      s = new UeventNetlink(raw, opts.fd !== undefined);
      if (!s.hardened && (opts.groups?.length ?? 0) > 0) {
        log().warn('netlink: NETLINK_NO_ENOBUFS could not be set; a receive-queue overflow may abort the process');
      }
      if (opts.recvBufferSize) s.setRecvBufferSize(opts.recvBufferSize);
      for (const g of opts.groups ?? []) raw.addMembership(g);
    } catch (e) {
      raw.close();
      throw e;
    }
    return s;
  }

  /** SO_RCVBUFFORCE (root) with a fallback to SO_RCVBUF; returns the size the kernel reports (twice the request). */
  setRecvBufferSize(bytes: number): number {
    let forced = false;
    if (this.fd !== undefined) forced = setsockoptInt(this.fd, SOL_SOCKET, SO_RCVBUFFORCE, Math.min(bytes, 0x7fffffff)) === 0;
    if (!forced) this.raw.setRecvBufferSize(bytes);
    return this.raw.getRecvBufferSize();
  }

  get recvBufferSize(): number {
    return this.raw.getRecvBufferSize();
  }

  /** Datagrams the kernel dropped because our queue was full (SK_MEMINFO_DROPS), or undefined if unknown. */
  drops(): number | undefined {
    if (this.fd === undefined || this.closed) return undefined;
    const len = getsockopt(this.fd, SOL_SOCKET, SO_MEMINFO, this.meminfo);
    if (len < (SK_MEMINFO_DROPS + 1) * 4) return undefined;
    return this.meminfo.readUInt32LE(SK_MEMINFO_DROPS * 4);
  }

  /**
   * Sends one datagram to multicast `group` at once (sendto with MSG_DONTWAIT on the descriptor): 0, the errno, or
   * EAGAIN when it has to wait (a full send buffer) or the descriptor is unknown; send() waits for the socket then.
   */
  sendNow(buf: Buffer, group: number): number {
    if (this.closed) return EBADF;
    if (this.fd === undefined) return EAGAIN;
    return sendNetlinkMulticast(this.fd, buf, group);
  }

  /** Sends one datagram to a multicast group (port 0 = no unicast target besides the kernel). */
  send(buf: Buffer, group: number, port = 0): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('netlink socket is closed'));
      this.raw.send(buf, { port, groups: group }, (err) => (err ? reject(err) : resolve()));
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.raw.close();
  }
}
