// Receiving kernel uevents: NETLINK_KOBJECT_UEVENT, group 1, a large forced receive buffer.
//
//   const sock = await UeventSocket.open({ recvBufferSize: 128 << 20 });
//   sock.on('uevent', (ev, raw) => ...);      // validated kernel uevents, in arrival order
//   sock.on('overflow', ({ dropped }) => ...); // the kernel dropped `dropped` datagrams: time to rescan
//   sock.counters                             // { received, accepted, forged, malformed, overflows, dropped }
//   sock.close();
//
// Only datagrams whose sender port (nl_pid) is 0 come from the kernel; anything else was sent by a user-space
// process (which needs CAP_NET_ADMIN to do it) and is dropped as forged. Malformed datagrams are dropped,
// counted and logged. Nothing here throws on bad input.
import { EventEmitter } from 'node:events';
import type { MessageInfo, ErrnoException } from 'netlink';
import { log, type Logger } from '../log.js';
import { DEFAULT_RECV_BUFFER, GROUP_KERNEL, UeventNetlink } from './socket.js';
import { parseUevent, UeventError, type Uevent } from './uevent.js';

export interface UeventSocketOptions {
  /** Receive buffer in bytes (forced past rmem_max when running as root). Default 128 MiB, like udevd. */
  recvBufferSize?: number;
  logger?: Logger;
  /** A NETLINK_KOBJECT_UEVENT socket handed over by the service manager, taken over instead of opening one. */
  fd?: number;
}

export interface UeventCounters {
  /** Datagrams read from the socket (before any check). */
  received: number;
  /** Valid kernel uevents emitted as 'uevent'. */
  accepted: number;
  /** Datagrams from a sender other than the kernel (nl_pid != 0), dropped. */
  forged: number;
  /** Datagrams from the kernel that failed validation, dropped. */
  malformed: number;
  /** Receive-queue overflows detected (each one is a burst of lost datagrams). */
  overflows: number;
  /** Datagrams the kernel dropped for a full queue (SK_MEMINFO_DROPS), summed over all overflows. */
  dropped: number;
}

export interface OverflowInfo {
  /** Datagrams lost in this overflow (0 if unknown, e.g. reported as ENOBUFS by recvmsg). */
  dropped: number;
  /** Total lost since the socket was opened. */
  totalDropped: number;
}

export interface UeventSocketEvents {
  uevent: [event: Uevent, raw: Buffer];
  overflow: [info: OverflowInfo];
  forged: [raw: Buffer, sender: MessageInfo];
  malformed: [error: UeventError, raw: Buffer];
  error: [error: Error];
}

export class UeventSocket extends EventEmitter<UeventSocketEvents> {
  readonly counters: UeventCounters = { received: 0, accepted: 0, forged: 0, malformed: 0, overflows: 0, dropped: 0 };
  private readonly nl: UeventNetlink;
  private readonly logger: Logger;
  private lastDrops: number;
  /** A drop check is scheduled for the end of this wake-up's messages. */
  private dropCheckPending = false;
  /** SK_MEMINFO_DROPS when this process took the socket (non-zero on a handed-over socket that overflowed before). */
  readonly dropsAtOpen: number | undefined;

  private constructor(nl: UeventNetlink, logger: Logger) {
    super();
    this.nl = nl;
    this.logger = logger;
    this.dropsAtOpen = nl.drops();
    this.lastDrops = this.dropsAtOpen ?? 0;
    nl.raw.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    nl.raw.on('error', (err) => this.onError(err));
  }

  /** Opens the socket, forces the receive buffer, makes overflows non-fatal, then joins the kernel group. */
  static async open(opts: UeventSocketOptions = {}): Promise<UeventSocket> {
    const nl = await UeventNetlink.open({ groups: [GROUP_KERNEL], recvBufferSize: opts.recvBufferSize ?? DEFAULT_RECV_BUFFER, fd: opts.fd });
    return new UeventSocket(nl, opts.logger ?? log());
  }

  /** The netlink port the kernel assigned to this socket. */
  get port(): number {
    return this.nl.port;
  }

  /** SO_RCVBUF as reported by the kernel (twice the requested size). */
  get recvBufferSize(): number {
    return this.nl.recvBufferSize;
  }

  /** Whether overflows are detected through SK_MEMINFO_DROPS with NETLINK_NO_ENOBUFS set (see socket.ts). */
  get hardened(): boolean {
    return this.nl.hardened;
  }

  /** The descriptor (for FDSTORE=1), the socket's inode, and whether the service manager handed it over. */
  get fd(): number | undefined {
    return this.nl.fd;
  }
  get inode(): number | undefined {
    return this.nl.inode;
  }
  get adopted(): boolean {
    return this.nl.adopted;
  }

  /** The kernel's count of datagrams dropped on this socket since it was created (SK_MEMINFO_DROPS). */
  get drops(): number | undefined {
    return this.nl.drops();
  }

  /** Keeps (default) or stops keeping the event loop alive. */
  ref(): void {
    if (!this.nl.isClosed) this.nl.raw.ref();
  }
  unref(): void {
    if (!this.nl.isClosed) this.nl.raw.unref();
  }

  close(): void {
    this.nl.close();
  }

  private onMessage(msg: Buffer, rinfo: MessageInfo): void {
    this.counters.received++;
    this.checkDropsSoon();
    if (rinfo.port !== 0) {
      this.counters.forged++;
      this.logger.warn({ senderPort: rinfo.port, groups: rinfo.groups, bytes: msg.length }, 'netlink: dropped uevent not sent by the kernel');
      this.emit('forged', msg, rinfo);
      return;
    }
    const ev = parseUevent(msg);
    if (ev instanceof UeventError) {
      this.malformed(ev, msg);
      return;
    }
    this.counters.accepted++;
    this.emit('uevent', ev, msg);
  }

  private malformed(err: UeventError, msg: Buffer): void {
    this.counters.malformed++;
    this.logger.warn({ code: err.code, bytes: msg.length, head: msg.subarray(0, 64).toString('latin1').replace(/\0/g, '\\0') }, `netlink: dropped malformed uevent: ${err.message}`);
    this.emit('malformed', err, msg);
  }

  /** One SO_MEMINFO read per wake-up (after the messages read in it), not one per message. */
  private checkDropsSoon(): void {
    if (this.dropCheckPending) return;
    this.dropCheckPending = true;
    setImmediate(() => {
      this.dropCheckPending = false;
      this.checkDrops();
    });
  }

  private checkDrops(): void {
    const d = this.nl.drops();
    if (d === undefined || d === this.lastDrops) return;
    const lost = (d - this.lastDrops) >>> 0; // u32 counter, wraps
    this.lastDrops = d;
    this.overflow(lost);
  }

  private overflow(lost: number): void {
    this.counters.overflows++;
    this.counters.dropped += lost;
    this.logger.error({ dropped: lost, totalDropped: this.counters.dropped, recvBuffer: this.recvBufferSize }, 'netlink: uevent receive queue overflowed, events were lost');
    this.emit('overflow', { dropped: lost, totalDropped: this.counters.dropped });
  }

  private onError(err: ErrnoException): void {
    if (err.code === 'ENOBUFS') {
      // Only without NETLINK_NO_ENOBUFS: recvmsg reports the overflow once; the count comes from SO_MEMINFO if readable.
      const before = this.counters.overflows;
      this.checkDrops();
      if (this.counters.overflows === before) this.overflow(0);
      return;
    }
    this.logger.error({ err: err.message, code: err.code }, 'netlink: uevent socket error');
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
