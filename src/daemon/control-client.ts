// The client of devMaster's control socket (./control.ts, docs/CONTROL.md): one request, one answer. A module of
// its own so that devctl's verbs that ask the daemon load this, not the daemon's server side.
import { join } from 'node:path';
import { exchangeLine, ExchangeError, type Transport } from '../util/unix-client.js';

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
 * listens, 'ETIMEDOUT' when no answer comes in timeoutMs, or the daemon's error message. The exchange is
 * src/util/unix-client.ts's: without node:net where Node allows (`transport`, for tests).
 */
export async function controlRequest(runRoot: string, req: ControlRequest, timeoutMs = 30_000, transport?: Transport): Promise<Record<string, unknown>> {
  const path = controlSocketPath(runRoot);
  let line: string;
  try {
    line = await exchangeLine(path, JSON.stringify(req) + '\n', { timeoutMs, transport });
  } catch (e) {
    if (!(e instanceof ExchangeError)) throw e;
    if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') throw new ControlError(`devmaster is not running (no control socket at ${path})`, 'ENOTRUNNING');
    if (e.code === 'ETIMEDOUT') throw new ControlError(`no answer from the daemon within ${timeoutMs} ms`, 'ETIMEDOUT');
    if (e.code === 'EOF') throw new ControlError('the daemon closed the connection without answering', 'EPIPE');
    throw new ControlError(e.message, e.code);
  }
  let res: ControlResponse;
  try {
    res = JSON.parse(line) as ControlResponse;
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    throw new ControlError('malformed answer from the daemon', 'EPROTO');
  }
  if (!res.ok) throw new ControlError(res.error ?? 'request failed', 'EDAEMON');
  return res.result ?? {};
}
