// Talking to the service manager as sd_notify(3) does: state lines ("READY=1", "STATUS=...", "RELOADING=1",
// "STOPPING=1", "WATCHDOG=1", "FDSTORE=1") in one datagram to the AF_UNIX socket named by $NOTIFY_SOCKET (a path,
// or "@name" for an abstract socket), descriptors attached with SCM_RIGHTS. Nothing at all when the variable is
// unset: the daemon then runs by hand or under a manager without notification.
//
//   const n = Notifier.fromEnv();        // undefined without $NOTIFY_SOCKET
//   n?.ready('Processing with 16 children at max');
//   n?.startWatchdog(watchdogUsec());    // WATCHDOG=1 every half period, on the main loop
//
// udevd's messages (systemd 257, udev-manager.c) are the model: READY=1 with "Processing with N children at
// max", RELOADING=1 with MONOTONIC_USEC (systemd 253+ ties a reload to the request by it) then READY=1 again,
// STOPPING=1 with "Shutting down...".
import { sendUnixDatagram } from '../sys/socket.js';
import { monotonicUsec } from '../util/clock.js';
import type { Logger } from '../log.js';

/**
 * The watchdog period the manager asks for, in microseconds, as sd_watchdog_enabled() reads it: $WATCHDOG_USEC
 * (a positive integer), valid only for this process when $WATCHDOG_PID is set. undefined when off.
 */
export function watchdogUsec(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^\d+$/.test(usec) || Number(usec) === 0) return undefined;
  const wpid = env.WATCHDOG_PID;
  if (wpid !== undefined && wpid !== '' && Number(wpid) !== pid) return undefined;
  return Number(usec);
}

/** Removes the notification variables so that programs the rules run do not inherit them. */
export function unsetNotifyEnv(env: NodeJS.ProcessEnv = process.env): void {
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
}

/** One state field per line; values must not contain newlines (sd_notify's rule). */
export function formatState(fields: Record<string, string | number>): string {
  return Object.entries(fields)
    .map(([k, v]) => {
      const s = String(v);
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new Error(`invalid notification field name '${k}'`);
      if (s.includes('\n')) throw new Error(`notification field ${k} must not contain a newline`);
      return `${k}=${s}`;
    })
    .join('\n');
}

export class Notifier {
  /** The socket address as given ($NOTIFY_SOCKET). */
  readonly address: string;
  readonly #log: Logger | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  /** Datagrams sent and send failures, for the status reply. */
  readonly stats = { sent: 0, failed: 0, watchdog: 0 };

  constructor(address: string, log?: Logger) {
    if (address.startsWith('vsock:')) throw new Error(`NOTIFY_SOCKET=${address}: AF_VSOCK notification sockets are not supported`);
    if (!address.startsWith('/') && !address.startsWith('@')) throw new Error(`NOTIFY_SOCKET=${address}: expected an absolute path or an abstract name (@...)`);
    this.address = address;
    this.#log = log;
  }

  /** A notifier for $NOTIFY_SOCKET, or undefined when the variable is unset or empty. */
  static fromEnv(env: NodeJS.ProcessEnv = process.env, log?: Logger): Notifier | undefined {
    const a = env.NOTIFY_SOCKET;
    return a ? new Notifier(a, log) : undefined;
  }

  /** Sends the fields (and descriptors) in one datagram; false (logged) when the send failed. */
  send(fields: Record<string, string | number>, fds: readonly number[] = []): boolean {
    const text = formatState(fields);
    try {
      sendUnixDatagram(this.address, Buffer.from(text, 'utf8'), fds);
      this.stats.sent++;
      return true;
    } catch (e) {
      this.stats.failed++;
      this.#log?.warn({ notifySocket: this.address, err: (e as Error).message, message: text.split('\n')[0] }, 'cannot notify the service manager');
      return false;
    }
  }

  ready(status: string): boolean {
    return this.send({ READY: 1, STATUS: status });
  }

  status(status: string): boolean {
    return this.send({ STATUS: status });
  }

  /**
   * RELOADING=1 with the time of the reload (CLOCK_MONOTONIC µs: libuv's hrtime reads it), as systemd 253+
   * expects before the READY=1 that ends it.
   */
  reloading(status = 'Reloading configuration...'): boolean {
    return this.send({ RELOADING: 1, STATUS: status, MONOTONIC_USEC: monotonicUsec() });
  }

  stopping(status = 'Shutting down...'): boolean {
    return this.send({ STOPPING: 1, STATUS: status });
  }

  /** A start-up failure: the manager shows the status and records the errno. */
  failed(status: string, errno?: number): boolean {
    return this.send(errno !== undefined && errno > 0 ? { STATUS: status, ERRNO: errno } : { STATUS: status });
  }

  /** Hands descriptors to the manager's file descriptor store under `name` (FDSTORE=1, FDNAME=). */
  storeFds(name: string, fds: readonly number[]): boolean {
    if (!/^[\x20-\x39\x3b-\x7e]{1,255}$/.test(name)) throw new Error(`invalid FDNAME '${name}' (1-255 printable ASCII characters, no ":")`);
    return this.send({ FDSTORE: 1, FDNAME: name }, fds);
  }

  /**
   * Sends WATCHDOG=1 now and then every half `usec` from a timer on the main loop, so a blocked event loop
   * misses its pings and the manager restarts the daemon. The timer does not keep the process alive.
   */
  startWatchdog(usec: number): void {
    this.stopWatchdog();
    const ping = () => {
      if (this.send({ WATCHDOG: 1 })) this.stats.watchdog++;
    };
    ping();
    this.#watchdog = setInterval(ping, Math.max(1, Math.floor(usec / 2000)));
    this.#watchdog.unref();
  }

  stopWatchdog(): void {
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = undefined;
  }

  get watchdogRunning(): boolean {
    return this.#watchdog !== undefined;
  }
}
