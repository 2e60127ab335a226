// Logging: pino, JSON lines on stderr by default, pino-pretty when stderr is a terminal.
import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tryOr, writeTextSync } from './util/fs.js';
import type { Bindings, ChildLoggerOptions, Logger, LevelWithSilent } from 'pino';

// pino is loaded when a logger first writes a record it cannot write itself (below), pino-pretty only when a
// terminal wants it: a devctl verb that never logs does not pay for them, nor does the daemon before it is ready.
// A lazy require (bundled by scripts/bundle.mjs, loaded when first called).
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

/** pino's level numbers. */
const LEVEL_VALUES: Readonly<Record<LevelWithSilent, number>> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
type Method = Exclude<LevelWithSilent, 'silent'>;
const METHODS: readonly Method[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

const SURROGATE = /[\ud800-\udfff]/;
/** A string JSON.stringify quotes exactly as pino does (pino writes lone surrogates unescaped: those go to pino). */
const plainString = (v: unknown): v is string => typeof v === 'string' && !SURROGATE.test(v);

/**
 * A value as pino writes it in a record (a string, a finite number, a boolean or null), or undefined when pino
 * would write it in some other way (an object, an Error, a lone surrogate: then pino writes the record).
 */
function asJsonValue(v: unknown): string | undefined {
  if (v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || plainString(v)) return JSON.stringify(v);
  return undefined;
}

/**
 * The logger devMaster's code gets: pino's, made when first needed. Until then it keeps its level itself, so a
 * record below the level costs nothing, and writes a record of plain values ("msg", or an object of strings,
 * numbers and booleans and "msg") itself, in pino's JSON line format to descriptor 2, as pino's synchronous
 * destination does: `{"level":30,"time":EPOCH_MS,BINDINGS,KEY:VALUE,...,"msg":"..."}`
 * (test/log/lazy-logger.test.ts compares both on the same records). Everything else (format arguments, Errors,
 * nested objects, pretty output, other members of pino's Logger) goes to pino, which is then loaded; so does every
 * record after preloadLogger().
 */
class LazyLogger {
  #pino: Logger | undefined;
  #level: LevelWithSilent;
  #levelValue: number;
  readonly #make: () => Logger;
  /** The bindings as pino writes them after "time"; undefined when only pino may write (pretty output). */
  readonly #bindings: string | undefined;

  constructor(level: LevelWithSilent, make: () => Logger, bindings: string | undefined) {
    this.#level = level;
    this.#levelValue = LEVEL_VALUES[level];
    this.#make = make;
    this.#bindings = bindings;
  }

  /** pino's logger, made now if it is not yet. */
  real(): Logger {
    if (!this.#pino) {
      this.#pino = this.#make();
      this.#pino.level = this.#level;
    }
    return this.#pino;
  }

  get level(): LevelWithSilent {
    return this.#pino ? (this.#pino.level as LevelWithSilent) : this.#level;
  }

  set level(level: LevelWithSilent) {
    if (this.#pino) this.#pino.level = level;
    this.#level = level;
    this.#levelValue = LEVEL_VALUES[level];
  }

  isLevelEnabled(level: string): boolean {
    return this.#pino ? this.#pino.isLevelEnabled(level) : Object.hasOwn(LEVEL_VALUES, level) && LEVEL_VALUES[level as LevelWithSilent] >= this.#levelValue && level !== 'silent';
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    let own: string | undefined = this.#bindings === undefined ? undefined : '';
    for (const key in bindings) {
      const v = bindings[key] as unknown;
      if (own === undefined || !Object.hasOwn(bindings, key) || v === undefined || key === 'level' || key === 'serializers' || key === 'formatters' || key === 'customLevels') continue;
      const json = asJsonValue(v);
      // pino writes a binding's key unquoted (its keys are identifiers)
      own = json === undefined || !/^[A-Za-z_$][\w$]*$/.test(key) ? undefined : `${own},"${key}":${json}`;
    }
    const level = (options?.level as LevelWithSilent | undefined) ?? this.level;
    return new LazyLogger(level, () => this.real().child(bindings, options), own === undefined ? undefined : this.#bindings + own) as unknown as Logger;
  }

  /** Writes the record itself when it can and pino is not loaded; false when pino must write it. */
  #write(level: Method, args: unknown[]): boolean {
    if (this.#pino || this.#bindings === undefined || args.length === 0 || args.length > 2) return false;
    let obj: unknown;
    let msg: unknown;
    if (args.length === 2) [obj, msg] = args;
    else if (typeof args[0] === 'string') msg = args[0];
    else return false;
    if (!plainString(msg)) return false;
    let props = '';
    if (obj !== undefined && obj !== null) {
      if (typeof obj !== 'object' || Object.getPrototypeOf(obj) !== Object.prototype) return false;
      for (const key in obj) {
        const v = (obj as Record<string, unknown>)[key];
        if (v === undefined) continue;
        const json = asJsonValue(v);
        if (json === undefined || !plainString(key)) return false;
        props += `,${JSON.stringify(key)}:${json}`;
      }
    }
    try {
      writeTextSync(2, `{"level":${LEVEL_VALUES[level]},"time":${Date.now()}${this.#bindings}${props},"msg":${JSON.stringify(msg)}}\n`);
    } catch {
      return false; // pino's destination says what went wrong with descriptor 2
    }
    return true;
  }

  static {
    for (const m of METHODS) {
      const value = LEVEL_VALUES[m];
      Object.defineProperty(LazyLogger.prototype, m, {
        value(this: LazyLogger, ...args: unknown[]): void {
          if (this.#pino) return (this.#pino[m] as (...a: unknown[]) => void)(...args);
          if (value < this.#levelValue || this.#write(m, args)) return;
          (this.real()[m] as (...a: unknown[]) => void)(...args);
        },
      });
    }
  }
}

/** Every logger made here, so that preloadLogger() hands them all to pino. */
const lazyLoggers = new Set<WeakRef<LazyLogger>>();

function lazyLogger(level: LevelWithSilent, make: () => Logger, bindings: string | undefined): Logger {
  const l = new LazyLogger(level, make, bindings);
  lazyLoggers.add(new WeakRef(l));
  return l as unknown as Logger;
}

/**
 * Loads pino now and hands it the loggers made so far (the daemon, once ready: the records that follow are pino's
 * own). Child loggers made later still start lazily and are handed over on their first record.
 */
export function preloadLogger(): void {
  for (const r of lazyLoggers) r.deref()?.real();
  lazyLoggers.clear();
}

let root: Logger | undefined;

/** /dev/null's device number (1:3), as stat's rdev gives it. */
const DEV_NULL_RDEV = (1 << 8) | 3;

/**
 * Whether descriptor 2 is a terminal. Not process.stderr.isTTY (the logger writes to the descriptor itself, and Node
 * builds process.stderr's stream on first use), and node:tty (which loads node:net and the stream modules, compiled
 * without Node's code cache under the daemon's V8 flags) only for a character device that is not /dev/null
 * (`devmaster 2>/dev/null`).
 */
function stderrIsTerminal(): boolean {
  const st = tryOr(() => fstatSync(2), undefined);
  return st !== undefined && st.isCharacterDevice() && st.rdev !== DEV_NULL_RDEV && (require('node:tty') as typeof import('node:tty')).isatty(2);
}

export interface LogOptions {
  level?: string;
  /** Force pretty (true) or JSON (false) output; default: pretty when stderr is a TTY. */
  pretty?: boolean;
  name?: string;
}

/** pino's JSON logger on descriptor 2 (synchronous writes). */
function jsonLogger(level: LevelWithSilent, name?: string): Logger {
  return pino()({ level, name, base: undefined }, pino().destination({ dest: 2, sync: true }));
}

/** A logger of JSON lines on descriptor 2, pino made when first needed; `name` is its "name" binding. */
function lazyJsonLogger(level: LevelWithSilent, name?: string): Logger {
  return lazyLogger(level, () => jsonLogger(level, name), name === undefined ? '' : asJsonValue(name) === undefined ? undefined : `,"name":${JSON.stringify(name)}`);
}

export function createLogger(opts: LogOptions = {}): Logger {
  const level = normalizeLevel(opts.level ?? process.env.DEVMASTER_LOG_LEVEL ?? 'info');
  const usePretty = opts.pretty ?? stderrIsTerminal();
  root = usePretty
    ? lazyLogger(
        level,
        () =>
          pino()(
            { level, name: opts.name, base: undefined },
            (require('pino-pretty') as { default: (o: object) => NodeJS.WritableStream }).default({ destination: 2, colorize: true, sync: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }),
          ),
        undefined,
      )
    : lazyJsonLogger(level, opts.name);
  return root;
}

/** The process-wide logger (a quiet default until createLogger is called by an entry point). */
export function log(): Logger {
  if (!root) root = lazyJsonLogger(normalizeLevel(process.env.DEVMASTER_LOG_LEVEL ?? 'warn'));
  return root;
}

export function setLogLevel(level: string): void {
  log().level = normalizeLevel(level);
}

/** A logger at a fixed level that is not the process-wide one (e.g. 'silent' for machine-readable output). */
export function levelLogger(level: LevelWithSilent): Logger {
  return lazyJsonLogger(level);
}
