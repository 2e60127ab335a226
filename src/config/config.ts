// Configuration shared by devmaster and devctl: the roots, the TOML config file and command-line flags.
// Every config key has a flag (key rules_d <-> --rules-dir, max_workers <-> --max-workers, ...).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { TomlError as TomlErrorType } from 'smol-toml';
import { normalizeLevel } from '../log.js';
import { NAMING_SCHEME_NAMES } from './naming-schemes.js';

// A lazy require (bundled by scripts/bundle.mjs, loaded when first called): smol-toml only when a config file is read.
const require = createRequire(import.meta.url);

export type UnitBackend = 'sysmaster' | 'systemd' | 'exec' | 'none';

export interface Config {
  /** sysfs root (default /sys). */
  sysfs: string;
  /** dev root (default /dev). */
  dev: string;
  /** run root: database, tags, links, control socket (default /run/udev). */
  run: string;
  /**
   * Where the daemon keeps what outlives a boot: the compiled rules it takes at its next start (undefined = none; the
   * shipped unit names /var/cache/devmaster).
   */
  cacheDir: string | undefined;
  /** Config file that was read (or would have been). */
  configFile: string;
  /** Rules directories given explicitly; empty means the default search path. */
  rulesDirs: string[];
  /** Maximum number of events processed concurrently (udev's children_max). 0 = automatic. */
  maxWorkers: number;
  logLevel: string;
  /** .link file directories (sysMaster's network_d key); empty: systemd's search path. */
  networkDirs: string[];
  /** Interface naming scheme (v238 ... v257, latest) when neither NET_NAMING_SCHEME nor net.naming_scheme= names one. */
  namingScheme: string | undefined;
  /** The kernel command line file (default /proc/cmdline): net.naming_scheme=, net.ifnames=, KernelCommandLine=. */
  kernelCmdline: string | undefined;
  /** Create missing device nodes with mknod (undefined = automatic: on unless dev root is a devtmpfs). */
  mknod: boolean | undefined;
  /** Enumerate and trigger "add" for every device at start-up. */
  coldplug: boolean;
  /** Seconds before a PROGRAM/IMPORT{program}/RUN child is killed. */
  execTimeout: number;
  /** Seconds before an event is considered failed. */
  eventTimeout: number;
  /** hwdb.bin path; default: first existing of <config dir>/hwdb.bin, /etc/udev/hwdb.bin, /usr/lib/udev/hwdb.bin. */
  hwdbBin: string | undefined;
  unitBackend: UnitBackend;
  sysmasterSocket: string;
  unitExec: string;
  /** Resolve OWNER/GROUP names when rules are loaded (resolve_names=early) or never. */
  resolveNames: 'early' | 'never';
  /** Run the rules once on a sample of the devices, in test mode, while idle after start (src/daemon/warm-up.ts). */
  warmUp: boolean;
  /** Cost accounting per rule line and per event (docs/OBSERVABILITY.md). */
  stats: boolean;
  /** With stats: log rule lines, programs and builtins that take this many milliseconds or more (0 = never). */
  statsSlowMs: number;
  /** With stats: time the rule lines of one event in this many (1 = every event). */
  statsSample: number;
  /** Prometheus metrics file for node_exporter's textfile collector (undefined = none). */
  metricsFile: string | undefined;
  /** Seconds between two writes of the metrics file. */
  metricsInterval: number;
  /** node-feature-discovery's features.d directory: the device facts are written there (undefined = none). */
  nfdFeaturesDir: string | undefined;
  /** Properties exported to node-feature-discovery for every device that has them (besides DEVMASTER_FEATURE). */
  nfdProperties: string[];
  /** Seconds the NFD features stay valid without a rewrite (# +expiry-time); 0 = no expiry. */
  nfdExpiry: number;
  /** A rules reload that would change more devices than this is refused (0 = no bound). */
  reloadMaxImpact: number;
  /**
   * A group (name or number) whose members may make the read-only requests on devMaster's control socket (ping,
   * status, settle, stats); undefined: root only (docs/SECURITY.md).
   */
  controlGroup: string | undefined;
}

export const DEFAULT_CONFIG_FILE = '/etc/devmaster/config.toml';

export function defaultConfig(): Config {
  return {
    sysfs: '/sys',
    dev: '/dev',
    run: '/run/udev',
    cacheDir: undefined,
    configFile: DEFAULT_CONFIG_FILE,
    rulesDirs: [],
    maxWorkers: 0,
    logLevel: 'info',
    networkDirs: [],
    namingScheme: undefined,
    kernelCmdline: undefined,
    mknod: undefined,
    coldplug: false,
    execTimeout: 180,
    eventTimeout: 180,
    hwdbBin: undefined,
    unitBackend: 'sysmaster',
    sysmasterSocket: '/run/sysmaster/private',
    unitExec: '',
    resolveNames: 'early',
    warmUp: true,
    stats: false,
    statsSlowMs: 1000,
    statsSample: 10,
    metricsFile: undefined,
    metricsInterval: 15,
    nfdFeaturesDir: undefined,
    nfdProperties: [],
    nfdExpiry: 0,
    reloadMaxImpact: 0,
    controlGroup: undefined,
  };
}

type Kind = 'string' | 'strings' | 'path' | 'paths' | 'int' | 'bool' | 'loglevel' | { enum: readonly string[] };

interface KeySpec {
  /** TOML key. */
  key: string;
  /** Command-line flag without the leading dashes. */
  flag: string;
  field: keyof Config;
  kind: Kind;
  help: string;
  /** Extra TOML spellings accepted for the same field. */
  aliases?: string[];
  /** The flag's argument in the help (default: N, DIR or VALUE by kind). */
  arg?: string;
}

/** The one table of settings: TOML keys, flags and their types. */
export const KEYS: readonly KeySpec[] = [
  { key: 'sysfs', flag: 'sysfs', field: 'sysfs', kind: 'path', help: 'sysfs root (default /sys)' },
  { key: 'dev', flag: 'dev', field: 'dev', kind: 'path', help: 'device node root (default /dev)' },
  { key: 'run', flag: 'run', field: 'run', kind: 'path', help: 'runtime root: database, tags, links, control socket (default /run/udev)' },
  { key: 'cache_dir', flag: 'cache-dir', field: 'cacheDir', kind: 'path', help: 'directory for the compiled rules kept across boots, taken at the next start (default none)' },
  { key: 'rules_d', flag: 'rules-dir', field: 'rulesDirs', kind: 'paths', help: 'rules directory (repeatable; replaces the default search path)' },
  { key: 'max_workers', flag: 'max-workers', field: 'maxWorkers', kind: 'int', help: 'events processed at once (0 = automatic)', aliases: ['children_max'] },
  { key: 'log_level', flag: 'log-level', field: 'logLevel', kind: 'loglevel', help: 'fatal, error, warn, info, debug, trace (or 0-7)' },
  { key: 'network_d', flag: 'network-dir', field: 'networkDirs', kind: 'paths', help: '.link file directory (repeatable; replaces /etc, /run, /usr/local/lib, /usr/lib systemd/network)' },
  { key: 'naming_scheme', flag: 'naming-scheme', field: 'namingScheme', kind: { enum: [...NAMING_SCHEME_NAMES, 'latest'] }, help: 'interface naming scheme unless net.naming_scheme= or NET_NAMING_SCHEME names one (default v257)' },
  { key: 'kernel_cmdline', flag: 'kernel-cmdline', field: 'kernelCmdline', kind: 'path', help: 'kernel command line file (default /proc/cmdline)' },
  { key: 'mknod', flag: 'mknod', field: 'mknod', kind: 'bool', help: 'create missing device nodes (default: on unless the dev root is a devtmpfs)' },
  { key: 'coldplug', flag: 'coldplug', field: 'coldplug', kind: 'bool', help: 'trigger "add" for every device at start-up and wait for the queue' },
  { key: 'exec_timeout', flag: 'exec-timeout', field: 'execTimeout', kind: 'int', help: 'seconds before a rules program is killed (default 180)' },
  { key: 'event_timeout', flag: 'event-timeout', field: 'eventTimeout', kind: 'int', help: 'seconds before an event is failed (default 180)' },
  { key: 'hwdb_bin', flag: 'hwdb-bin', field: 'hwdbBin', kind: 'path', help: 'hwdb.bin to use' },
  { key: 'unit_backend', flag: 'unit-backend', field: 'unitBackend', kind: { enum: ['sysmaster', 'systemd', 'exec', 'none'] }, help: 'how units are started: sysmaster, systemd, exec, none' },
  { key: 'sysmaster_socket', flag: 'sysmaster-socket', field: 'sysmasterSocket', kind: 'path', help: "sysMaster's command socket (default /run/sysmaster/private)" },
  { key: 'unit_exec', flag: 'unit-exec', field: 'unitExec', kind: 'string', help: 'command template for the exec unit backend ({action} {units} {unit} {devpath})' },
  { key: 'resolve_names', flag: 'resolve-names', field: 'resolveNames', kind: { enum: ['early', 'never'] }, help: 'resolve OWNER/GROUP names: early or never' },
  { key: 'warm_up', flag: 'warm-up', field: 'warmUp', kind: 'bool', help: 'when idle after start, run the rules once on a sample of devices in test mode, nothing applied, to warm the code (default on)' },
  { key: 'stats', flag: 'stats', field: 'stats', kind: 'bool', help: 'keep the cost of every rule line and event (devctl stats; default off)' },
  { key: 'stats_slow_ms', flag: 'stats-slow-ms', field: 'statsSlowMs', kind: 'int', help: 'with stats: log rule lines and programs taking this many ms (default 1000, 0 = never)' },
  { key: 'stats_sample', flag: 'stats-sample', field: 'statsSample', kind: 'int', help: 'with stats: time the rule lines of one event in N (default 10, 1 = every event)' },
  { key: 'metrics_file', flag: 'metrics-file', field: 'metricsFile', kind: 'path', arg: 'FILE', help: "Prometheus metrics file for node_exporter's textfile collector (default none)" },
  { key: 'metrics_interval', flag: 'metrics-interval', field: 'metricsInterval', kind: 'int', help: 'seconds between writes of the metrics file (default 15)' },
  { key: 'nfd_features_d', flag: 'nfd-features-dir', field: 'nfdFeaturesDir', kind: 'path', help: "node-feature-discovery's features.d directory for the device facts (default none)" },
  { key: 'nfd_properties', flag: 'nfd-property', field: 'nfdProperties', kind: 'strings', arg: 'NAME', help: 'property exported to node-feature-discovery for the devices that have it (repeatable)' },
  { key: 'nfd_expiry', flag: 'nfd-expiry', field: 'nfdExpiry', kind: 'int', help: 'seconds the exported features stay valid without a rewrite (default 0 = no expiry)' },
  { key: 'reload_max_impact', flag: 'reload-max-impact', field: 'reloadMaxImpact', kind: 'int', help: 'refuse a rules reload that would change more devices than this (default 0 = no bound)' },
  { key: 'control_group', flag: 'control-group', field: 'controlGroup', kind: 'string', arg: 'GROUP', help: "group whose members may use devmaster.control's read-only requests: ping, status, settle, stats (default none: root only)" },
];

export class ConfigError extends Error {
  constructor(message: string, readonly file?: string, readonly line?: number) {
    super(file ? `${file}${line ? `:${line}` : ''}: ${message}` : message);
    this.name = 'ConfigError';
  }
}

function convert(spec: KeySpec, value: unknown, where: string): unknown {
  const bad = (what: string) => new Error(`${where}: expected ${what}, got ${JSON.stringify(value)}`);
  const kind = spec.kind;
  if (typeof kind === 'object') {
    if (typeof value !== 'string' || !kind.enum.includes(value)) throw bad(`one of ${kind.enum.join(', ')}`);
    return value;
  }
  switch (kind) {
    case 'string':
    case 'path':
      if (typeof value !== 'string' || (kind === 'path' && value === '')) throw bad(kind === 'path' ? 'a non-empty path' : 'a string');
      return value;
    case 'paths':
    case 'strings': {
      const list = Array.isArray(value) ? value : [value];
      if (!list.every((v) => typeof v === 'string' && v !== '')) throw bad(kind === 'paths' ? 'a path or a list of paths' : 'a string or a list of strings');
      return list as string[];
    }
    case 'int': {
      const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
      if (typeof n === 'bigint') return Number(n);
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw bad('a non-negative integer');
      return n;
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'yes' || value === '1') return true;
      if (value === 'false' || value === 'no' || value === '0') return false;
      throw bad('true or false');
    }
    case 'loglevel':
      if (typeof value !== 'string' && typeof value !== 'number') throw bad('a log level');
      try {
        return normalizeLevel(String(value));
      } catch (e) {
        throw new Error(`${where}: ${(e as Error).message}`);
      }
  }
}

function lineOfKey(text: string, key: string): number | undefined {
  const re = new RegExp(`^\\s*["']?${key}["']?\\s*=`, 'm');
  const m = re.exec(text);
  return m ? text.slice(0, m.index).split('\n').length : undefined;
}

export interface LoadResult {
  config: Config;
  warnings: string[];
}

/** Applies the TOML text of a config file onto `into`. Unknown keys become warnings; bad values throw ConfigError. */
export function applyConfigText(into: Config, text: string, file: string): string[] {
  // loaded only when there is a config file to read
  const toml = require('smol-toml') as typeof import('smol-toml');
  let data: Record<string, unknown>;
  try {
    data = toml.parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof toml.TomlError) throw new ConfigError((e as TomlErrorType).message.split('\n')[0] ?? 'TOML syntax error', file, (e as TomlErrorType).line);
    throw new ConfigError(String(e), file);
  }
  const warnings: string[] = [];
  for (const [k, v] of Object.entries(data)) {
    const spec = KEYS.find((s) => s.key === k || s.aliases?.includes(k));
    const line = lineOfKey(text, k);
    if (!spec) {
      warnings.push(`${file}${line ? `:${line}` : ''}: unknown key '${k}' ignored`);
      continue;
    }
    try {
      (into as unknown as Record<string, unknown>)[spec.field] = convert(spec, v, `key '${k}'`);
    } catch (e) {
      throw new ConfigError((e as Error).message, file, line);
    }
  }
  return warnings;
}

/** Reads the config file (a missing default file is fine, a missing explicit one is an error). */
export function loadConfigFile(file: string, explicit: boolean, into: Config = defaultConfig()): LoadResult {
  into.configFile = file;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && !explicit) return { config: into, warnings: [] };
    throw new ConfigError(`cannot read config: ${err.message}`, file);
  }
  return { config: into, warnings: applyConfigText(into, text, file) };
}

/** The option descriptors of every config key plus --config (what src/cli/devmaster.ts reads its command line with). */
export function configArgOptions(): Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> {
  const opts: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { config: { type: 'string' } };
  for (const s of KEYS) {
    if (s.kind === 'bool') {
      opts[s.flag] = { type: 'boolean' };
      opts[`no-${s.flag}`] = { type: 'boolean' };
    } else opts[s.flag] = { type: 'string', multiple: s.kind === 'paths' || s.kind === 'strings' };
  }
  return opts;
}

export function configHelp(): string {
  const rows = [['--config FILE', `config file (default ${DEFAULT_CONFIG_FILE})`], ...KEYS.map((s) => [
    s.kind === 'bool' ? `--[no-]${s.flag}` : `--${s.flag} ${s.arg ?? (s.kind === 'int' ? 'N' : s.kind === 'paths' || s.kind === 'path' ? 'DIR' : 'VALUE')}`,
    s.help,
  ])];
  const w = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `  ${a!.padEnd(w)}  ${b}`).join('\n');
}

/**
 * Builds the effective configuration: defaults, then the config file, then flags.
 * `values`: the command line's options by name (src/cli/devmaster.ts), with configArgOptions()' names.
 */
export function resolveConfig(values: Record<string, unknown>): LoadResult {
  const explicit = typeof values.config === 'string';
  const file = explicit ? (values.config as string) : (process.env.DEVMASTER_CONFIG ?? DEFAULT_CONFIG_FILE);
  const { config, warnings } = loadConfigFile(file, explicit);
  for (const s of KEYS) {
    let v = values[s.flag];
    if (s.kind === 'bool' && values[`no-${s.flag}`]) v = false;
    if (v === undefined) continue;
    try {
      (config as unknown as Record<string, unknown>)[s.field] = convert(s, v, `--${s.flag}`);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
  }
  return { config, warnings };
}
