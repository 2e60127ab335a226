// udev's own control protocol on <run>/control (/run/udev/control): what Debian's `udevadm control` and
// `udevadm settle` speak, so scripts, initramfs hooks and package postinsts work unchanged against devmaster.
// See docs/CONTROL.md ("udevadm control and settle").
//
// Wire format (systemd 252, src/udev/udev-ctrl.c): an AF_UNIX SOCK_SEQPACKET socket; every message is one
// 280-byte datagram, native endian:
//   char version[16]   "udev-252" (informational, not checked)
//   u32  magic         0xdead1dea
//   i32  type          0 end-of-messages, 1 set log level, 2 stop exec queue, 3 start exec queue, 4 reload,
//                      5 set env, 6 set children max, 7 ping, 8 exit
//   union value[256]   i32 intval (log level, children max) or a NUL-terminated "KEY=VALUE" (set env)
// A client connects, sends its messages, then an end-of-messages message, and waits until the server closes
// the connection: that close is the only answer. After `exit` it sends no end message and waits for the close.
// The server accepts one connection at a time, refuses a peer whose SO_PEERCRED uid is not 0 (closes at once),
// and reads each message with SO_PASSCRED: a message without SCM_CREDENTIALS, from a uid other than 0, of the
// wrong length or with the wrong magic, or past MAX_MESSAGES on one connection, is ignored and the connection
// closed. The socket file is created with mode 0600 (no window where it is more open).
//
// Node's net module has no SOCK_SEQPACKET, so the socket is made through libc (src/sys/socket.ts), and libuv
// watches its descriptor (src/sys/poll.ts, a uv_poll handle on the main loop): every call (accept4, recvmsg, close)
// is made only once the descriptor is ready and with a non-blocking descriptor, so nothing here ever blocks the
// event loop. Why not a worker thread: docs/CONTROL.md.
import { errnoName } from '../sys/errno.js';
import { close, setFdFlags } from '../sys/file.js';
import { watchReadable, type ReadableWatch } from '../sys/poll.js';
import {
  accept4,
  AF_UNIX,
  bindAndListen,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_TRUNC,
  peerCredentials,
  recvWithCredentials,
  type Received,
  setsockoptInt,
  SO_PASSCRED,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  socket,
  SOL_SOCKET,
  type Ucred,
} from '../sys/socket.js';
import { rmSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { claimSocketPath, type ControlHandler } from './control.js';

export const UDEV_CTRL_SOCKET_NAME = 'control';
export const UDEV_CTRL_MAGIC = 0xdead1dea;
/** sizeof(struct udev_ctrl_msg_wire): 16 + 4 + 4 + 256. */
export const UDEV_CTRL_MSG_SIZE = 280;

export const UdevCtrlType = {
  END_MESSAGES: 0,
  SET_LOG_LEVEL: 1,
  STOP_EXEC_QUEUE: 2,
  START_EXEC_QUEUE: 3,
  RELOAD: 4,
  SET_ENV: 5,
  SET_CHILDREN_MAX: 6,
  PING: 7,
  EXIT: 8,
} as const;

const TYPE_NAMES = ['end', 'log-level', 'stop-exec-queue', 'start-exec-queue', 'reload', 'set-env', 'children-max', 'ping', 'exit'] as const;

export function udevCtrlSocketPath(runRoot: string): string {
  return join(runRoot, UDEV_CTRL_SOCKET_NAME);
}

export interface UdevCtrlMessage {
  version: string;
  magic: number;
  type: number;
  intval: number;
  /** The value as a NUL-terminated string (set env). */
  buf: string;
}

/** Builds one wire message (for tests and tools). */
export function encodeUdevCtrlMessage(type: number, value?: number | string, opts: { magic?: number; version?: string } = {}): Buffer {
  const b = Buffer.alloc(UDEV_CTRL_MSG_SIZE);
  b.write((opts.version ?? 'udev-252').slice(0, 15), 0, 'latin1');
  b.writeUInt32LE(opts.magic ?? UDEV_CTRL_MAGIC, 16);
  b.writeInt32LE(type, 20);
  if (typeof value === 'number') b.writeInt32LE(value, 24);
  else if (typeof value === 'string') b.write(value.slice(0, 255), 24, 'utf8');
  return b;
}

export function decodeUdevCtrlMessage(b: Buffer): UdevCtrlMessage {
  if (b.length !== UDEV_CTRL_MSG_SIZE) throw new Error(`udev control message of ${b.length} bytes (expected ${UDEV_CTRL_MSG_SIZE})`);
  const cstr = (start: number, end: number) => {
    const nul = b.indexOf(0, start);
    return b.toString('utf8', start, nul < 0 || nul > end ? end : nul);
  };
  return { version: cstr(0, 16), magic: b.readUInt32LE(16), type: b.readInt32LE(20), intval: b.readInt32LE(24), buf: cstr(24, UDEV_CTRL_MSG_SIZE) };
}

export interface UdevCtrlStats {
  connections: number;
  /** Valid messages handled (end-of-messages included). */
  messages: number;
  byType: Record<string, number>;
  /** Connections or messages refused, by reason (count: more than MAX_MESSAGES on one connection). */
  refused: { uid: number; credentials: number; length: number; magic: number; count: number };
  unknownType: number;
  /** Connections closed because the client sent nothing for idleTimeoutMs. */
  idleTimeouts: number;
  errors: number;
}

export interface UdevCtrlServer {
  path: string;
  stats(): UdevCtrlStats;
  close(): void;
}

export interface UdevCtrlOptions {
  /** Close a connection that sends nothing for this long (default 10 s; udevd 252 has no limit). */
  idleTimeoutMs?: number;
  /**
   * A listening SOCK_SEQPACKET socket handed over by the service manager (systemd's control socket unit), served
   * instead of binding <run>/control: nothing is created, probed or removed; the manager owns the file.
   */
  fd?: number;
}

const { EAGAIN, EINTR } = constants.errno;
const LISTEN_BACKLOG = 4096;
/** The receive buffer: larger than a message, so that a longer one shows as MSG_TRUNC. */
const RECV_SIZE = 512;
/** Messages on one connection (udevadm control sends a handful); the one after closes the connection unread. */
export const MAX_MESSAGES = 64;

// ------------------------------------------------------------------ transport: one SOCK_SEQPACKET connection at a time

/** One accepted client connection. */
interface Connection {
  readonly fd: number;
  /** The peer's pid (SO_PEERCRED), for logs. */
  readonly pid: number;
  watch: ReadableWatch;
  idle: NodeJS.Timeout | undefined;
  closed: boolean;
  /** Datagrams read so far. */
  messages: number;
}

interface TransportHandlers {
  /** A client connected with these credentials: false refuses it (the connection is closed at once). */
  accept(peer: Ucred): boolean;
  /**
   * One datagram (its bytes are in `data`) with what came with it. Reading stops until `resume` or
   * `closeConnection` is called for the connection.
   */
  datagram(conn: Connection, r: Received, data: Buffer): void;
  /** The client sent nothing for the idle timeout (the connection is being closed). */
  idle(conn: Connection): void;
  /** Accepting failed (the server goes on). */
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * The listening AF_UNIX SOCK_SEQPACKET socket and the one connection served at a time (as udevd): non-blocking
 * descriptors watched by libuv, a datagram at a time, an idle timeout.
 */
class SeqpacketTransport {
  readonly path: string;
  #listenFd: number;
  #listenWatch: ReadableWatch;
  #listening = true;
  #closed = false;
  #conn: Connection | undefined;
  #data = Buffer.alloc(RECV_SIZE);
  #handlers: TransportHandlers;
  #idleTimeoutMs: number;
  #log: Logger;
  /** The socket file is ours (not handed over by the service manager): removed at close. */
  #own: boolean;

  constructor(path: string, handlers: TransportHandlers, idleTimeoutMs: number, log: Logger, handedOver?: number) {
    this.path = path;
    this.#handlers = handlers;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#log = log;
    this.#own = handedOver === undefined;
    this.#listenFd = handedOver ?? this.#bind(path);
    if (handedOver !== undefined) setFdFlags(handedOver, { nonblock: true, cloexec: true }); // a manager may pass it blocking
    // PassCredentials=yes on the listening socket (as the socket unit does): accepted sockets inherit it, so a
    // message the client sends between our accept() and the setsockopt() of the connection still carries its
    // credentials (without it the kernel reports pid 0, uid 65534 for such a message).
    const passcred = setsockoptInt(this.#listenFd, SOL_SOCKET, SO_PASSCRED, 1);
    if (passcred < 0) log.warn(`udev control: SO_PASSCRED on the listening socket failed: ${errnoName(-passcred)}`);
    this.#listenWatch = watchReadable(this.#listenFd, (status) => this.#accept(status));
  }

  /** A new listening socket at `path` (a stale socket file replaced, a live one refused), mode 0600. */
  #bind(path: string): number {
    claimSocketPath(path, SOCK_SEQPACKET);
    const fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
    // Backlog: systemd-udevd-control.socket leaves Backlog= at its default (SOMAXCONN). With udevd's own listen(fd, 0)
    // a second udevadm arriving while one is served gets EAGAIN from its non-blocking connect() and fails
    // ("Failed to send reload request: Resource temporarily unavailable"); here it waits its turn.
    try {
      bindAndListen(fd, path, LISTEN_BACKLOG, 0o600); // as systemd-udevd-control.socket: SocketMode=0600, from the start
    } catch (e) {
      close(fd);
      throw e;
    }
    return fd;
  }

  #accept(status: number): void {
    if (this.#closed || this.#conn) return;
    if (status < 0) return this.#handlers.error('udev control: listening socket error', { status });
    const fd = accept4(this.#listenFd, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (fd !== -EAGAIN && fd !== -EINTR) this.#handlers.error(`udev control: accept failed: ${errnoName(-fd)}`);
      return;
    }
    const peer = peerCredentials(fd);
    if (typeof peer === 'number') {
      this.#handlers.error(`udev control: cannot read the peer's credentials: ${errnoName(-peer)}`);
      close(fd);
      return;
    }
    if (!this.#handlers.accept(peer)) {
      close(fd);
      return;
    }
    const passcred = setsockoptInt(fd, SOL_SOCKET, SO_PASSCRED, 1);
    if (passcred < 0) this.#log.warn(`udev control: SO_PASSCRED failed: ${errnoName(-passcred)}`);
    const conn: Connection = { fd, pid: peer.pid, watch: watchReadable(fd, (st) => this.#read(conn, st)), idle: undefined, closed: false, messages: 0 };
    this.#conn = conn;
    this.#listenWatch.stop();
    this.#armIdle(conn);
  }

  #read(conn: Connection, status: number): void {
    if (conn.closed) return;
    if (status < 0) return this.closeConnection(conn, `poll status ${status}`);
    const r = recvWithCredentials(conn.fd, this.#data, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (typeof r === 'number') {
      if (r === -EAGAIN || r === -EINTR) return;
      return this.closeConnection(conn, `recvmsg ${errnoName(-r)}`); // ECONNRESET and the like: the client is gone
    }
    if (r.n === 0) return this.closeConnection(conn, 'client closed');
    conn.messages++;
    // one message at a time, in order: stop reading until this one is handled
    conn.watch.stop();
    if (conn.idle) clearTimeout(conn.idle);
    this.#handlers.datagram(conn, r, this.#data.subarray(0, r.n));
  }

  #armIdle(conn: Connection): void {
    if (conn.idle) clearTimeout(conn.idle);
    conn.idle = setTimeout(() => {
      this.#handlers.idle(conn);
      this.closeConnection(conn, 'idle');
    }, this.#idleTimeoutMs);
    conn.idle.unref();
  }

  /** Reads the connection's next datagram (after one was handled). */
  resume(conn: Connection): void {
    if (conn.closed) return;
    this.#armIdle(conn);
    conn.watch.start();
  }

  closeConnection(conn: Connection, reason: string): void {
    if (conn.closed) return;
    conn.closed = true;
    this.#log.debug({ pid: conn.pid, reason }, 'udev control: connection closed');
    if (conn.idle) clearTimeout(conn.idle);
    conn.watch.close();
    close(conn.fd);
    if (this.#conn === conn) this.#conn = undefined;
    if (!this.#closed && this.#listening) this.#listenWatch.start(); // the next client
  }

  /** No further connections (the socket file stays until close()). */
  stopListening(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.#listenWatch.close();
    close(this.#listenFd);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#conn) this.closeConnection(this.#conn, 'server closed');
    this.stopListening();
    if (this.#own) rmSync(this.path, { force: true }); // the manager's socket: it keeps the file for the next daemon
  }
}

// ------------------------------------------------------------------ credentials

/** A refused connection or message: the stats key, and what is logged. */
interface Refusal {
  reason: keyof UdevCtrlStats['refused'];
  text: string;
  fields?: Record<string, unknown>;
}

/** Only root may control the daemon (udevd refuses a peer whose SO_PEERCRED uid is not 0). */
function refusePeer(peer: Ucred): Refusal | undefined {
  if (peer.uid === 0) return undefined;
  return { reason: 'uid', text: `connection from uid ${peer.uid} refused (only root may control the daemon)`, fields: { uid: peer.uid, pid: peer.pid } };
}

/**
 * Checks one datagram as udevd does: exactly one message long, sent with SCM_CREDENTIALS of uid 0, with udev's
 * magic. Returns the message, or why it is refused.
 */
function checkDatagram(r: Received, data: Buffer, nth: number): { msg: UdevCtrlMessage; cred: Ucred } | Refusal {
  if (nth > MAX_MESSAGES) return { reason: 'count', text: `more than ${MAX_MESSAGES} messages on one connection` };
  if (r.flags & MSG_TRUNC || r.n !== UDEV_CTRL_MSG_SIZE) return { reason: 'length', text: `message of ${r.flags & MSG_TRUNC ? `more than ${RECV_SIZE}` : r.n} bytes (expected ${UDEV_CTRL_MSG_SIZE})` };
  const cred = r.cred;
  if (r.flags & MSG_CTRUNC || !cred) return { reason: 'credentials', text: 'no sender credentials received' };
  if (cred.uid !== 0) return { reason: 'uid', text: `message from uid ${cred.uid} (only root may control the daemon)`, fields: { uid: cred.uid } };
  const msg = decodeUdevCtrlMessage(data);
  if (msg.magic !== UDEV_CTRL_MAGIC) return { reason: 'magic', text: `message magic 0x${msg.magic.toString(16).padStart(8, '0')} does not match 0x${UDEV_CTRL_MAGIC.toString(16)}` };
  return { msg, cred };
}

// ------------------------------------------------------------------ protocol

/**
 * Runs one message on the daemon's ControlHandler. Resolves 'exit' when the connection must close without an
 * end message (exit), 'continue' otherwise; `stopListening` runs first on exit (as udevd: no further control
 * connections while exiting).
 */
async function dispatch(msg: UdevCtrlMessage, handler: ControlHandler, log: Logger, stats: UdevCtrlStats, stopListening: () => void): Promise<'continue' | 'exit'> {
  try {
    switch (msg.type) {
      case UdevCtrlType.SET_LOG_LEVEL: {
        const r = handler.setLogLevel(String(msg.intval));
        log.info(`udev control: log level set to ${String(r.logLevel ?? msg.intval)} (syslog priority ${msg.intval})`);
        break;
      }
      case UdevCtrlType.STOP_EXEC_QUEUE:
        handler.stopExecQueue();
        log.info('udev control: exec queue stopped');
        break;
      case UdevCtrlType.START_EXEC_QUEUE:
        handler.startExecQueue();
        log.info('udev control: exec queue started');
        break;
      case UdevCtrlType.RELOAD: {
        const r = await handler.reload();
        const errors = Array.isArray(r.errors) ? r.errors.length : 0;
        log.info({ generation: r.generation, errors }, `udev control: rules reloaded${errors ? ` (${errors} error(s), the previous version of those files stays)` : ''}`);
        break;
      }
      case UdevCtrlType.SET_ENV:
        setEnv(msg.buf, handler, log);
        break;
      case UdevCtrlType.SET_CHILDREN_MAX: {
        if (msg.intval < 0) {
          log.warn(`udev control: children max ${msg.intval} ignored (must not be negative)`);
          break;
        }
        const r = handler.setChildrenMax(msg.intval);
        log.info(`udev control: children max set to ${String(r.childrenMax ?? msg.intval)}`);
        break;
      }
      case UdevCtrlType.PING:
        // Answer after the uevents the kernel already sent were read and queued: `udevadm settle` looks at the
        // queue flag right after this answer.
        await handler.catchUp?.();
        log.debug('udev control: ping');
        break;
      case UdevCtrlType.EXIT:
        log.info('udev control: exit requested');
        stopListening();
        await handler.exit();
        return 'exit';
      default:
        stats.unknownType++;
        log.warn(`udev control: unknown message type ${msg.type} ignored`);
    }
  } catch (e) {
    stats.errors++;
    log.error({ type: TYPE_NAMES[msg.type] ?? msg.type }, `udev control: ${(e as Error).message}`);
  }
  return 'continue';
}

/** SET_ENV: "KEY=VALUE" sets a global property, "KEY=" unsets it. */
function setEnv(buf: string, handler: ControlHandler, log: Logger): void {
  const eq = buf.indexOf('=');
  if (eq <= 0) {
    log.error(`udev control: set env: invalid '${buf}' (expected KEY=VALUE, or KEY= to unset)`);
    return;
  }
  if (!handler.setEnv) {
    log.error(`udev control: set env '${buf}' rejected: this daemon keeps no global properties`);
    return;
  }
  const key = buf.slice(0, eq);
  const value = buf.slice(eq + 1);
  handler.setEnv(key, value === '' ? undefined : value);
  log.info(value === '' ? `udev control: global property ${key} unset` : `udev control: global property ${key}=${value} set for every event`);
}

// ------------------------------------------------------------------ the server

/**
 * Listens on <runRoot>/control (mode 0600) for udev's binary control protocol and maps each message onto the
 * daemon's ControlHandler. A stale socket file is replaced; a live one (udevd or another devmaster) is an error.
 */
export function startUdevCtrlServer(runRoot: string, handler: ControlHandler, log: Logger, opts: UdevCtrlOptions = {}): UdevCtrlServer {
  const idleTimeoutMs = opts.idleTimeoutMs ?? 10_000;
  const stats: UdevCtrlStats = { connections: 0, messages: 0, byType: {}, refused: { uid: 0, credentials: 0, length: 0, magic: 0, count: 0 }, unknownType: 0, idleTimeouts: 0, errors: 0 };
  const refuse = (r: Refusal, pid: number) => {
    stats.refused[r.reason]++;
    log.warn({ pid, ...r.fields }, `udev control: ${r.text}`);
  };
  const transport: SeqpacketTransport = new SeqpacketTransport(
    udevCtrlSocketPath(runRoot),
    {
      accept: (peer) => {
        const refusal = refusePeer(peer);
        if (refusal) {
          refuse(refusal, peer.pid);
          return false;
        }
        stats.connections++;
        return true;
      },
      datagram: (conn, r, data) => {
        const checked = checkDatagram(r, data, conn.messages);
        if ('reason' in checked) {
          refuse({ ...checked, text: `${checked.text}, message ignored and connection closed` }, r.cred?.pid ?? conn.pid);
          return transport.closeConnection(conn, `refused: ${checked.reason}`);
        }
        const { msg, cred } = checked;
        stats.messages++;
        const name = TYPE_NAMES[msg.type] ?? `type-${msg.type}`;
        stats.byType[name] = (stats.byType[name] ?? 0) + 1;
        // the answer to a client's messages: the close after its end-of-messages, which it waits for
        if (msg.type === UdevCtrlType.END_MESSAGES) return transport.closeConnection(conn, 'end of messages');
        void dispatch(msg, handler, log.child({ pid: cred.pid }), stats, () => transport.stopListening()).then((next) => {
          if (next === 'exit') transport.closeConnection(conn, 'exit');
          else transport.resume(conn);
        });
      },
      idle: (conn) => {
        stats.idleTimeouts++;
        log.warn({ pid: conn.pid }, `udev control: client sent nothing for ${idleTimeoutMs / 1000} s, closing the connection`);
      },
      error: (message, fields) => {
        stats.errors++;
        log.error(fields ?? {}, message);
      },
    },
    idleTimeoutMs,
    log,
    opts.fd,
  );
  return {
    path: transport.path,
    stats: () => ({ ...stats, byType: { ...stats.byType }, refused: { ...stats.refused } }),
    close: () => transport.close(),
  };
}
