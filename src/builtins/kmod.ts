// kmod: loads kernel modules through libkmod (src/sys/libkmod.ts), as systemd-udevd's
// udev-builtin-kmod.c (version 252, with Debian's backport of the MODALIAS default) does:
//
//   kmod load [MODALIAS|MODULE...]
//
// Each argument is resolved (aliases, modules.dep, built-ins, configuration) and every module it names is
// inserted with the deny-list applied; without arguments the device's MODALIAS property is used. A name that
// resolves to nothing is not an error (nothing to load), nor is a failed insertion: like udev the builtin only
// fails on bad arguments. One libkmod context lives from init() to exit(); shouldReload() says when the
// module index changed on disk. In test mode (devctl test / test-builtin) modules are looked up, never loaded.
import { errnoError, errnoName } from '../sys/errno.js';
import { kmod, KMOD_MODULE_BUILTIN, KMOD_MODULE_LIVE, KMOD_PROBE_APPLY_BLACKLIST, KMOD_RESOURCES_OK, setKmodLog, type Ptr } from '../sys/libkmod.js';
import type { Logger } from '../log.js';
import { isSystemError } from '../util/fs.js';
import type { Builtin, BuiltinContext } from './types.js';

// ------------------------------------------------------------------ the context

let ctxPtr: Ptr | null = null;
/** Where libkmod looks: undefined means its defaults (/lib/modules/`uname -r`, /etc/modprobe.d, ...). */
let options: { dirname?: string; configPaths?: string[] } = {};
/** Releases the log callback of the context. */
let releaseLog: (() => void) | undefined;
/** Where libkmod's messages go: the logger of the event being handled (or of init). */
let currentLog: Logger | undefined;
let missingLogged = false;

function kmodLog(priority: number, msg: string): void {
  const l = currentLog;
  if (!l) return;
  const level = priority <= 3 ? 'error' : priority === 4 ? 'warn' : priority <= 6 ? 'info' : 'debug';
  l[level](`libkmod: ${msg}`);
}

function freeContext(): void {
  if (ctxPtr) kmod().unrefCtx(ctxPtr);
  ctxPtr = null;
  releaseLog?.();
  releaseLog = undefined;
}

/** Creates the libkmod context and loads the module index (builtin_kmod_init); a second call starts afresh. */
function init(log?: Logger): void {
  if (log) currentLog = log;
  const k = kmod();
  freeContext();
  const c = k.newCtx(options.dirname ?? null, options.configPaths ? [...options.configPaths, null] : null);
  if (!c) throw new Error('kmod: kmod_new() failed');
  ctxPtr = c;
  releaseLog = setKmodLog(c, kmodLog);
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
  if (r < 0) throw errnoError(`kmod: failed to look up module alias '${alias}'`, -r);
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
            log?.debug(`kmod: failed to insert module '${name}': ${errnoName(-err)}`);
            out.push({ name, outcome: 'failed', error: errnoName(-err) });
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
      if (!isSystemError(e)) throw e; // a failed look-up: nothing to load, as udev
      ctx.log.debug(e.message);
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
    if (ctxPtr || releaseLog) freeContext();
  },
  shouldReload: () => {
    if (!ctxPtr) return false;
    return kmod().validateResources(ctxPtr) !== KMOD_RESOURCES_OK;
  },
};

export default builtin;
