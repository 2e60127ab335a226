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
// wrong length or with the wrong magic is ignored and the connection closed.
//
// Node's net module has no SOCK_SEQPACKET, so the socket is made through libc (src/sys/socket.ts), and libuv
// watches its descriptor (src/sys/poll.ts, a uv_poll handle on the main loop): every call (accept4, recvmsg, close)
// is made only once the descriptor is ready and with a non-blocking descriptor, so nothing here ever blocks the
// event loop. Why not a worker thread: docs/CONTROL.md.
import { errnoName } from '../sys/errno.js';
import { close } from '../sys/file.js';
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
  setsockoptInt,
  SO_PASSCRED,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  socket,
  SOL_SOCKET,
} from '../sys/socket.js';
import { unlinkSync, chmodSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { claimSocketPath, ControlError, type ControlHandler } from './control.js';

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
  /** Connections or messages refused, by reason. */
  refused: { uid: number; credentials: number; length: number; magic: number };
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
}

const { EAGAIN, EINTR } = constants.errno;
const LISTEN_BACKLOG = 4096;
/** The receive buffer: larger than a message, so that a longer one shows as MSG_TRUNC. */
const RECV_SIZE = 512;

// ------------------------------------------------------------------ the server

interface Connection {
  fd: number;
  pid: number;
  watch: ReadableWatch;
  idle: NodeJS.Timeout | undefined;
  closed: boolean;
}

/**
 * Listens on <runRoot>/control (mode 0600) for udev's binary control protocol and maps each message onto the
 * daemon's ControlHandler. A stale socket file is replaced; a live one (udevd or another devmaster) is an error.
 */
export function startUdevCtrlServer(runRoot: string, handler: ControlHandler, log: Logger, opts: UdevCtrlOptions = {}): UdevCtrlServer {
  const path = udevCtrlSocketPath(runRoot);
  const idleTimeoutMs = opts.idleTimeoutMs ?? 10_000;
  claimSocketPath(path, SOCK_SEQPACKET);
  const listenFd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC);
  // Backlog: systemd-udevd-control.socket leaves Backlog= at its default (SOMAXCONN). With udevd's own listen(fd, 0)
  // a second udevadm arriving while one is served gets EAGAIN from its non-blocking connect() and fails
  // ("Failed to send reload request: Resource temporarily unavailable"); here it waits its turn.
  try {
    bindAndListen(listenFd, path, LISTEN_BACKLOG);
  } catch (e) {
    close(listenFd);
    throw e;
  }
  chmodSync(path, 0o600); // as systemd-udevd-control.socket: SocketMode=0600
  // PassCredentials=yes on the listening socket (as the socket unit does): accepted sockets inherit it, so a
  // message the client sends between our accept() and the setsockopt() below still carries its credentials
  // (without it the kernel reports pid 0, uid 65534 for such a message).
  const passcred = setsockoptInt(listenFd, SOL_SOCKET, SO_PASSCRED, 1);
  if (passcred < 0) log.warn(`udev control: SO_PASSCRED on the listening socket failed: ${errnoName(-passcred)}`);

  const stats: UdevCtrlStats = { connections: 0, messages: 0, byType: {}, refused: { uid: 0, credentials: 0, length: 0, magic: 0 }, unknownType: 0, idleTimeouts: 0, errors: 0 };
  const data = Buffer.alloc(RECV_SIZE);
  let conn: Connection | undefined;
  let closed = false;
  let listening = true;

  const closeConn = (k: Connection, reason: string) => {
    if (k.closed) return;
    k.closed = true;
    log.debug({ pid: k.pid, reason }, 'udev control: connection closed');
    if (k.idle) clearTimeout(k.idle);
    k.watch.close();
    close(k.fd);
    if (conn === k) conn = undefined;
    if (!closed && listening) listenWatch.start(); // next client (one connection at a time, as udevd)
  };

  const armIdle = (k: Connection) => {
    if (k.idle) clearTimeout(k.idle);
    k.idle = setTimeout(() => {
      stats.idleTimeouts++;
      log.warn({ pid: k.pid }, `udev control: client sent nothing for ${idleTimeoutMs / 1000} s, closing the connection`);
      closeConn(k, 'idle');
    }, idleTimeoutMs);
    k.idle.unref();
  };

  const onAccept = (status: number) => {
    if (closed || conn) return;
    if (status < 0) {
      stats.errors++;
      log.error({ status }, 'udev control: listening socket error');
      return;
    }
    const fd = accept4(listenFd, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (fd !== -EAGAIN && fd !== -EINTR) {
        stats.errors++;
        log.error(`udev control: accept failed: ${errnoName(-fd)}`);
      }
      return;
    }
    const peer = peerCredentials(fd);
    if (typeof peer === 'number') {
      stats.errors++;
      log.error(`udev control: cannot read the peer's credentials: ${errnoName(-peer)}`);
      close(fd);
      return;
    }
    const { pid, uid } = peer;
    if (uid !== 0) {
      stats.refused.uid++;
      log.warn({ uid, pid }, `udev control: connection from uid ${uid} refused (only root may control the daemon)`);
      close(fd);
      return;
    }
    const passcredConn = setsockoptInt(fd, SOL_SOCKET, SO_PASSCRED, 1);
    if (passcredConn < 0) log.warn(`udev control: SO_PASSCRED failed: ${errnoName(-passcredConn)}`);
    stats.connections++;
    const k: Connection = { fd, pid, watch: undefined as unknown as ReadableWatch, idle: undefined, closed: false };
    conn = k;
    listenWatch.stop();
    k.watch = watchReadable(fd, (st) => onReadable(k, st));
    armIdle(k);
  };

  const onReadable = (k: Connection, status: number) => {
    if (k.closed) return;
    if (status < 0) {
      closeConn(k, `poll status ${status}`);
      return;
    }
    const r = recvWithCredentials(k.fd, data, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (typeof r === 'number') {
      if (r === -EAGAIN || r === -EINTR) return;
      closeConn(k, `recvmsg ${errnoName(-r)}`); // ECONNRESET and the like: the client is gone
      return;
    }
    const { n, flags, cred } = r;
    if (n === 0) {
      closeConn(k, 'client closed'); // the client closed its end
      return;
    }
    const refuse = (reason: keyof UdevCtrlStats['refused'], msg: string, extra: Record<string, unknown> = {}) => {
      stats.refused[reason]++;
      log.warn({ pid: cred?.pid ?? k.pid, ...extra }, `udev control: ${msg}, message ignored and connection closed`);
      closeConn(k, `refused: ${reason}`);
    };
    if (flags & MSG_TRUNC || n !== UDEV_CTRL_MSG_SIZE) return refuse('length', `message of ${flags & MSG_TRUNC ? `more than ${RECV_SIZE}` : n} bytes (expected ${UDEV_CTRL_MSG_SIZE})`);
    if (flags & MSG_CTRUNC || !cred) return refuse('credentials', 'no sender credentials received');
    if (cred.uid !== 0) return refuse('uid', `message from uid ${cred.uid} (only root may control the daemon)`, { uid: cred.uid });
    const msg = decodeUdevCtrlMessage(data.subarray(0, n));
    if (msg.magic !== UDEV_CTRL_MAGIC) return refuse('magic', `message magic 0x${msg.magic.toString(16).padStart(8, '0')} does not match 0x${UDEV_CTRL_MAGIC.toString(16)}`);
    stats.messages++;
    const name = TYPE_NAMES[msg.type] ?? `type-${msg.type}`;
    stats.byType[name] = (stats.byType[name] ?? 0) + 1;
    if (msg.type === UdevCtrlType.END_MESSAGES) {
      closeConn(k, 'end of messages'); // the answer: the client waits for this close
      return;
    }
    // One message at a time, in order: stop reading until this one is handled.
    k.watch.stop();
    if (k.idle) clearTimeout(k.idle);
    void handle(msg, cred.pid).then((keep) => {
      if (k.closed) return;
      if (!keep) {
        closeConn(k, 'exit');
        return;
      }
      armIdle(k);
      k.watch.start();
    });
  };

  /** Runs one message; resolves false when the connection must close (exit). */
  const handle = async (msg: UdevCtrlMessage, pid: number): Promise<boolean> => {
    const l = log.child({ pid });
    try {
      switch (msg.type) {
        case UdevCtrlType.SET_LOG_LEVEL: {
          const r = handler.setLogLevel(String(msg.intval));
          l.info(`udev control: log level set to ${String(r.logLevel ?? msg.intval)} (syslog priority ${msg.intval})`);
          break;
        }
        case UdevCtrlType.STOP_EXEC_QUEUE:
          handler.stopExecQueue();
          l.info('udev control: exec queue stopped');
          break;
        case UdevCtrlType.START_EXEC_QUEUE:
          handler.startExecQueue();
          l.info('udev control: exec queue started');
          break;
        case UdevCtrlType.RELOAD: {
          const r = await handler.reload();
          const errors = Array.isArray(r.errors) ? r.errors.length : 0;
          l.info({ generation: r.generation, errors }, `udev control: rules reloaded${errors ? ` (${errors} error(s), the previous version of those files stays)` : ''}`);
          break;
        }
        case UdevCtrlType.SET_ENV: {
          const eq = msg.buf.indexOf('=');
          if (eq <= 0) {
            l.error(`udev control: set env: invalid '${msg.buf}' (expected KEY=VALUE, or KEY= to unset)`);
            break;
          }
          if (!handler.setEnv) {
            l.error(`udev control: set env '${msg.buf}' rejected: this daemon keeps no global properties`);
            break;
          }
          const key = msg.buf.slice(0, eq);
          const value = msg.buf.slice(eq + 1);
          handler.setEnv(key, value === '' ? undefined : value);
          l.info(value === '' ? `udev control: global property ${key} unset` : `udev control: global property ${key}=${value} set for every event`);
          break;
        }
        case UdevCtrlType.SET_CHILDREN_MAX: {
          if (msg.intval < 0) {
            l.warn(`udev control: children max ${msg.intval} ignored (must not be negative)`);
            break;
          }
          const r = handler.setChildrenMax(msg.intval);
          l.info(`udev control: children max set to ${String(r.childrenMax ?? msg.intval)}`);
          break;
        }
        case UdevCtrlType.PING:
          // Answer after the uevents the kernel already sent were read and queued: `udevadm settle` looks at the
          // queue flag right after this answer.
          await handler.catchUp?.();
          l.debug('udev control: ping');
          break;
        case UdevCtrlType.EXIT:
          l.info('udev control: exit requested');
          stopListening(); // as udevd: no further control connections while exiting (the file goes at close)
          await handler.exit();
          return false;
        default:
          stats.unknownType++;
          l.warn(`udev control: unknown message type ${msg.type} ignored`);
      }
    } catch (e) {
      stats.errors++;
      l.error({ type: TYPE_NAMES[msg.type] ?? msg.type }, `udev control: ${(e as Error).message}`);
    }
    return true;
  };

  const listenWatch = watchReadable(listenFd, onAccept);
  const stopListening = () => {
    if (!listening) return;
    listening = false;
    listenWatch.close();
    close(listenFd);
  };

  return {
    path,
    stats: () => ({ ...stats, byType: { ...stats.byType }, refused: { ...stats.refused } }),
    close: () => {
      if (closed) return;
      closed = true;
      if (conn) closeConn(conn, 'server closed');
      stopListening();
      try {
        unlinkSync(path);
      } catch {
        /* gone */
      }
    },
  };
}
