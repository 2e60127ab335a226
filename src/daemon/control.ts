// devMaster's own control socket: a Unix stream socket <run>/devmaster.control (mode 0600) speaking JSON lines.
// One request per line, one response line per request, in order. See docs/CONTROL.md.
// (<run>/control is udev's binary protocol for udevadm: src/daemon/udev-ctrl.ts.)
import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, unlinkSync, mkdirSync, lstatSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SOCK_SEQPACKET, SOCK_STREAM, unixSocketListening } from '../sys/socket.js';
import { unlinkIfAny } from '../util/fs.js';

export const CONTROL_SOCKET_NAME = 'devmaster.control';
export const MAX_LINE = 64 * 1024;

export function controlSocketPath(runRoot: string): string {
  return join(runRoot, CONTROL_SOCKET_NAME);
}

export type ControlCommand =
  | 'ping'
  | 'reload'
  | 'exit'
  | 'log-level'
  | 'stop-exec-queue'
  | 'start-exec-queue'
  | 'children-max'
  | 'settle'
  | 'status'
  | 'stats'
  | 'set-env';

export const COMMANDS: readonly ControlCommand[] = ['ping', 'reload', 'exit', 'log-level', 'stop-exec-queue', 'start-exec-queue', 'children-max', 'settle', 'status', 'stats', 'set-env'];

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

export interface ControlRequest {
  command: ControlCommand;
  /** log-level: a level name or 0-7; children-max: a non-negative integer (0 = automatic); set-env: "KEY=VALUE" (an empty VALUE unsets KEY). */
  value?: string | number;
  /** settle: milliseconds to wait for an empty queue (default: 120000; 0 = just report). */
  timeout?: number;
  /** stats: see StatsRequest. */
  top?: number;
  sort?: string;
  reset?: boolean;
  enable?: boolean;
  id?: number | string;
}

export interface ControlResponse {
  id?: number | string;
  ok: boolean;
  error?: string;
  result?: Record<string, unknown>;
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
}

export class ControlError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'ControlError';
  }
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
  }
}

export interface ControlServer {
  path: string;
  close(): Promise<void>;
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
 * Listens on <runRoot>/devmaster.control. A stale socket file is replaced; a live one (another daemon) is an error.
 * With `fd`, a listening socket handed over by the service manager is served instead (its path and mode are the
 * manager's: nothing is created, probed or removed).
 */
export async function startControlServer(runRoot: string, handler: ControlHandler, onError?: (msg: string) => void, opts: { fd?: number } = {}): Promise<ControlServer> {
  const path = controlSocketPath(runRoot);
  const own = opts.fd === undefined;
  if (own) claimSocketPath(path, SOCK_STREAM);
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.setEncoding('utf8');
    let buf = '';
    // Requests on one connection are answered in order.
    let chain: Promise<void> = Promise.resolve();
    const answer = (res: ControlResponse) => {
      if (!sock.destroyed && sock.writable) sock.write(JSON.stringify(res) + '\n');
    };
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        answer({ ok: false, error: `request longer than ${MAX_LINE} bytes` });
        sock.destroy();
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        chain = chain.then(async () => {
          let req: unknown;
          try {
            req = JSON.parse(line);
          } catch (e) {
            answer({ ok: false, error: `invalid JSON: ${(e as Error).message}` });
            return;
          }
          const id = typeof req === 'object' && req !== null ? ((req as ControlRequest).id ?? undefined) : undefined;
          const bad = checkRequest(req);
          if (bad) {
            answer({ id, ok: false, error: bad });
            return;
          }
          try {
            const result = await dispatch(handler, req as ControlRequest);
            answer({ id, ok: true, result });
          } catch (e) {
            answer({ id, ok: false, error: (e as Error).message });
          }
        });
      }
    });
    sock.on('error', (e) => onError?.(`control connection: ${e.message}`));
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (own) server.listen(path, done);
    else server.listen({ fd: opts.fd }, done);
  });
  if (own) chmodSync(path, 0o600);
  server.on('error', (e) => onError?.(`control socket: ${e.message}`));
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.end();
        server.close(() => resolve());
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, 200).unref();
        if (!own) return; // the manager's socket: it keeps the file (and the socket, for the next daemon)
        unlinkIfAny(path);
      }),
  };
}

/**
 * Sends one request and waits for its answer. Throws ControlError with code 'ENOTRUNNING' when no daemon
 * listens, 'ETIMEDOUT' when no answer comes in timeoutMs, or the daemon's error message.
 */
export function controlRequest(runRoot: string, req: ControlRequest, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const path = controlSocketPath(runRoot);
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    let finished = false;
    const finish = (err: Error | undefined, value?: Record<string, unknown>) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value ?? {});
    };
    const timer = setTimeout(() => finish(new ControlError(`no answer from the daemon within ${timeoutMs} ms`, 'ETIMEDOUT')), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let res: ControlResponse;
      try {
        res = JSON.parse(buf.slice(0, nl)) as ControlResponse;
      } catch (e) {
        if (!(e instanceof SyntaxError)) throw e;
        finish(new ControlError('malformed answer from the daemon', 'EPROTO'));
        return;
      }
      if (res.ok) finish(undefined, res.result);
      else finish(new ControlError(res.error ?? 'request failed', 'EDAEMON'));
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') finish(new ControlError(`devmaster is not running (no control socket at ${path})`, 'ENOTRUNNING'));
      else finish(new ControlError(`${path}: ${e.message}`, e.code));
    });
    sock.on('close', () => finish(new ControlError('the daemon closed the connection without answering', 'EPIPE')));
  });
}
