// kmod: loads kernel modules through libkmod (libkmod.so.2, via koffi), as systemd-udevd's
// udev-builtin-kmod.c (version 252, with Debian's backport of the MODALIAS default) does:
//
//   kmod load [MODALIAS|MODULE...]
//
// Each argument is resolved (aliases, modules.dep, built-ins, configuration) and every module it names is
// inserted with the deny-list applied; without arguments the device's MODALIAS property is used. A name that
// resolves to nothing is not an error (nothing to load), nor is a failed insertion: like udev the builtin only
// fails on bad arguments. One libkmod context lives from init() to exit(); shouldReload() says when the
// module index changed on disk. In test mode (devctl test / test-builtin) modules are looked up, never loaded.
import koffi from 'koffi';
import { errnoName } from '../util/errno.js';
import type { Logger } from '../log.js';
import type { Builtin, BuiltinContext } from './types.js';

type Ptr = unknown;

interface Kmod {
  newCtx(dirname: string | null, configPaths: (string | null)[] | null): Ptr | null;
  unrefCtx(ctx: Ptr): Ptr | null;
  loadResources(ctx: Ptr): number;
  validateResources(ctx: Ptr): number;
  setLogFn(ctx: Ptr, fn: unknown, data: null): void;
  lookup(ctx: Ptr, alias: string, list: [Ptr | null]): number;
  listNext(list: Ptr, curr: Ptr): Ptr | null;
  getModule(entry: Ptr): Ptr | null;
  moduleUnref(mod: Ptr): Ptr | null;
  unrefList(list: Ptr): number;
  initstate(mod: Ptr): number;
  name(mod: Ptr): string | null;
  probeInsert(mod: Ptr, flags: number, extraOptions: null, runInstall: null, data: null, printAction: null): number;
}

const KMOD_RESOURCES_OK = 0;
const KMOD_MODULE_BUILTIN = 0;
const KMOD_MODULE_LIVE = 1;
const KMOD_PROBE_APPLY_BLACKLIST = 0x20000;

let lib: Kmod | undefined;
let vsnprintf: ((buf: Buffer, size: number, fmt: Ptr, ap: Ptr) => number) | undefined;
let logProto: ReturnType<typeof koffi.proto> | undefined;

/** Loads libkmod once; throws a clear Error when it is not there. */
function kmod(): Kmod {
  if (lib) return lib;
  let l: ReturnType<typeof koffi.load>;
  try {
    l = koffi.load('libkmod.so.2');
  } catch (e) {
    throw new Error(`kmod: cannot load libkmod.so.2 (the libkmod2 package): ${(e as Error).message}`);
  }
  const f = (decl: string) => l.func(decl) as unknown as (...a: unknown[]) => never;
  // libkmod hands its messages to the log function as a printf format and a va_list: vsnprintf formats them
  logProto = koffi.proto('void devmaster_kmod_log_fn(void *data, int priority, const char *file, int line, const char *fn, void *format, void *args)');
  vsnprintf = koffi.load('libc.so.6').func('int vsnprintf(void *buf, size_t size, void *fmt, void *ap)') as unknown as typeof vsnprintf;
  lib = {
    newCtx: f('void *kmod_new(const char *dirname, const char **config_paths)'),
    unrefCtx: f('void *kmod_unref(void *ctx)'),
    loadResources: f('int kmod_load_resources(void *ctx)'),
    validateResources: f('int kmod_validate_resources(void *ctx)'),
    setLogFn: f('void kmod_set_log_fn(void *ctx, devmaster_kmod_log_fn *fn, void *data)'),
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

/** The name of a negative errno ("ENOENT"). */
function errnoText(err: number): string {
  return errnoName(-err);
}

// ------------------------------------------------------------------ the context

let ctxPtr: Ptr | null = null;
/** Where libkmod looks: undefined means its defaults (/lib/modules/`uname -r`, /etc/modprobe.d, ...). */
let options: { dirname?: string; configPaths?: string[] } = {};
let logCallback: unknown;
/** Where libkmod's messages go: the logger of the event being handled (or of init). */
let currentLog: Logger | undefined;
let missingLogged = false;

function kmodLog(_data: unknown, priority: number, _file: string, _line: number, _fn: string, format: Ptr, args: Ptr): void {
  const l = currentLog;
  if (!l) return;
  const buf = Buffer.alloc(1024);
  const n = vsnprintf!(buf, buf.length, format, args);
  const msg = buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))).toString('utf8').trimEnd();
  const level = priority <= 3 ? 'error' : priority === 4 ? 'warn' : priority <= 6 ? 'info' : 'debug';
  l[level](`libkmod: ${msg}`);
}

function freeContext(): void {
  if (ctxPtr) kmod().unrefCtx(ctxPtr);
  ctxPtr = null;
  if (logCallback !== undefined) koffi.unregister(logCallback as bigint);
  logCallback = undefined;
}

/** Creates the libkmod context and loads the module index (builtin_kmod_init); a second call starts afresh. */
function init(log?: Logger): void {
  if (log) currentLog = log;
  const k = kmod();
  freeContext();
  const c = k.newCtx(options.dirname ?? null, options.configPaths ? [...options.configPaths, null] : null);
  if (!c) throw new Error('kmod: kmod_new() failed');
  ctxPtr = c;
  logCallback = koffi.register(kmodLog, koffi.pointer(logProto!));
  k.setLogFn(c, logCallback, null);
  currentLog?.debug('kmod: load module index');
  k.loadResources(c);
}

/**
 * Uses another module directory and/or modprobe.d configuration directories instead of libkmod's defaults
 * (tests; a changed setting takes effect at the next init). Call without arguments to go back to the defaults.
 */
export function configureKmod(opts: { dirname?: string; configPaths?: string[] } = {}): void {
  options = { ...opts };
  if (ctxPtr) freeContext();
}

/** What happened to one module of a resolved name. */
export interface ModuleResult {
  name: string;
  outcome: 'builtin' | 'live' | 'inserted' | 'deny-listed' | 'failed' | 'skipped';
  error?: string;
}

/**
 * module_load_and_warn(): resolves `alias` and inserts every module it names (unless `dryRun`). Returns the
 * modules (empty when nothing matched) or throws on a failed look-up.
 */
export function loadModule(alias: string, dryRun: boolean, log?: Logger): ModuleResult[] {
  const k = kmod();
  if (log) currentLog = log;
  if (!ctxPtr) init(log);
  log?.debug(`kmod: loading module: ${alias}`);
  const list: [Ptr | null] = [null];
  const r = k.lookup(ctxPtr, alias, list);
  if (r < 0) throw new Error(`kmod: failed to look up module alias '${alias}': ${errnoText(r)}`);
  const out: ModuleResult[] = [];
  if (!list[0]) {
    log?.debug(`kmod: failed to find module '${alias}'`);
    return out;
  }
  try {
    for (let it: Ptr | null = list[0]; it; it = k.listNext(list[0], it)) {
      const mod = k.getModule(it);
      if (!mod) continue;
      try {
        const name = k.name(mod) ?? '?';
        const state = k.initstate(mod);
        if (state === KMOD_MODULE_BUILTIN) {
          log?.debug(`kmod: module '${name}' is built in`);
          out.push({ name, outcome: 'builtin' });
        } else if (state === KMOD_MODULE_LIVE) {
          log?.debug(`kmod: module '${name}' is already loaded`);
          out.push({ name, outcome: 'live' });
        } else if (dryRun) {
          log?.debug(`kmod: test mode, not inserting module '${name}'`);
          out.push({ name, outcome: 'skipped' });
        } else {
          const err = k.probeInsert(mod, KMOD_PROBE_APPLY_BLACKLIST, null, null, null, null);
          if (err === 0) {
            log?.debug(`kmod: inserted module '${name}'`);
            out.push({ name, outcome: 'inserted' });
          } else if (err === KMOD_PROBE_APPLY_BLACKLIST) {
            log?.debug(`kmod: module '${name}' is deny-listed`);
            out.push({ name, outcome: 'deny-listed' });
          } else {
            log?.debug(`kmod: failed to insert module '${name}': ${errnoText(err)}`);
            out.push({ name, outcome: 'failed', error: errnoText(err) });
          }
        }
      } finally {
        k.moduleUnref(mod);
      }
    }
  } finally {
    k.unrefList(list[0]);
  }
  return out;
}

function run(ctx: BuiltinContext, argv: string[]): boolean {
  if (argv.length < 2 || argv[1] !== 'load') {
    ctx.log.error(`${ctx.device.sysname}: ${argv[0] ?? 'kmod'}: expected: load [module…]`);
    return false;
  }
  let modules = argv.slice(2);
  if (modules.length === 0) {
    const modalias = ctx.device.property('MODALIAS');
    if (modalias === undefined) {
      ctx.log.warn(`${ctx.device.sysname}: kmod: failed to read property "MODALIAS"`);
      return false;
    }
    modules = [modalias];
  }
  currentLog = ctx.log;
  try {
    if (!ctxPtr) init(ctx.log);
  } catch (e) {
    // no libkmod: nothing can be loaded (udev: no context, nothing to do)
    if (!missingLogged) ctx.log.warn((e as Error).message);
    missingLogged = true;
    return true;
  }
  for (const m of modules) {
    try {
      loadModule(m, ctx.test, ctx.log);
    } catch (e) {
      ctx.log.debug((e as Error).message);
    }
  }
  return true;
}

const builtin: Builtin = {
  name: 'kmod',
  help: 'Kernel module loader',
  run,
  init: () => {
    try {
      init();
    } catch (e) {
      if (!missingLogged) currentLog?.warn((e as Error).message);
      missingLogged = true;
    }
  },
  exit: () => {
    currentLog?.debug('kmod: unload module index');
    if (lib) freeContext();
  },
  shouldReload: () => {
    if (!ctxPtr || !lib) return false;
    return lib.validateResources(ctxPtr) !== KMOD_RESOURCES_OK;
  },
};

export default builtin;
