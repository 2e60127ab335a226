// Logging: pino, JSON lines on stderr by default, pino-pretty when stderr is a terminal.
import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tryOr } from './util/fs.js';
import type { Logger, LevelWithSilent } from 'pino';

// pino is loaded when the first logger is made, pino-pretty only when a terminal wants it: a devctl verb that
// never logs does not pay for them at start-up. A lazy require (bundled by scripts/bundle.mjs, loaded when first
// called).
const require = createRequire(import.meta.url);
const pino = (): typeof import('pino').pino => (require('pino') as typeof import('pino')).pino;

export type { Logger };
export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** udev's numeric/syslog names mapped onto pino's levels. */
const SYSLOG_LEVELS: Readonly<Record<string, LevelWithSilent>> = {
  '0': 'fatal', emerg: 'fatal', '1': 'fatal', alert: 'fatal', '2': 'fatal', crit: 'fatal',
  '3': 'error', err: 'error', '4': 'warn', warning: 'warn', '5': 'info', notice: 'info',
  '6': 'info', '7': 'debug',
};

/** A level name (pino's, syslog's or 0-7) as pino's level; undefined when it is none. */
export function parseLevel(level: string): LevelWithSilent | undefined {
  const l = level.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(l)) return l as LevelWithSilent;
  return Object.hasOwn(SYSLOG_LEVELS, l) ? SYSLOG_LEVELS[l] : undefined;
}

/** parseLevel(), throwing an Error that lists the valid names when `level` is none. */
export function normalizeLevel(level: string): LevelWithSilent {
  const l = parseLevel(level);
  if (l === undefined) throw new Error(`invalid log level '${level}' (expected one of ${LOG_LEVELS.join(', ')} or 0-7)`);
  return l;
}

let root: Logger | undefined;

/**
 * Whether descriptor 2 is a terminal. Not process.stderr.isTTY (the logger writes to the descriptor itself, and Node
 * builds process.stderr's stream on first use), and node:tty (which loads node:net) only for a character device.
 */
function stderrIsTerminal(): boolean {
  return tryOr(() => fstatSync(2).isCharacterDevice(), false) && (require('node:tty') as typeof import('node:tty')).isatty(2);
}

export interface LogOptions {
  level?: string;
  /** Force pretty (true) or JSON (false) output; default: pretty when stderr is a TTY. */
  pretty?: boolean;
  name?: string;
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = normalizeLevel(opts.level ?? process.env.DEVMASTER_LOG_LEVEL ?? 'info');
  const usePretty = opts.pretty ?? stderrIsTerminal();
  const stream = usePretty
    ? (require('pino-pretty') as { default: (o: object) => NodeJS.WritableStream }).default({ destination: 2, colorize: true, sync: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' })
    : pino().destination({ dest: 2, sync: true });
  root = pino()({ level, name: opts.name, base: undefined }, stream);
  return root;
}

/** The process-wide logger (a quiet default until createLogger is called by an entry point). */
export function log(): Logger {
  if (!root) root = pino()({ level: process.env.DEVMASTER_LOG_LEVEL ?? 'warn', base: undefined }, pino().destination({ dest: 2, sync: true }));
  return root;
}

export function setLogLevel(level: string): void {
  log().level = normalizeLevel(level);
}

/** A logger at a fixed level that is not the process-wide one (e.g. 'silent' for machine-readable output). */
export function levelLogger(level: LevelWithSilent): Logger {
  return pino()({ level, base: undefined }, pino().destination({ dest: 2, sync: true }));
}
