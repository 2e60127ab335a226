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
// Node's net module has no SOCK_SEQPACKET, so the socket is made with koffi, and libuv watches its descriptor
// (koffi.node.poll, a uv_poll handle on the main loop): every call (accept4, recvmsg, close) is made only once the
// descriptor is ready and with a non-blocking descriptor, so nothing here ever blocks the event loop. Why not a
// worker thread: docs/CONTROL.md.
import { errnoName } from '../util/errno.js';
import { existsSync, lstatSync, unlinkSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';
import type { Logger } from '../log.js';
import { ControlError, type ControlHandler } from './control.js';
import { setFdFlags } from '../util/sys-service.js';

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
  /** 'poll': libuv watches the descriptors; 'timer': koffi lacked node.poll, descriptors are polled every 50 ms. */
  readonly mode: 'poll' | 'timer';
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

// ------------------------------------------------------------------ libc through koffi

const AF_UNIX = 1;
const SOCK_SEQPACKET = 5;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_PASSCRED = 16;
const SO_PEERCRED = 17;
const SCM_RIGHTS = 1;
const SCM_CREDENTIALS = 2;
const MSG_CTRUNC = 0x8;
const MSG_TRUNC = 0x20;
const MSG_DONTWAIT = 0x40;
const MSG_CMSG_CLOEXEC = 0x40000000;
const EAGAIN = 11;
const EINTR = 4;
const SUN_PATH_MAX = 108;
const LISTEN_BACKLOG = 4096;

interface Libc {
  socket(domain: number, type: number, proto: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  listen(fd: number, backlog: number): number;
  connect(fd: number, addr: Buffer, len: number): number;
  accept4(fd: number, addr: null, len: null, flags: number): number;
  close(fd: number): number;
  getsockopt(fd: number, level: number, name: number, val: Buffer, len: number[]): number;
  setsockopt(fd: number, level: number, name: number, val: Buffer, len: number): number;
  recvmsg(fd: number, msg: unknown, flags: number): number | bigint;
  errno(): number;
}

let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  const f = (proto: string) => lib.func(proto) as (...a: unknown[]) => number;
  const socket = f('int socket(int, int, int)');
  const bind = f('int bind(int, const void *, uint32_t)');
  const listen = f('int listen(int, int)');
  const connect = f('int connect(int, const void *, uint32_t)');
  const accept4 = f('int accept4(int, void *, void *, int)');
  const close = f('int close(int)');
  const getsockopt = f('int getsockopt(int, int, int, _Out_ void *, _Inout_ uint32_t *)');
  const setsockopt = f('int setsockopt(int, int, int, const void *, uint32_t)');
  const recvmsg = f('intptr_t recvmsg(int, void *, int)');
  libc = {
    socket: (d, t, p) => socket(d, t, p),
    bind: (fd, a, l) => bind(fd, a, l),
    listen: (fd, b) => listen(fd, b),
    connect: (fd, a, l) => connect(fd, a, l),
    accept4: (fd, a, l, fl) => accept4(fd, a, l, fl),
    close: (fd) => close(fd),
    getsockopt: (fd, lv, n, v, l) => getsockopt(fd, lv, n, v, l),
    setsockopt: (fd, lv, n, v, l) => setsockopt(fd, lv, n, v, l),
    recvmsg: (fd, m, fl) => recvmsg(fd, m, fl),
    errno: () => koffi.errno(),
  };
  return libc;
}

function errnoError(call: string, errno: number, path?: string): ControlError {
  const name = errnoName(errno);
  return new ControlError(`${call}${path ? ` ${path}` : ''}: errno ${errno} (${name})`, name);
}

function sockaddrUn(path: string): { addr: Buffer; len: number } {
  const p = Buffer.from(path, 'utf8');
  if (p.length >= SUN_PATH_MAX) throw new ControlError(`socket path too long for AF_UNIX (${p.length} bytes, at most ${SUN_PATH_MAX - 1}): ${path}`, 'ENAMETOOLONG');
  const addr = Buffer.alloc(2 + SUN_PATH_MAX);
  addr.writeUInt16LE(AF_UNIX, 0);
  p.copy(addr, 2);
  return { addr, len: 2 + p.length + 1 };
}

function newSocket(c: Libc): number {
  const fd = c.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errnoError('socket(AF_UNIX, SOCK_SEQPACKET)', c.errno());
  return fd;
}

/** Is a server listening on this SOCK_SEQPACKET path? (A non-blocking connect: refused = stale file.) */
function probe(c: Libc, path: string): boolean {
  const fd = newSocket(c);
  try {
    const { addr, len } = sockaddrUn(path);
    if (c.connect(fd, addr, len) === 0) return true;
    const e = c.errno();
    return e === EAGAIN || e === 115; // backlog full / in progress: somebody is there
  } finally {
    c.close(fd);
  }
}

// ------------------------------------------------------------------ descriptor readiness

interface Watch {
  start(): void;
  stop(): void;
  close(): void;
}

interface PollHandle {
  start(opts: { readable?: boolean }, cb: (status: number) => void): void;
  stop(): void;
  close(): void;
}
type PollFn = (fd: number, opts: { readable?: boolean }, cb: (status: number) => void) => PollHandle | null;

function pollFn(): PollFn | undefined {
  const node = (koffi as unknown as { node?: { poll?: unknown } }).node;
  return typeof node?.poll === 'function' ? (node.poll as PollFn) : undefined;
}

/** Calls cb (status < 0 on error) whenever fd is readable; starts watching at once. */
function watchReadable(fd: number, cb: (status: number) => void): Watch {
  const poll = pollFn();
  if (poll) {
    const h = poll(fd, { readable: true }, cb);
    if (!h) throw new ControlError(`cannot watch descriptor ${fd} with libuv`, 'EIO');
    let on = true;
    return {
      start: () => {
        if (!on) h.start({ readable: true }, cb);
        on = true;
      },
      stop: () => {
        if (on) h.stop();
        on = false;
      },
      close: () => h.close(),
    };
  }
  // Fallback when koffi has no node.poll: try the non-blocking calls every 50 ms.
  let timer: NodeJS.Timeout | undefined;
  const w = {
    start: () => {
      timer ??= setInterval(() => cb(0), 50);
    },
    stop: () => {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    close: () => w.stop(),
  };
  w.start();
  return w;
}

// ------------------------------------------------------------------ the server

/** Scratch memory for recvmsg: msghdr at 0, iovec at 64, control at 128 (256 bytes), data at 512 (512 bytes). */
class RecvArea {
  readonly ptr: unknown;
  readonly mem: Buffer;
  constructor() {
    this.ptr = koffi.alloc('uint8_t', 1024);
    const base = koffi.address(this.ptr);
    this.mem = Buffer.from(koffi.view(this.ptr, 1024));
    this.mem.fill(0);
    // struct msghdr (x86-64/aarch64 LP64): name, namelen, iov, iovlen, control, controllen, flags
    this.mem.writeBigUInt64LE(base + 64n, 16);
    this.mem.writeBigUInt64LE(1n, 24);
    this.mem.writeBigUInt64LE(base + 128n, 32);
    // struct iovec: base, len
    this.mem.writeBigUInt64LE(base + 512n, 64);
    this.mem.writeBigUInt64LE(512n, 72);
  }
  reset(): void {
    this.mem.writeBigUInt64LE(256n, 40); // msg_controllen (the kernel shrinks it)
    this.mem.writeInt32LE(0, 48);
    this.mem.fill(0, 128, 384);
  }
  get flags(): number {
    return this.mem.readInt32LE(48);
  }
  get controlLength(): number {
    return Number(this.mem.readBigUInt64LE(40));
  }
  data(n: number): Buffer {
    return Buffer.from(this.mem.subarray(512, 512 + n));
  }
  free(): void {
    koffi.free(this.ptr);
  }
}

interface Connection {
  fd: number;
  pid: number;
  watch: Watch;
  idle: NodeJS.Timeout | undefined;
  closed: boolean;
}

/**
 * Listens on <runRoot>/control (mode 0600) for udev's binary control protocol and maps each message onto the
 * daemon's ControlHandler. A stale socket file is replaced; a live one (udevd or another devmaster) is an error.
 */
export function startUdevCtrlServer(runRoot: string, handler: ControlHandler, log: Logger, opts: UdevCtrlOptions = {}): UdevCtrlServer {
  const c = loadLibc();
  const path = udevCtrlSocketPath(runRoot);
  const idleTimeoutMs = opts.idleTimeoutMs ?? 10_000;
  const own = opts.fd === undefined;
  let listenFd: number;
  if (own) {
    mkdirSync(runRoot, { recursive: true });
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket()) throw new ControlError(`${path} exists and is not a socket`, 'EEXIST');
      if (probe(c, path)) throw new ControlError(`another daemon is listening on ${path}`, 'EADDRINUSE');
      unlinkSync(path);
    }
    const { addr, len } = sockaddrUn(path);
    listenFd = newSocket(c);
    // Backlog: systemd-udevd-control.socket leaves Backlog= at its default (SOMAXCONN). With udevd's own listen(fd, 0)
    // a second udevadm arriving while one is served gets EAGAIN from its non-blocking connect() and fails
    // ("Failed to send reload request: Resource temporarily unavailable"); here it waits its turn.
    if (c.bind(listenFd, addr, len) !== 0 || c.listen(listenFd, LISTEN_BACKLOG) !== 0) {
      const e = c.errno();
      c.close(listenFd);
      throw errnoError('bind/listen', e, path);
    }
    chmodSync(path, 0o600); // as systemd-udevd-control.socket: SocketMode=0600
  } else {
    listenFd = opts.fd!;
    // accept4() is only called when poll says readable, but a manager may pass the socket blocking
    setFdFlags(listenFd, { nonblock: true, cloexec: true });
  }
  const one = Buffer.alloc(4);
  one.writeInt32LE(1);
  // PassCredentials=yes on the listening socket (as the socket unit does): accepted sockets inherit it, so a
  // message the client sends between our accept() and the setsockopt() below still carries its credentials
  // (without it the kernel reports pid 0, uid 65534 for such a message).
  if (c.setsockopt(listenFd, SOL_SOCKET, SO_PASSCRED, one, 4) !== 0) log.warn(`udev control: SO_PASSCRED on the listening socket failed: errno ${c.errno()}`);

  const stats: UdevCtrlStats = { connections: 0, messages: 0, byType: {}, refused: { uid: 0, credentials: 0, length: 0, magic: 0 }, unknownType: 0, idleTimeouts: 0, errors: 0 };
  const area = new RecvArea();
  const credBuf = Buffer.alloc(12);
  let conn: Connection | undefined;
  let closed = false;
  let listening = true;

  const closeConn = (k: Connection, reason: string) => {
    if (k.closed) return;
    k.closed = true;
    log.debug({ pid: k.pid, reason }, 'udev control: connection closed');
    if (k.idle) clearTimeout(k.idle);
    k.watch.close();
    c.close(k.fd);
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
    const fd = c.accept4(listenFd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const e = c.errno();
      if (e !== EAGAIN && e !== EINTR) {
        stats.errors++;
        log.error(`udev control: accept failed: errno ${e}`);
      }
      return;
    }
    const credLen = [12];
    if (c.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, credBuf, credLen) !== 0) {
      stats.errors++;
      log.error(`udev control: cannot read the peer's credentials: errno ${c.errno()}`);
      c.close(fd);
      return;
    }
    const pid = credBuf.readInt32LE(0);
    const uid = credBuf.readUInt32LE(4);
    if (uid !== 0) {
      stats.refused.uid++;
      log.warn({ uid, pid }, `udev control: connection from uid ${uid} refused (only root may control the daemon)`);
      c.close(fd);
      return;
    }
    if (c.setsockopt(fd, SOL_SOCKET, SO_PASSCRED, one, 4) !== 0) log.warn(`udev control: SO_PASSCRED failed: errno ${c.errno()}`);
    stats.connections++;
    const k: Connection = { fd, pid, watch: undefined as unknown as Watch, idle: undefined, closed: false };
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
    area.reset();
    const r = c.recvmsg(k.fd, area.ptr, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    const n = Number(r);
    if (n < 0) {
      const e = c.errno();
      if (e === EAGAIN || e === EINTR) return;
      closeConn(k, `recvmsg errno ${e}`); // ECONNRESET and the like: the client is gone
      return;
    }
    if (n === 0) {
      closeConn(k, 'client closed'); // the client closed its end
      return;
    }
    const cred = readControl(area, c);
    const flags = area.flags;
    const refuse = (reason: keyof UdevCtrlStats['refused'], msg: string, extra: Record<string, unknown> = {}) => {
      stats.refused[reason]++;
      log.warn({ pid: cred?.pid ?? k.pid, ...extra }, `udev control: ${msg}, message ignored and connection closed`);
      closeConn(k, `refused: ${reason}`);
    };
    if (flags & MSG_TRUNC || n !== UDEV_CTRL_MSG_SIZE) return refuse('length', `message of ${flags & MSG_TRUNC ? 'more than 512' : n} bytes (expected ${UDEV_CTRL_MSG_SIZE})`);
    if (flags & MSG_CTRUNC || !cred) return refuse('credentials', 'no sender credentials received');
    if (cred.uid !== 0) return refuse('uid', `message from uid ${cred.uid} (only root may control the daemon)`, { uid: cred.uid });
    const msg = decodeUdevCtrlMessage(area.data(n));
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
    c.close(listenFd);
  };
  const mode = pollFn() ? 'poll' : 'timer';
  if (mode === 'timer') log.warn('udev control: koffi has no node.poll; the control socket is polled every 50 ms');

  return {
    path,
    mode,
    stats: () => ({ ...stats, byType: { ...stats.byType }, refused: { ...stats.refused } }),
    close: () => {
      if (closed) return;
      closed = true;
      if (conn) closeConn(conn, 'server closed');
      stopListening();
      area.free();
      if (!own) return; // the manager's socket: it keeps the file (and the socket, for the next daemon)
      try {
        unlinkSync(path);
      } catch {
        /* gone */
      }
    },
  };
}

/** Walks the control messages: returns the SCM_CREDENTIALS and closes any descriptor passed with SCM_RIGHTS. */
function readControl(area: RecvArea, c: Libc): { pid: number; uid: number; gid: number } | undefined {
  const m = area.mem;
  const end = 128 + Math.min(256, area.controlLength);
  let cred: { pid: number; uid: number; gid: number } | undefined;
  let off = 128;
  while (off + 16 <= end) {
    const clen = Number(m.readBigUInt64LE(off));
    if (clen < 16 || off + clen > end) break;
    const level = m.readInt32LE(off + 8);
    const type = m.readInt32LE(off + 12);
    if (level === SOL_SOCKET && type === SCM_CREDENTIALS && clen >= 16 + 12) {
      cred = { pid: m.readInt32LE(off + 16), uid: m.readUInt32LE(off + 20), gid: m.readUInt32LE(off + 24) };
    } else if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = off + 16; p + 4 <= off + clen; p += 4) c.close(m.readInt32LE(p));
    }
    off += (clen + 7) & ~7;
  }
  return cred;
}
