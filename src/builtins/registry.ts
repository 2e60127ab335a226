// The builtin registry. Each builtin lives in its own file in this folder and is listed here once.
import type { Builtin } from './types.js';

const loaders: Record<string, () => Promise<{ default: Builtin }>> = {
  // name: () => import('./name.js'),
  path_id: () => import('./path_id.js'),
  input_id: () => import('./input_id.js'),
  usb_id: () => import('./usb_id.js'),
  net_id: () => import('./net_id.js'),
  hwdb: () => import('./hwdb.js'),
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
