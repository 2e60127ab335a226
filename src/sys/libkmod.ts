// libkmod (libkmod.so.2) through koffi, for the kmod builtin: the functions udev's udev-builtin-kmod.c calls,
// and its log function (libkmod hands over a printf format and a va_list; vsnprintf formats them).
import { declared, koffi, libcFunction, loadLibrary } from './libc.js';

/** An opaque libkmod pointer (context, list entry, module). */
export type Ptr = unknown;

export interface Kmod {
  newCtx(dirname: string | null, configPaths: (string | null)[] | null): Ptr | null;
  unrefCtx(ctx: Ptr): Ptr | null;
  loadResources(ctx: Ptr): number;
  validateResources(ctx: Ptr): number;
  lookup(ctx: Ptr, alias: string, list: [Ptr | null]): number;
  listNext(list: Ptr, curr: Ptr): Ptr | null;
  getModule(entry: Ptr): Ptr | null;
  moduleUnref(mod: Ptr): Ptr | null;
  unrefList(list: Ptr): number;
  initstate(mod: Ptr): number;
  name(mod: Ptr): string | null;
  probeInsert(mod: Ptr, flags: number, extraOptions: null, runInstall: null, data: null, printAction: null): number;
}

export const KMOD_RESOURCES_OK = 0;
export const KMOD_MODULE_BUILTIN = 0;
export const KMOD_MODULE_LIVE = 1;
export const KMOD_PROBE_APPLY_BLACKLIST = 0x20000;

let lib: Kmod | undefined;
let setLogFn: ((ctx: Ptr, fn: unknown, data: null) => void) | undefined;
const logProto = declared((k) => k.proto('void devmaster_kmod_log_fn(void *data, int priority, const char *file, int line, const char *fn, void *format, void *args)'));
const vsnprintf = libcFunction<(buf: Buffer, size: number, fmt: Ptr, ap: Ptr) => number>('int vsnprintf(void *buf, size_t size, void *fmt, void *ap)');

/** libkmod, loaded once; throws a clear Error when it is not there. */
export function kmod(): Kmod {
  if (lib) return lib;
  const l = loadLibrary('libkmod.so.2', 'libkmod2');
  logProto(); // named in kmod_set_log_fn's prototype
  const f = (decl: string) => l.func(decl) as unknown as (...a: unknown[]) => never;
  setLogFn = f('void kmod_set_log_fn(void *ctx, devmaster_kmod_log_fn *fn, void *data)');
  lib = {
    newCtx: f('void *kmod_new(const char *dirname, const char **config_paths)'),
    unrefCtx: f('void *kmod_unref(void *ctx)'),
    loadResources: f('int kmod_load_resources(void *ctx)'),
    validateResources: f('int kmod_validate_resources(void *ctx)'),
    lookup: f('int kmod_module_new_from_lookup(void *ctx, const char *alias, _Out_ void **list)'),
    listNext: f('void *kmod_list_next(void *list, void *curr)'),
    getModule: f('void *kmod_module_get_module(void *entry)'),
    moduleUnref: f('void *kmod_module_unref(void *mod)'),
    unrefList: f('int kmod_module_unref_list(void *list)'),
    initstate: f('int kmod_module_get_initstate(void *mod)'),
    name: f('const char *kmod_module_get_name(void *mod)'),
    probeInsert: f('int kmod_module_probe_insert_module(void *mod, unsigned int flags, const char *extra_options, void *run_install, void *data, void *print_action)'),
  };
  return lib;
}

/**
 * Sends libkmod's messages of a context to `fn` (syslog priority, formatted text). Returns the function that
 * releases the callback (call it after the context is gone).
 */
export function setKmodLog(ctx: Ptr, fn: (priority: number, message: string) => void): () => void {
  kmod();
  const callback = koffi().register((_data: unknown, priority: number, _file: string, _line: number, _fn: string, format: Ptr, args: Ptr) => {
    const buf = Buffer.alloc(1024);
    const n = vsnprintf()(buf, buf.length, format, args);
    fn(priority, buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))).toString('utf8').trimEnd());
  }, koffi().pointer(logProto()));
  setLogFn!(ctx, callback, null);
  return () => koffi().unregister(callback);
}
