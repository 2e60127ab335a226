// devMaster's own control socket: a Unix stream socket <run>/devmaster.control (mode 0600) speaking JSON lines.
// One request per line, one response line per request, in order. See docs/CONTROL.md.
// The listening socket is made through libc (created with its final mode, no window where it is more open) and
// watched by libuv (src/sys/poll.ts); each accepted connection is checked with SO_PEERCRED before Node's net
// module serves it: root may do everything, a configured group the read-only requests, nobody else anything.
// (<run>/control is udev's binary protocol for udevadm: src/daemon/udev-ctrl.ts.)
import type { Socket } from 'node:net';
import { createRequire } from 'node:module';
import { chownSync, existsSync, unlinkSync, mkdirSync, lstatSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { accept4, AF_UNIX, bindAndListen, peerCredentials, peerGroups, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_SEQPACKET, SOCK_STREAM, socket, unixSocketListening, type Ucred } from '../sys/socket.js';
import { close } from '../sys/file.js';
import { errnoName } from '../sys/errno.js';
import { watchReadable } from '../sys/poll.js';
import { setFdFlags } from '../sys/file.js';
import { unlinkIfAny } from '../util/fs.js';
import { ControlError, controlSocketPath, type ControlCommand, type ControlRequest, type ControlResponse, type TestRequest } from './control-client.js';

export { CONTROL_SOCKET_NAME, ControlError, controlRequest, controlSocketPath } from './control-client.js';
export type { ControlCommand, ControlRequest, ControlResponse, TestRequest } from './control-client.js';

// The client side (controlRequest) is ./control-client.ts, which devctl loads without this server. Node's net
// module (and its streams) is required (net(), a lazy require bundled by scripts/bundle.mjs) with the first
// connection, not at start-up: the listening socket is libc's.
const require = createRequire(import.meta.url);
const net = (): typeof import('node:net') => require('node:net') as typeof import('node:net');

/** The longest request line accepted, in characters. */
export const MAX_LINE = 64 * 1024;
const LISTEN_BACKLOG = 128;
const { EAGAIN, EINTR } = constants.errno;

export const COMMANDS: readonly ControlCommand[] = ['ping', 'reload', 'exit', 'log-level', 'stop-exec-queue', 'start-exec-queue', 'children-max', 'settle', 'status', 'stats', 'set-env', 'test'];

/** The `stats` request's options (docs/OBSERVABILITY.md). */
export interface StatsRequest {
  /** How many rule lines to return (default 20). */
  top?: number;
  /** Order of the rule lines: time (default), max, mean, count, matched. */
  sort?: string;
  /** Forget what was counted, after answering. */
  reset?: boolean;
  /** Turn the cost accounting on (true) or off (false) before answering. */
  enable?: boolean;
}

/** What the daemon implements; every method may throw to answer with an error. */
export interface ControlHandler {
  ping(): Record<string, unknown> | Promise<Record<string, unknown>>;
  reload(): Promise<Record<string, unknown>>;
  exit(): Record<string, unknown> | Promise<Record<string, unknown>>;
  setLogLevel(level: string): Record<string, unknown>;
  stopExecQueue(): Record<string, unknown>;
  startExecQueue(): Record<string, unknown>;
  setChildrenMax(n: number): Record<string, unknown>;
  settle(timeoutMs: number): Promise<Record<string, unknown>>;
  status(): Record<string, unknown>;
  /**
   * udevadm control --property KEY=VALUE: a global property every later event sees (value undefined: remove it).
   * Optional: without it the udev control socket refuses the message with a log line.
   */
  setEnv?(key: string, value: string | undefined): Record<string, unknown>;
  /** Returns once the uevents the kernel already emitted were received and queued (udevadm's ping). */
  catchUp?(): Promise<void>;
  /** The cost accounting (src/stats). Optional: without it the request is answered with an error. */
  stats?(req: StatsRequest): Record<string, unknown>;
  /** A test run of the rules (TestRequest). Optional: without it every test is declined. */
  test?(req: TestRequest): Promise<Record<string, unknown>>;
}

/** Validates a parsed request; returns an error message or undefined. */
export function checkRequest(req: unknown): string | undefined {
  if (typeof req !== 'object' || req === null || Array.isArray(req)) return 'request must be a JSON object';
  const r = req as Record<string, unknown>;
  if (typeof r.command !== 'string') return "request needs a string 'command'";
  if (!(COMMANDS as readonly string[]).includes(r.command)) return `unknown command '${r.command}' (expected one of ${COMMANDS.join(', ')})`;
  if (r.command === 'log-level' && typeof r.value !== 'string' && typeof r.value !== 'number') return "log-level needs a 'value'";
  if (r.command === 'children-max') {
    const n = typeof r.value === 'string' && /^\d+$/.test(r.value) ? Number(r.value) : r.value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) return `children-max needs a non-negative integer 'value' (0 = automatic), got ${JSON.stringify(r.value)}`;
  }
  if (r.command === 'set-env' && (typeof r.value !== 'string' || !r.value.includes('='))) return "set-env needs a 'value' KEY=VALUE";
  if (r.timeout !== undefined && (typeof r.timeout !== 'number' || !(r.timeout >= 0))) return "'timeout' must be a non-negative number of milliseconds";
  if (r.command === 'test') {
    const t = r.test as Record<string, unknown> | undefined;
    if (typeof t !== 'object' || t === null) return "test needs a 'test' object";
    for (const k of ['device', 'action', 'sysfs', 'dev', 'resolveNames'] as const) if (typeof t[k] !== 'string') return `test needs a string '${k}'`;
    if (!Array.isArray(t.rulesDirs) || !t.rulesDirs.every((d) => typeof d === 'string')) return "test needs 'rulesDirs', a list of strings";
  }
  if (r.command === 'stats') {
    if (r.top !== undefined && (typeof r.top !== 'number' || !Number.isInteger(r.top) || r.top < 0)) return "'top' must be a non-negative integer";
    if (r.sort !== undefined && typeof r.sort !== 'string') return "'sort' must be a string";
    for (const k of ['reset', 'enable'] as const) if (r[k] !== undefined && typeof r[k] !== 'boolean') return `'${k}' must be true or false`;
  }
  return undefined;
}

async function dispatch(h: ControlHandler, req: ControlRequest): Promise<Record<string, unknown>> {
  switch (req.command) {
    case 'ping':
      return h.ping();
    case 'reload':
      return h.reload();
    case 'exit':
      return h.exit();
    case 'log-level':
      return h.setLogLevel(String(req.value));
    case 'stop-exec-queue':
      return h.stopExecQueue();
    case 'start-exec-queue':
      return h.startExecQueue();
    case 'children-max':
      return h.setChildrenMax(Number(req.value));
    case 'settle':
      return h.settle(req.timeout ?? 120_000);
    case 'status':
      return h.status();
    case 'stats':
      if (!h.stats) throw new ControlError('this daemon has no stats');
      return h.stats({ top: req.top, sort: req.sort, reset: req.reset, enable: req.enable });
    case 'set-env': {
      if (!h.setEnv) throw new ControlError('this daemon cannot set global properties');
      const kv = String(req.value);
      const eq = kv.indexOf('=');
      return h.setEnv(kv.slice(0, eq), eq + 1 < kv.length ? kv.slice(eq + 1) : undefined);
    }
    case 'test':
      return h.test ? h.test(req.test!) : { declined: 'this daemon runs no tests' };
  }
}

/** What a peer may do on devMaster's socket: everything (root), the read-only requests, or nothing. */
export type ControlAccess = 'full' | 'read' | 'none';

/** The requests a member of the control group may make: they change nothing. */
export const READ_ONLY_COMMANDS: readonly ControlCommand[] = ['ping', 'status', 'settle', 'stats'];

/** Whether a (valid) request changes nothing: a read-only command, and `stats` without enable or reset. */
export function isReadOnly(req: ControlRequest): boolean {
  if (!READ_ONLY_COMMANDS.includes(req.command)) return false;
  return req.command !== 'stats' || (req.enable === undefined && req.reset !== true);
}

/**
 * Who may talk to the socket (SO_PEERCRED, SO_PEERGROUPS, as the peer was when it connected): root may do
 * everything; with `readOnlyGroup`, a peer whose group or one of whose supplementary groups it is may make the
 * read-only requests; anybody else is refused.
 */
export function peerAccess(peer: Ucred, groups: readonly number[], readOnlyGroup: number | undefined): ControlAccess {
  if (peer.uid === 0) return 'full';
  if (readOnlyGroup !== undefined && (peer.gid === readOnlyGroup || groups.includes(readOnlyGroup))) return 'read';
  return 'none';
}

/** Bounds of the socket: connections at once, requests per connection, requests waiting for their answer. */
export interface ControlLimits {
  /** Connections served at once; more are answered with an error and closed (default 64). */
  connections: number;
  /** Requests on one connection; the one after is answered with an error and the connection closed (default 4096). */
  requests: number;
  /** Requests sent ahead of their answers on one connection (default 32). */
  pending: number;
  /** A connection with no request under way that sends nothing for this long is closed (default 60 s). */
  idleMs: number;
}

export const DEFAULT_CONTROL_LIMITS: Readonly<ControlLimits> = { connections: 64, requests: 4096, pending: 32, idleMs: 60_000 };

export interface ControlStats {
  connections: number;
  requests: number;
  /** Requests that were not JSON or not a valid request (each answered with an error). */
  malformed: number;
  /** Connections refused, by reason; requests refused for want of permission. */
  refused: { uid: number; busy: number; permission: number };
  /** Connections closed for exceeding a bound (line length, requests, pending) or for being idle. */
  closed: { tooLong: number; tooMany: number; idle: number };
}

export interface ControlServer {
  path: string;
  stats(): ControlStats;
  close(): Promise<void>;
}

export interface ControlServerOptions {
  /** A listening socket handed over by the service manager, served instead of binding the path. */
  fd?: number;
  /** A group (gid) whose members may make the read-only requests (config control_group); the socket is 0660 then. */
  readOnlyGroup?: number;
  limits?: Partial<ControlLimits>;
}

/**
 * Makes `path` free for a new listening socket: a stale socket file is removed; a live one (another daemon
 * listening) or a file that is not a socket is an error. Creates the directory.
 */
export function claimSocketPath(path: string, type: typeof SOCK_STREAM | typeof SOCK_SEQPACKET): void {
  mkdirSync(dirname(path), { recursive: true });
  if (!existsSync(path)) return;
  if (!lstatSync(path).isSocket()) throw new ControlError(`${path} exists and is not a socket`, 'EEXIST');
  if (unixSocketListening(path, type)) throw new ControlError(`another daemon is listening on ${path}`, 'EADDRINUSE');
  unlinkSync(path);
}

/**
 * Listens on <runRoot>/devmaster.control, made with its final mode (0600; 0660 and the group with
 * `readOnlyGroup`). A stale socket file is replaced; a live one (another daemon) is an error. With `fd`, a
 * listening socket handed over by the service manager is served instead (its path and mode are the manager's:
 * nothing is created, probed or removed). Every connection is checked with SO_PEERCRED (peerAccess) and bounded
 * (ControlLimits).
 */
export async function startControlServer(runRoot: string, handler: ControlHandler, onError?: (msg: string) => void, opts: ControlServerOptions = {}): Promise<ControlServer> {
  const path = controlSocketPath(runRoot);
  const own = opts.fd === undefined;
  const limits = { ...DEFAULT_CONTROL_LIMITS, ...opts.limits };
  const stats: ControlStats = { connections: 0, requests: 0, malformed: 0, refused: { uid: 0, busy: 0, permission: 0 }, closed: { tooLong: 0, tooMany: 0, idle: 0 } };
  let listenFd: number;
  if (own) {
    claimSocketPath(path, SOCK_STREAM);
    listenFd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
    try {
      bindAndListen(listenFd, path, LISTEN_BACKLOG, opts.readOnlyGroup === undefined ? 0o600 : 0o660);
      if (opts.readOnlyGroup !== undefined) chownSync(path, 0, opts.readOnlyGroup);
    } catch (e) {
      close(listenFd);
      unlinkIfAny(path);
      throw e;
    }
  } else {
    listenFd = opts.fd!;
    setFdFlags(listenFd, { nonblock: true, cloexec: true }); // a manager may pass it blocking
  }
  const sockets = new Set<Socket>();
  const refuse = (fd: number, error: string) => {
    const sock = new (net().Socket)({ fd, readable: false, writable: true });
    sock.on('error', (e) => onError?.(`control connection: ${e.message}`));
    sock.write(JSON.stringify({ ok: false, error } satisfies ControlResponse) + '\n');
    sock.destroySoon();
  };
  const accept = () => {
    for (;;) {
      const fd = accept4(listenFd, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (fd !== -EAGAIN && fd !== -EINTR) onError?.(`control socket: accept failed: ${errnoName(-fd)}`);
        return;
      }
      const peer = peerCredentials(fd);
      const groups = typeof peer === 'number' || peer.uid === 0 ? [] : peerGroups(fd);
      const access = typeof peer === 'number' ? 'none' : peerAccess(peer, typeof groups === 'number' ? [] : groups, opts.readOnlyGroup);
      if (access === 'none') {
        stats.refused.uid++;
        onError?.(typeof peer === 'number' ? `control socket: cannot read the peer's credentials: ${errnoName(-peer)}` : `control socket: connection from uid ${peer.uid} (pid ${peer.pid}) refused: only root${opts.readOnlyGroup === undefined ? '' : ' and the control group'} may use it`);
        refuse(fd, 'permission denied: only root may control devmaster');
        continue;
      }
      if (sockets.size >= limits.connections) {
        stats.refused.busy++;
        refuse(fd, `too many connections (${limits.connections}); try again`);
        continue;
      }
      stats.connections++;
      serve(new (net().Socket)({ fd, readable: true, writable: true }), access);
    }
  };
  const serve = (sock: Socket, access: ControlAccess) => {
    sockets.add(sock);
    sock.setEncoding('utf8');
    let buf = '';
    let count = 0;
    let pending = 0;
    // Requests on one connection are answered in order.
    let chain: Promise<void> = Promise.resolve();
    const answer = (res: ControlResponse) => {
      if (!sock.destroyed && sock.writable) sock.write(JSON.stringify(res) + '\n');
    };
    const closeWith = (error: string, why: keyof ControlStats['closed']) => {
      stats.closed[why]++;
      buf = '';
      // after the answers already under way
      void chain.then(() => {
        answer({ ok: false, error });
        sock.destroySoon();
      });
      sock.pause();
    };
    const idle = setTimeout(() => {
      if (pending > 0) return void idle.refresh();
      stats.closed.idle++;
      sock.destroy();
    }, limits.idleMs);
    idle.unref();
    sock.on('data', (chunk: string) => {
      idle.refresh();
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        if (nl > MAX_LINE) return closeWith(`request longer than ${MAX_LINE} bytes`, 'tooLong');
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        if (++count > limits.requests) return closeWith(`more than ${limits.requests} requests on one connection; connect again`, 'tooMany');
        if (++pending > limits.pending) return closeWith(`more than ${limits.pending} requests waiting for their answers`, 'tooMany');
        stats.requests++;
        chain = chain.then(async () => {
          try {
            answer(await respond(handler, line, access, stats));
          } finally {
            pending--;
          }
        });
      }
      if (buf.length > MAX_LINE) closeWith(`request longer than ${MAX_LINE} bytes`, 'tooLong');
    });
    sock.on('error', (e) => onError?.(`control connection: ${e.message}`));
    sock.on('close', () => {
      clearTimeout(idle);
      sockets.delete(sock);
    });
  };
  const watch = watchReadable(listenFd, (status) => {
    if (status < 0) onError?.(`control socket: poll status ${status}`);
    else accept();
  });
  return {
    path,
    stats: () => ({ ...stats, refused: { ...stats.refused }, closed: { ...stats.closed } }),
    close: async () => {
      watch.close();
      close(listenFd);
      if (own) unlinkIfAny(path); // the manager's socket: it keeps the file (and the socket, for the next daemon)
      const closing = [...sockets].map((s) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r()))));
      for (const s of sockets) s.end();
      const t = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, 200);
      await Promise.all(closing);
      clearTimeout(t);
    },
  };
}

/** One request line → its answer: parsed, checked, allowed for the peer's access, run. Never throws. */
async function respond(handler: ControlHandler, line: string, access: ControlAccess, stats: ControlStats): Promise<ControlResponse> {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch (e) {
    stats.malformed++;
    return { ok: false, error: `invalid JSON: ${(e as Error).message}` };
  }
  const rawId = typeof req === 'object' && req !== null ? (req as { id?: unknown }).id : undefined;
  const id = typeof rawId === 'number' || typeof rawId === 'string' ? rawId : undefined;
  const bad = checkRequest(req);
  if (bad) {
    stats.malformed++;
    return { id, ok: false, error: bad };
  }
  const r = req as ControlRequest;
  if (access !== 'full' && !isReadOnly(r)) {
    stats.refused.permission++;
    return { id, ok: false, error: `permission denied: '${r.command}' needs root (the control group may use ${READ_ONLY_COMMANDS.join(', ')} without enable or reset)` };
  }
  try {
    return { id, ok: true, result: await dispatch(handler, r) };
  } catch (e) {
    return { id, ok: false, error: (e as Error).message };
  }
}
