// The builtin registry. Each builtin lives in its own file in this folder and is listed here once.
import type { Builtin } from './types.js';
import type { Roots } from '../device/roots.js';

const loaders: Record<string, () => Promise<{ default: Builtin }>> = {
  // name: () => import('./name.js'),
  path_id: () => import('./path_id.js'),
  input_id: () => import('./input_id.js'),
  usb_id: () => import('./usb_id.js'),
  net_id: () => import('./net_id.js'),
  hwdb: () => import('./hwdb.js'),
  blkid: () => import('./blkid.js'),
  kmod: () => import('./kmod.js'),
  btrfs: () => import('./btrfs.js'),
  keyboard: () => import('./keyboard.js'),
};

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
  loaded.set(name, b);
  return b;
}

/** Preloads every builtin so the event path never waits on an import. */
export async function loadAllBuiltins(): Promise<Builtin[]> {
  return Promise.all(builtinNames().map(async (n) => (await getBuiltin(n))!));
}

/** What builtins take from the configuration. */
export interface BuiltinConfig {
  hwdbBin?: string;
  configFile?: string;
  /** Watch resource files (hwdb.bin) for changes: the daemon does, one-shot tools do not. */
  watch?: boolean;
}

/**
 * Loads every builtin, hands them the configuration and calls their init(); returns them by name, ready for
 * the event path. Call again for the ones whose shouldReload() is true (see reloadBuiltins).
 */
export async function initBuiltins(roots: Roots, config: BuiltinConfig = {}): Promise<Map<string, Builtin>> {
  const { configureHwdb } = await import('./hwdb.js');
  configureHwdb({ hwdbBin: config.hwdbBin, configFile: config.configFile, watch: config.watch ?? false });
  const all = await loadAllBuiltins();
  for (const b of all) await b.init?.(roots);
  return new Map(all.map((b) => [b.name, b]));
}

/** Re-initializes the builtins whose resources changed on disk; returns their names. */
export async function reloadBuiltins(builtins: ReadonlyMap<string, Builtin>, roots: Roots): Promise<string[]> {
  const done: string[] = [];
  for (const b of builtins.values()) {
    if (b.shouldReload?.()) {
      await b.init?.(roots);
      done.push(b.name);
    }
  }
  return done;
}

/** Frees every builtin's resources (watchers, open databases). */
export function exitBuiltins(builtins: ReadonlyMap<string, Builtin>): void {
  for (const b of builtins.values()) b.exit?.();
}
