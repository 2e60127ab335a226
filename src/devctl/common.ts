// Shared plumbing for devctl verbs: argument parsing with the global root/config flags, errors, exit codes.
import { configArgOptions, resolveConfig, type Config } from '../config/config.js';
import { createLogger, log } from '../log.js';
import type { Roots } from '../device/roots.js';
import { getopt, getoptSpec, storeOption, type GetoptResult, type GotOption, type OptionDef, type OptionSpec } from '../util/getopt.js';

export { getoptSpec, type OptionDef, type OptionSpec };

/** What every verb module exports. */
export interface Verb {
  /** One line for `devctl --help`. */
  summary: string;
  /** Full text for `devctl VERB --help`. */
  help: string;
  /** Runs the verb; returns the exit code. */
  run(argv: string[]): Promise<number>;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A usage error worded as udevadm words it: printed as is, without devctl's "devctl VERB: " prefix. */
export class Failure extends UsageError {}

/** A bad option, worded as glibc's getopt words it ("info: unrecognized option '--bogus'"). */
export class GetoptError extends Failure {}

/** -h/--help or -V/--version came first: the caller prints the verb's help or the version and exits 0. */
export class EarlyExit extends Error {
  constructor(readonly what: 'help' | 'version') {
    super(what);
    this.name = 'EarlyExit';
  }
}


export interface Parsed {
  values: Record<string, unknown>;
  positionals: string[];
  /** The verb's own options in command-line order (for verbs where the order matters). */
  order: GotOption[];
  config: Config;
  roots: Roots;
}

/** Options every verb takes before and after its name (devctl's global options and the config keys). */
function globalOptionSpec(): OptionSpec {
  const spec: Record<string, OptionDef> = { debug: { type: 'boolean' } };
  for (const [name, o] of Object.entries(configArgOptions())) spec[name] = { type: o.type, multiple: o.multiple };
  return spec;
}

/**
 * Reads the options before the verb (udevadm's -d/--debug, -h/--help, -V/--version, and devctl's global options,
 * which are never abbreviated); the first operand is the verb.
 */
export function parsePreVerb(argv: readonly string[]): GetoptResult {
  const globals = globalOptionSpec();
  const spec: OptionSpec = { debug: { type: 'boolean', short: 'd' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' } };
  const exact = new Set(Object.keys(globals).filter((k) => !(k in spec)));
  return getopt(argv, getoptSpec({ ...spec, ...globals, ...spec }, true, exact), 'devctl');
}

interface Invocation {
  /** The name getopt reports errors under (udevadm uses the verb). */
  verb: string;
  /** Global options given before the verb. */
  globals: GotOption[];
}

let invocation: Invocation = { verb: 'devctl', globals: [] };

/** Records the verb being run and the global options given before it (src/cli/devctl.ts). */
export function setInvocation(verb: string, globals: GotOption[]): void {
  invocation = { verb, globals };
}

/**
 * Parses a verb's arguments as udevadm does (getopt_long: see ./getopt.ts) together with the global flags
 * (--sysfs, --dev, --run, --config, --rules-dir, --debug, ...; also accepted before the verb). -h/--help and
 * -V/--version throw EarlyExit; a bad option throws GetoptError with glibc's message; a bad config value ConfigError.
 * `stopAtOperand`: the first operand ends the options (a command line follows, as for `lock`).
 */
export function parseVerbArgs(argv: string[], options: OptionSpec, { stopAtOperand = false }: { stopAtOperand?: boolean } = {}): Parsed {
  const globals = globalOptionSpec();
  const all: OptionSpec = { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'V' }, ...options };
  const exact = new Set<string>();
  for (const [k, o] of Object.entries(globals)) {
    if (k in all) continue;
    (all as Record<string, OptionDef>)[k] = o;
    exact.add(k);
  }
  const r = getopt(argv, getoptSpec(all, stopAtOperand, exact), invocation.verb);
  // the global options (before the verb, and after it unless the verb has an option of that name: control's
  // --log-level is the daemon's) configure devctl itself; everything lands in `values`
  const values: Record<string, unknown> = {};
  const globalValues: Record<string, unknown> = {};
  for (const o of invocation.globals) storeOption(globalValues, globals[o.key], o);
  const order: GotOption[] = [];
  for (const o of r.options) {
    if (o.key === 'help' && !('help' in options)) throw new EarlyExit('help');
    if (o.key === 'version' && !('version' in options)) throw new EarlyExit('version');
    if (o.key in options) order.push(o);
    else storeOption(globalValues, globals[o.key], o);
    storeOption(values, all[o.key], o);
  }
  if (r.error !== undefined) throw new GetoptError(r.error);
  for (const [k, v] of Object.entries(globalValues)) if (!(k in values)) values[k] = v;
  const { config, warnings } = resolveConfig(globalValues);
  if (globalValues.debug) createLogger({ level: 'debug' });
  else if (globalValues['log-level'] !== undefined || process.env.DEVMASTER_LOG_LEVEL) createLogger({ level: config.logLevel });
  for (const w of warnings) log().warn(w);
  return { values, positionals: r.operands, order, config, roots: { sysfs: config.sysfs, dev: config.dev, run: config.run } };
}

/** Reads a string option that may be given several times; returns a list. */
export function list(v: unknown): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? (v as string[]) : [v as string];
}

/** Prints a message on stderr as udevadm prints its errors (no prefix); returns exit status 1. */
export function fail(message: string): number {
  process.stderr.write(message + '\n');
  return 1;
}

/** systemd's path_simplify(): no repeated slashes, no "." components, no trailing slash ("" for an empty path). */
export function simplifyPath(p: string): string {
  return (p.startsWith('/') ? '/' : '') + p.split('/').filter((c) => c !== '' && c !== '.').join('/');
}

