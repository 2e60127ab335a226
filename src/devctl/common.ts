// Shared plumbing for devctl verbs: argument parsing with the global root/config flags, errors, exit codes.
import { configArgOptions, resolveConfig, type Config } from '../config/config.js';
import { createLogger, log } from '../log.js';
import type { Roots } from '../device/roots.js';
import { getopt, type ArgKind, type GetoptResult, type GetoptSpec, type GotOption, type LongOption, type ShortOption } from './getopt.js';

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

/**
 * One option of a verb. `type: 'string'` takes an argument (`optional: true`: only as --opt=VALUE or -oVALUE, as
 * udevadm's -w[SECONDS]; the value is '' when none is given); `multiple` keeps every value; `aliases` are further
 * long names (udevadm's --log-priority for --log-level).
 */
export interface OptionDef {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  optional?: boolean;
  aliases?: readonly string[];
}

export type OptionSpec = Readonly<Record<string, OptionDef>>;

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

/** Builds getopt's tables from an option spec. */
export function getoptSpec(options: OptionSpec, stopAtOperand = false, exactOnly: ReadonlySet<string> = new Set()): GetoptSpec {
  const short = new Map<string, ShortOption>();
  const long: LongOption[] = [];
  for (const [key, o] of Object.entries(options)) {
    const arg: ArgKind = o.type === 'boolean' ? 'none' : o.optional ? 'optional' : 'required';
    if (o.short) short.set(o.short, { arg, key });
    for (const name of [key, ...(o.aliases ?? [])]) long.push({ name, arg, key, exactOnly: exactOnly.has(key) });
  }
  return { short, long, stopAtOperand };
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

/** Adds one option occurrence to `values` (booleans true, strings their value, `multiple` ones a list). */
function store(values: Record<string, unknown>, def: OptionDef | undefined, o: GotOption): void {
  if (!def || def.type === 'boolean') {
    values[o.key] = true;
    return;
  }
  const v = o.value ?? '';
  if (def.multiple) ((values[o.key] ??= []) as string[]).push(v);
  else values[o.key] = v;
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
  for (const o of invocation.globals) store(globalValues, globals[o.key], o);
  const order: GotOption[] = [];
  for (const o of r.options) {
    if (o.key === 'help' && !('help' in options)) throw new EarlyExit('help');
    if (o.key === 'version' && !('version' in options)) throw new EarlyExit('version');
    if (o.key in options) order.push(o);
    else store(globalValues, globals[o.key], o);
    store(values, all[o.key], o);
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

