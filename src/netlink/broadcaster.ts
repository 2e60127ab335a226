// Broadcasting processed events to libudev clients: NETLINK_KOBJECT_UEVENT group 2 ("udev"), libudev format.
//
//   const b = await Broadcaster.open();
//   await b.broadcast(device.properties);          // Map or [key, value][] in the order to send
//   b.counters                                      // { sent, failed, bytes }
//   b.close();
//
// Receivers (sd-device / libudev) accept the datagram when the sender port is not 0 and the sender's
// credentials say uid 0 (the kernel attaches them; we run as root). Sending to a multicast group needs
// CAP_NET_ADMIN. The kernel also hands the datagram to its own uevent socket (destination port 0); it
// ignores it since "libudev\0..." is not a netlink message header it accepts.
import { constants as osConstants } from 'node:os';
import { log, type Logger } from '../log.js';
import { errnoName } from '../sys/errno.js';
import { encode, type EncodeMeta } from './libudev-format.js';
import { GROUP_UDEV, UeventNetlink } from './socket.js';

const { EAGAIN } = osConstants.errno;

export interface BroadcasterCounters {
  sent: number;
  failed: number;
  bytes: number;
}

export interface BroadcasterOptions {
  logger?: Logger;
}

export class Broadcaster {
  readonly counters: BroadcasterCounters = { sent: 0, failed: 0, bytes: 0 };
  private readonly nl: UeventNetlink;
  private readonly logger: Logger;

  private constructor(nl: UeventNetlink, logger: Logger) {
    this.nl = nl;
    this.logger = logger;
    nl.raw.on('error', (err) => this.logger.error({ err: err.message }, 'netlink: broadcast socket error'));
  }

  static async open(opts: BroadcasterOptions = {}): Promise<Broadcaster> {
    return new Broadcaster(await UeventNetlink.open({ groups: [] }), opts.logger ?? log());
  }

  #muted = false;

  /** From now on encodes each event and sends nothing (the build's rehearsal, src/daemon/rehearsal.ts). */
  mute(): void {
    this.#muted = true;
  }

  /** The sender port receivers see (nl_pid). */
  get port(): number {
    return this.nl.port;
  }

  /**
   * Encodes and multicasts one processed event. Resolves to the datagram size, or to 0 when the event could not
   * be encoded or sent (logged and counted in `failed`; never rejects).
   */
  broadcast(props: Map<string, string> | Iterable<readonly [string, string]>, meta: EncodeMeta = {}): number | Promise<number> {
    let buf: Buffer;
    try {
      buf = encode(props, meta);
    } catch (e) {
      this.counters.failed++;
      this.logger.warn({ err: (e as Error).message }, 'netlink: event not broadcast');
      return 0;
    }
    if (this.#held !== undefined) {
      this.#held.push(buf);
      return buf.length;
    }
    return this.sendRaw(buf);
  }

  /** The datagrams broadcast() encoded since hold(), in order, until release() sends them. */
  #held: Buffer[] | undefined;

  /**
   * From now until release(), broadcast() encodes each event and keeps the datagram: release() sends them back to
   * back. A listener that sleeps in recv() is woken by the first and finds the rest waiting, where a send per event
   * would wake it (and pay the scheduler's cross-CPU wake-up) again for each. The caller releases before it returns
   * to the event loop, so no client, settle or queue-idle signal can see an event done before its broadcast.
   */
  hold(): void {
    this.#held ??= [];
  }

  /** Sends what was held, in order (a datagram the socket cannot take at once is sent when it can, as sendRaw). */
  release(): void {
    const held = this.#held;
    this.#held = undefined;
    if (held === undefined) return;
    for (let i = 0; i < held.length; i++) void this.sendRaw(held[i]!);
  }

  /**
   * Sends an already encoded datagram to the udev group (used by tests and tools): at once when the socket takes
   * it (nearly always: a multicast does not wait for its receivers), so the size comes back without a promise;
   * else (a full send buffer) a promise of it, settled when the socket took it.
   */
  sendRaw(buf: Buffer): number | Promise<number> {
    if (this.#muted) return buf.length;
    const err = this.nl.sendNow(buf, GROUP_UDEV);
    if (err === EAGAIN) {
      return this.nl.send(buf, GROUP_UDEV).then(
        () => this.#sent(buf, undefined, ''),
        (e: NodeJS.ErrnoException) => this.#sent(buf, e.code, e.message),
      );
    }
    return err === 0 ? this.#sent(buf, undefined, '') : this.#sent(buf, errnoName(err), `sendto: ${errnoName(err)}`);
  }

  /** Counts a send; historically the kernel answered a multicast with ECONNREFUSED when nobody listened: not an error. */
  #sent(buf: Buffer, code: string | undefined, message: string): number {
    if (code !== undefined && code !== 'ECONNREFUSED') {
      this.counters.failed++;
      this.logger.warn({ err: message }, 'netlink: broadcast failed');
      return 0;
    }
    this.counters.sent++;
    this.counters.bytes += buf.length;
    return buf.length;
  }

  close(): void {
    this.nl.close();
  }
}
