// The builtin registry. Each builtin lives in its own file in this folder and is listed here once.
import type { Builtin, BuiltinConfig } from './types.js';
import type { Roots } from '../device/roots.js';
import { log } from '../log.js';

const loaders: Record<string, () => Promise<{ default: Builtin }>> = {
  // name: () => import('./name.js'),
  path_id: () => import('./path_id.js'),
  input_id: () => import('./input_id.js'),
  usb_id: () => import('./usb_id.js'),
  net_id: () => import('./net_id.js'),
  net_driver: () => import('./net_driver.js'),
  net_setup_link: () => import('./net_setup_link.js'),
  hwdb: () => import('./hwdb.js'),
  blkid: () => import('./blkid.js'),
  kmod: () => import('./kmod.js'),
  btrfs: () => import('./btrfs.js'),
  keyboard: () => import('./keyboard.js'),
  uaccess: () => import('./uaccess.js'),
};

/**
 * The builtins udev runs at most once per event (run_once in its table): a second IMPORT{builtin} of one in the same
 * event takes the first one's result instead of running it again.
 */
const RUN_ONCE: ReadonlySet<string> = new Set(['blkid', 'net_driver', 'path_id', 'usb_id']);

export function runsOnce(name: string): boolean {
  return RUN_ONCE.has(name);
}

const loaded = new Map<string, Builtin>();

/** Names of every builtin devMaster implements. */
export function builtinNames(): string[] {
  return Object.keys(loaders).sort();
}

export function isBuiltin(name: string): boolean {
  return Object.hasOwn(loaders, name);
}

/** Loads (once) and returns the builtin, or undefined when there is none by that name. */
export async function getBuiltin(name: string): Promise<Builtin | undefined> {
  const have = loaded.get(name);
  if (have) return have;
  const loader = loaders[name];
  if (!loader) return undefined;
  const b = (await loader()).default;
  // a bundle that imports a chunk the wrong way gives its whole exports object here: refused, never a builtin without run
  if (b?.name !== name || typeof b.run !== 'function') throw new Error(`internal: the module of builtin '${name}' does not export it as its default`);
  loaded.set(name, b);
  return b;
}

/** Preloads every builtin so the event path never waits on an import. */
export async function loadAllBuiltins(): Promise<Builtin[]> {
  return Promise.all(builtinNames().map(async (n) => (await getBuiltin(n))!));
}

export type { BuiltinConfig };

/** Told about a builtin whose init() threw; without one, the error propagates. */
export type BuiltinErrorHandler = (name: string, err: Error) => void;

async function initOne(b: Builtin, roots: Roots, config: BuiltinConfig, onError: BuiltinErrorHandler | undefined): Promise<boolean> {
  try {
    await b.init?.(roots, config);
    return true;
  } catch (e) {
    if (!onError) throw e;
    onError(b.name, e as Error);
    return false;
  }
}

/**
 * Loads every builtin (or takes the given ones), hands them the configuration and calls their init(); returns
 * the ones ready for the event path, by name. With onError, a builtin whose init() fails is left out.
 * Call reloadBuiltins for the ones whose shouldReload() turns true.
 */
export async function initBuiltins(roots: Roots, config: BuiltinConfig = {}, opts: { builtins?: Builtin[]; onError?: BuiltinErrorHandler } = {}): Promise<Map<string, Builtin>> {
  await configureHwdb(config);
  const ready = new Map<string, Builtin>();
  for (const b of opts.builtins ?? (await loadAllBuiltins())) if (await initOne(b, roots, config, opts.onError)) ready.set(b.name, b);
  lastConfig.set(ready, config);
  return ready;
}

/** Where the hwdb builtin (and every builtin that looks up the hwdb) finds hwdb.bin. */
async function configureHwdb(config: BuiltinConfig): Promise<void> {
  (await import('./hwdb.js')).configureHwdb({ hwdbBin: config.hwdbBin, configFile: config.configFile, watch: config.watch ?? false });
}

/**
 * Every builtin, each loaded and initialized when it first runs, for one-shot tools (devctl test): an event runs
 * few builtins or none, and loading them all costs more than the run. A builtin whose init() fails fails each of its
 * runs with that error. exitBuiltins() frees the ones that were loaded.
 */
export function lazyBuiltins(roots: Roots, config: BuiltinConfig = {}): Map<string, Builtin> {
  let configured: Promise<void> | undefined;
  const builtins = new Map<string, Builtin>();
  for (const name of builtinNames()) {
    let ready: Promise<Builtin> | undefined;
    let initialized: Builtin | undefined;
    const load = async (): Promise<Builtin> => {
      await (configured ??= configureHwdb(config));
      const b = (await getBuiltin(name))!;
      await b.init?.(roots, config);
      return (initialized = b);
    };
    builtins.set(name, {
      name,
      help: '',
      run: async (ctx, argv) => (await (ready ??= load())).run(ctx, argv),
      exit: () => initialized?.exit?.(),
    });
  }
  return builtins;
}

/** The configuration each set of builtins was initialized with (a reload initializes them the same way). */
const lastConfig = new WeakMap<ReadonlyMap<string, Builtin>, BuiltinConfig>();

/** Re-initializes the builtins whose resources changed on disk; returns their names. */
export async function reloadBuiltins(builtins: ReadonlyMap<string, Builtin>, roots: Roots, onError?: BuiltinErrorHandler): Promise<string[]> {
  const done: string[] = [];
  const config = lastConfig.get(builtins) ?? {};
  for (const b of builtins.values()) if (b.shouldReload?.() && (await initOne(b, roots, config, onError))) done.push(b.name);
  return done;
}

/** Frees every builtin's resources (watchers, open databases); a failing exit() is logged and does not stop the others. */
export function exitBuiltins(builtins: ReadonlyMap<string, Builtin>): void {
  for (const b of builtins.values()) {
    try {
      b.exit?.();
    } catch (e) {
      log().warn({ builtin: b.name, err: (e as Error).message }, 'builtin: cannot free its resources');
    }
  }
}
