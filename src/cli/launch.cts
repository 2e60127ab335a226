// The executables' loader. `npm run build` bundles each executable into one CommonJS file, dist/bundle/NAME.cjs
// (scripts/bundle.mjs), and writes dist/cli/NAME.js as its shebang line and a call of launch(NAME). The bundle
// is compiled with V8's code cache, dist/bundle/NAME.cache, made at build time by writeCodeCache(): V8 then
// skips parsing and compiling what the cache holds. V8 checks the cache against its own version, the V8 flags
// and the source, and rejects it when any differs (another Node.js, other flags, a rebuilt bundle); a missing,
// rejected or unreadable cache costs only the time it would have saved. This file is CommonJS and imports only
// Node's own modules: it is all that runs before the bundle.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

/** dist/bundle, next to dist/cli where this file is built. */
const BUNDLE_DIR = join(__dirname, '..', 'bundle');

type ModuleWrapper = (exports: object, require: NodeRequire, module: { exports: object }, filename: string, dirname: string) => void;

export interface Compiled {
  script: Script;
  /** True when V8 refused the cache, false when it used it, undefined when there was none. */
  cacheRejected: boolean | undefined;
  /** Runs the bundle as a CommonJS module of its own file. */
  run(): void;
}

export const bundlePath = (name: string): string => join(BUNDLE_DIR, `${name}.cjs`);
export const cachePath = (name: string): string => join(BUNDLE_DIR, `${name}.cache`);

/** Compiles dist/bundle/NAME.cjs, with its code cache when there is one. */
export function compile(name: string): Compiled {
  const file = bundlePath(name);
  // The bundle is ASCII (esbuild's default charset): latin1 is the cheapest exact decoding.
  const source = readFileSync(file, 'latin1');
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cachePath(name));
  } catch {
    // no cache (a build without it, or a copy without it): compiled from the source alone
  }
  // The same wrapper as Node's CommonJS loader, so the bundle sees the usual module variables.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  return {
    script,
    cacheRejected: cachedData === undefined ? undefined : script.cachedDataRejected,
    run() {
      const module = { exports: {} };
      (script.runInThisContext() as ModuleWrapper)(module.exports, createRequire(file), module, file, dirname(file));
    },
  };
}

/** Runs the executable NAME (dist/cli/NAME.js calls this). */
export function launch(name: string): void {
  compile(name).run();
}

/**
 * Build time: runs NAME with `argv` (a harmless invocation such as --help, whose run compiles the functions a
 * start needs) and writes its code cache when the process exits. The cache is valid only for the V8 flags of
 * this process, so scripts/bundle.mjs runs it with the flags of NAME's shebang line.
 */
export function writeCodeCache(name: string, argv: readonly string[]): void {
  const compiled = compile(name);
  process.argv = [process.argv[0]!, join(__dirname, `${name}.js`), ...argv];
  process.on('exit', () => {
    const tmp = `${cachePath(name)}.${process.pid}`;
    writeFileSync(tmp, compiled.script.createCachedData());
    renameSync(tmp, cachePath(name));
  });
  compiled.run();
}
