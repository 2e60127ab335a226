// The client of devMaster's control socket (./control.ts, docs/CONTROL.md): one request, one answer. A module of
// its own so that devctl's verbs that ask the daemon load Node's net module and this, not the daemon's server side.
import { createRequire } from 'node:module';
import { join } from 'node:path';

// A lazy require (bundled by scripts/bundle.mjs, loaded when first called): node:net with the first request, so
// that the daemon, which imports this module's names, does not load it at start-up.
const require = createRequire(import.meta.url);
/** Node's net module, required on first use (the daemon's server side takes it from here too). */
export const net = (): typeof import('node:net') => require('node:net') as typeof import('node:net');

export const CONTROL_SOCKET_NAME = 'devmaster.control';

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
  | 'set-env'
  | 'test';

/**
 * The `test` request (devctl test): run the rules on one device in test mode, in the daemon, with the rules it has
 * in force. The other fields say what devctl would run them with: the daemon declines (answers `declined`, a
 * reason) when that is not what it has: other roots, rules directories or --resolve-names, or rules files changed
 * on disk since its last load.
 */
export interface TestRequest {
  /** The DEVICE argument, as devctl takes it (src/device/find.ts). */
  device: string;
  action: string;
  sysfs: string;
  dev: string;
  rulesDirs: string[];
  resolveNames: string;
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
  /** test: see TestRequest. */
  test?: TestRequest;
  id?: number | string;
}

export interface ControlResponse {
  id?: number | string;
  ok: boolean;
  error?: string;
  result?: Record<string, unknown>;
}

export class ControlError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'ControlError';
  }
}

/**
 * Sends one request and waits for its answer. Throws ControlError with code 'ENOTRUNNING' when no daemon
 * listens, 'ETIMEDOUT' when no answer comes in timeoutMs, or the daemon's error message.
 */
export function controlRequest(runRoot: string, req: ControlRequest, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const path = controlSocketPath(runRoot);
  return new Promise((resolve, reject) => {
    const sock = net().createConnection(path);
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
