// The executables' loader. `npm run build` bundles each executable into a few CommonJS files in dist/bundle
// (scripts/bundle.mjs): NAME.cjs, the entry, and NAME-*.cjs, the chunks and packages it loads when a part of it
// runs (a verb, the daemon's rules engine, pino); it writes dist/cli/NAME.js as the shebang line and a call of
// launch(NAME). Each file is compiled with V8's code cache, the .cache file beside it (.jitless.cache under
// --jitless), made at build time by writeCodeCache(): V8 then skips parsing and compiling what the cache holds.
//
// A cache is used only when it is the one made for that very file: each bundle file ends with a key (a hash of its
// text, `//# codeCacheKey=KEY`) and its cache starts with the same key; V8 itself refuses a cache made by another
// V8 or under other V8 flags, or cut short. A missing, stale, refused or unreadable cache costs only the time it
// would have saved. (V8 does not check the checksum of a cache's content in release builds: a cache overwritten in
// place after its header, with the right key, is not noticed; the build writes each cache whole, by a rename.)
//
// Defined modules: the chunks the entry always loads are in the entry's file, each a function given to
// require.define(NAME, fn) before the entry's own code; a require of NAME then runs it (once), as it would have run
// the file NAME. One file to read and compile with its cache instead of several.
//
// This file is CommonJS and imports only Node's own modules: it is all that runs before the bundle.
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';

/** dist/bundle, next to dist/cli where this file is built. */
export const BUNDLE_DIR = join(__dirname, '..', 'bundle');

type ModuleWrapper = (exports: unknown, require: (id: string) => unknown, module: { exports: unknown }, filename: string, dirname: string) => void;

interface Compiled {
  file: string;
  script: Script;
  /** True when the cache was stale or V8 refused it, false when V8 used it, undefined when there was none. */
  cacheRejected: boolean | undefined;
}

/**
 * Whether V8 runs without generating code (--jitless on the command line or in NODE_OPTIONS: the systemd unit's
 * setting, for MemoryDenyWriteExecute=). V8 refuses a cache made under other flags, so each file has a second cache
 * made under them, NAME.jitless.cache (scripts/bundle.mjs: the daemon's).
 */
const JITLESS = process.execArgv.includes('--jitless') || /(^|\s)--jitless(\s|$)/.test(process.env.NODE_OPTIONS ?? '');
const cacheOf = (file: string): string => file.replace(/\.cjs$/, JITLESS ? '.jitless.cache' : '.cache');

/** The key a bundle file ends with; its cache starts with it. */
const KEY_LENGTH = 32;
const KEY_TRAILER = /\/\/# codeCacheKey=([0-9a-f]{32})\n$/;
const KEY = /^[0-9a-f]{32}$/;

/** Compiles one file of the bundle, with its code cache when there is one made for it. */
function compile(file: string): Compiled {
  // The bundle is ASCII (esbuild's default charset): latin1 is the cheapest exact decoding.
  const source = readFileSync(file, 'latin1');
  let cache: Buffer | undefined;
  try {
    cache = readFileSync(cacheOf(file));
  } catch {
    // no cache (a build without it, or a copy without it): compiled from the source alone
  }
  // the key's own shape, then the file's last line (no regular expression over the whole text)
  const key = cache?.toString('latin1', 0, KEY_LENGTH);
  const fresh = key !== undefined && KEY.test(key) && source.endsWith(`//# codeCacheKey=${key}\n`);
  const cachedData = fresh ? cache!.subarray(KEY_LENGTH) : undefined;
  // The same wrapper as Node's CommonJS loader, so the bundle sees the usual module variables.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  return { file, script, cacheRejected: cache === undefined ? undefined : cachedData === undefined || script.cachedDataRejected === true };
}

/** The files of the bundle compiled so far in this process, by path. */
const compiled = new Map<string, Compiled>();
/** The modules of the bundle run so far (a file's, or a defined one's), by path. */
const modules = new Map<string, { exports: unknown }>();
/** The defined modules not run yet, by path (as if each were its own file in dist/bundle). */
const defined = new Map<string, ModuleWrapper>();
/**
 * Everything outside the bundle (Node's modules, node_modules) through Node's own require: this file's, which
 * resolves a package from dist/cli as it would from dist/bundle (the same directories above). Not
 * createRequire(): node:module loads four more of Node's modules (its ES module loader) at each start.
 */
const nodeRequire = require;

/**
 * require() inside the bundle: its own modules ("./NAME-x.cjs", a file name in dist/bundle) through load(), the
 * rest through Node's. (Their paths joined as strings: path.join() is a dozen calls the start runs cold.)
 */
function bundleRequire(id: string): unknown {
  return id.startsWith('./') ? load(BUNDLE_DIR + id.slice(1)).exports : nodeRequire(id);
}
/** Node's resolution from here (a vendored package's file finding its package: netlink's addon, scripts/bundle.mjs). */
bundleRequire.resolve = (id: string, options?: { paths?: string[] }): string => nodeRequire.resolve(id, options);
/** A module whose code is in the file being loaded (the entry's chunks, above), run when first required. */
bundleRequire.define = (name: string, fn: ModuleWrapper): void => {
  defined.set(`${BUNDLE_DIR}/${name}`, fn);
};

/** Loads (runs, once) one module of the bundle as a CommonJS module: a defined one, or a file compiled then. */
function load(file: string): { exports: unknown } {
  let m = modules.get(file);
  if (m) return m;
  m = { exports: {} };
  modules.set(file, m);
  let fn = defined.get(file);
  if (fn) defined.delete(file);
  else {
    const c = compile(file);
    compiled.set(file, c);
    fn = c.script.runInThisContext() as ModuleWrapper;
  }
  fn(m.exports, bundleRequire, m, file, BUNDLE_DIR);
  return m;
}

/** The bundle's files compiled so far, with whether V8 took their caches (tests, scripts/bundle.mjs). */
export function loadedFiles(): { file: string; cacheRejected: boolean | undefined }[] {
  return [...compiled.values()].map(({ file, cacheRejected }) => ({ file, cacheRejected }));
}

/** Build time: NAME's bundle files whose code cache V8 refuses in this process (stale, or made under other flags). */
export function refusedCaches(name: string): string[] {
  return filesOf(name).filter((f) => compile(join(BUNDLE_DIR, f)).cacheRejected !== false);
}

/** The bundle files of the executable NAME: NAME.cjs and its NAME-*.cjs. */
function filesOf(name: string): string[] {
  return readdirSync(BUNDLE_DIR).filter((f) => f === `${name}.cjs` || (f.startsWith(`${name}-`) && f.endsWith('.cjs')));
}

/** Runs the executable NAME (dist/cli/NAME.js calls this). */
export function launch(name: string): void {
  load(`${BUNDLE_DIR}/${name}.cjs`);
}

/**
 * Build time: runs NAME once for each argv of `runs`, one after the other in this process, and, when the process
 * exits, writes the code cache of each of NAME's files: of those it loaded, with the functions the runs ran; of the
 * others, with what V8 compiles up front. The runs are what the caches are trained on (scripts/bundle.mjs: devctl's
 * `test` twice and `info` on the fixture tree, then `--help`, which loads every verb; the daemon's start and a
 * rehearsal of events after it). A run ends with process.exit(): the next run starts in its place, the entry's code
 * run again (the modules it loaded stay loaded), and the last run's exit is the process's. A cache is valid only
 * under the V8 flags of the process that made it, so scripts/bundle.mjs runs this with the flags of NAME's shebang
 * line, and the runs must not change them (v8.setFlagsFromString): a cache carries a hash of the flags as they were
 * when it was made, and a start under the shebang's flags alone would refuse it. A run that fails (exit code other
 * than 0) ends the process and writes no cache.
 *
 * `only: 'loaded'` writes the caches of the files these runs loaded and no earlier process wrote (a file whose cache
 * exists is left as it is), so that a file is trained by the runs that use it: the chunks a verb always loads are
 * defined in its own file, and in one process a chunk runs from the first file that defined it, so a verb run after
 * another would find its shared chunks compiled in the other's file, not its own (scripts/bundle.mjs trains each verb
 * in a process of its own, then writes the caches left with `only: 'missing'`).
 */
export function writeCodeCache(name: string, runs: readonly (readonly string[])[], only?: 'loaded' | 'missing'): void {
  if (!runs.length) throw new Error('writeCodeCache: no run to train on');
  const entry = `${BUNDLE_DIR}/${name}.cjs`;
  const exit = process.exit.bind(process);
  let next = 0;
  const start = (): void => {
    process.argv = [process.argv[0]!, join(__dirname, `${name}.js`), ...runs[next++]!];
    const loaded = compiled.get(entry);
    if (!loaded) return launch(name);
    (loaded.script.runInThisContext() as ModuleWrapper)({}, bundleRequire, { exports: {} }, entry, BUNDLE_DIR);
  };
  process.exit = ((code?: number | string | null) => {
    if (next < runs.length && (code ?? process.exitCode ?? 0) === 0) {
      setImmediate(start);
      return undefined as never;
    }
    return exit(code);
  }) as typeof process.exit;
  process.on('exit', (code) => {
    if (code !== 0) return;
    for (const f of filesOf(name)) {
      const file = join(BUNDLE_DIR, f);
      if (only !== undefined && (existsSync(cacheOf(file)) || (only === 'loaded' && !compiled.has(file)))) continue;
      const key = KEY_TRAILER.exec(readFileSync(file, 'latin1'))?.[1];
      if (key === undefined) throw new Error(`${file}: no codeCacheKey line at its end`);
      const data = (compiled.get(file) ?? compile(file)).script.createCachedData();
      const tmp = `${cacheOf(file)}.${process.pid}`;
      writeFileSync(tmp, Buffer.concat([Buffer.from(key, 'latin1'), data]));
      renameSync(tmp, cacheOf(file));
    }
  });
  start();
}
