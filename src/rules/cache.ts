// The rules cache: compiled rules files kept between processes (docs/DEVCTL.md, "devctl test"). The daemon
// writes what it compiled to <run>/devmaster/rules-cache.json after each rules load; `devctl test` takes a file
// from there instead of parsing and compiling it again, when the file on disk is still the version that was
// compiled (same device, inode, size, modification and change times) and everything else that went into the
// compiled form is the same: this build's compiler (RULES_COMPILER_HASH, made from its sources at build time),
// the compile options, and /etc/passwd and /etc/group (OWNER and GROUP names are resolved to numbers at compile
// time; a file `devctl test` compiled keeps the names instead, looked up when a line runs, which is valid whatever
// those files hold). Anything else (no cache, another build, a changed file) is compiled as if there were no cache.
//
// `devctl test` adds to it the files it compiled itself (the daemon stopped, or declining the test: other rules
// directories, --local), so that its next test takes them; only where the directory exists, a devMaster's run
// directory: devctl makes none, and a machine where devMaster never ran gets nothing written.
//
// The daemon itself takes files from the cache when it starts (src/daemon/engine.ts): from its run directory's, the
// one a daemon of the same boot left, and else from the kept cache, a copy in a directory that outlives a boot
// (cache_dir, /var/cache/devmaster in the shipped unit). It takes only files it compiled itself: a file `devctl
// test` compiled looks its OWNER and GROUP names up when a line runs, where the daemon's resolve them at the load
// (each entry says which, `late`).
//
// A cache makes `devctl test` and the daemon run PROGRAM and IMPORT{program} lines they did not read themselves, so
// only a file that could not have been forged is taken: owned by root or by the caller, and writable by its owner
// only.
import { readFileSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import type { CompileOptions, CompiledFile, Line, Token } from './compile.js';
import { RULES_COMPILER_HASH } from '../generated/rules-compiler.js';
import { isSystemError, statIfAny, writeFileAtomic } from '../util/fs.js';

/** Bumped when the file's layout changes (the compiled form itself is covered by RULES_COMPILER_HASH). */
const FORMAT = 2;

/**
 * The most files `devctl test` keeps from other runs beside those of its own (update()): each test reads the whole
 * cache, and tests of many rules directories would otherwise grow it until the daemon's next load replaces it.
 */
const MAX_KEPT = 256;

/** The files whose contents go into compiled rules besides the rules files: the user and group databases. */
const NAME_DATABASES = ['/etc/passwd', '/etc/group'];

/** Where the daemon of the runtime directory `run` keeps the cache. */
export function rulesCachePath(run: string): string {
  return join(run, 'devmaster', 'rules-cache.json');
}

/** The kept cache in the directory `cacheDir` (cache_dir): the copy that outlives a boot. */
export function keptRulesCachePath(cacheDir: string): string {
  return join(cacheDir, 'rules-cache.json');
}

/** What identifies the version of a file that was compiled. */
export function fileStamp(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
}

/** The stamp of what is at `path` now; undefined when there is nothing there. */
export function stampOf(path: string): string | undefined {
  const st = statIfAny(path);
  return st && fileStamp(st);
}

/** Everything but the rules files that the compiled form depends on. */
function contextOf(opts: CompileOptions): string {
  return JSON.stringify([FORMAT, RULES_COMPILER_HASH, opts.resolveNames ?? 'early', NAME_DATABASES.map((p) => stampOf(p) ?? '-')]);
}

/** A line as the cache keeps it: what read() makes again is left out. */
type StoredLine = Omit<Line, 'file' | 'tokens'> & { tokens: Omit<Token, 'file' | 'pattern'>[] };
/** `late`: 1 when the file was compiled to look its OWNER and GROUP names up when a line runs (devctl test's). */
type Entry = [path: string, stamp: string, file: Omit<CompiledFile, 'lines'> & { lines: StoredLine[] }, late?: 1];

function withoutRebuilt(line: Line): StoredLine {
  const { file: _file, tokens, ...rest } = line;
  return { ...rest, tokens: tokens.map(({ file: _f, pattern: _p, ...tok }) => tok) };
}

export class RulesCache {
  readonly #context: string;
  readonly #files = new Map<string, { stamp: string; file: CompiledFile; late: boolean }>();
  /** The files got or set since the cache was read: their entries are the versions on disk. */
  readonly #current = new Set<string>();
  #hits = 0;
  #added = 0;

  constructor(opts: CompileOptions) {
    this.#context = contextOf(opts);
  }

  /**
   * The compiled version of `path` when the cache holds the one with this stamp; with `resolvedNames`, only one whose
   * OWNER and GROUP names were resolved when it was compiled (the daemon's).
   */
  get(path: string, stamp: string, { resolvedNames = false }: { resolvedNames?: boolean } = {}): CompiledFile | undefined {
    const e = this.#files.get(path);
    if (e?.stamp !== stamp || (resolvedNames && e.late)) return undefined;
    this.#hits++;
    this.#current.add(path);
    return e.file;
  }

  /** How many files get() gave. */
  get hits(): number {
    return this.#hits;
  }

  /** How many files set() gave the cache (compiled, not taken from it). */
  get added(): number {
    return this.#added;
  }

  /** `late`: compiled to look its OWNER and GROUP names up when a line runs (CompileOptions.lookUpNamesWhenRun). */
  set(path: string, stamp: string, file: CompiledFile, late = false): void {
    this.#files.set(path, { stamp, file, late });
    this.#current.add(path);
    this.#added++;
  }

  get size(): number {
    return this.#files.size;
  }

  /**
   * Writes the cache at each path, making its directory unless `mkdir` is false. Left out: the file's path in each
   * line and token (read() puts it back) and the compiled patterns (their tests are functions; made when first used,
   * patternOf()). Characters beyond ASCII are escaped, so that the file reads as Latin-1.
   */
  write(path: string | readonly string[], { mkdir = true }: { mkdir?: boolean } = {}): void {
    const entries: Entry[] = [...this.#files].map(([p, { stamp, file, late }]) => {
      const e: Entry = [p, stamp, { ...file, lines: file.lines.map(withoutRebuilt) }];
      if (late) e.push(1);
      return e;
    });
    const json = JSON.stringify({ context: this.#context, files: entries }).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    // each path tried: one that fails does not keep the others from being written; the first failure is thrown
    let failure: unknown;
    for (const p of typeof path === 'string' ? [path] : path) {
      try {
        writeFileAtomic(p, json, { mode: 0o644, mkdir });
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * Writes the cache as `devctl test` keeps it: the files it holds from its read that are still the version on disk
   * (another test's rules directories, say; at most MAX_KEPT of them, the first ones read) beside those got and set
   * since. Only into a directory that exists (a devMaster's run directory: devctl makes none); where there is none,
   * nothing is done, not even the text of the file (most of the work). Returns whether it was written.
   */
  update(path: string): boolean {
    if (statIfAny(dirname(path))?.isDirectory() !== true) return false;
    let kept = 0;
    for (const [p, { stamp }] of this.#files) {
      if (this.#current.has(p)) continue;
      if (kept < MAX_KEPT && stampOf(p) === stamp) kept++;
      else this.#files.delete(p);
    }
    this.write(path, { mkdir: false });
    return true;
  }

  /**
   * The cache at `path` for these options: empty when there is none, when it was made for another compiler,
   * options or name databases, or when it may have been written by someone else; an unreadable or malformed file
   * is `error` (and an empty cache).
   */
  static read(path: string, opts: CompileOptions): { cache: RulesCache; error?: string } {
    const cache = new RulesCache(opts);
    let text: string;
    try {
      const st = statSync(path);
      const uid = process.geteuid?.() ?? 0;
      if ((st.uid !== 0 && st.uid !== uid) || (st.mode & 0o022) !== 0 || !st.isFile()) return { cache, error: `${path}: not trusted (owner ${st.uid}, mode ${(st.mode & 0o7777).toString(8)})` };
      text = readFileSync(path, 'latin1'); // write() keeps it ASCII
    } catch (e) {
      if (!isSystemError(e)) throw e;
      return e.code === 'ENOENT' ? { cache } : { cache, error: `${path}: ${e.message}` };
    }
    try {
      const data = JSON.parse(text) as { context?: unknown; files?: unknown };
      if (data.context !== cache.#context) return { cache };
      if (!Array.isArray(data.files)) throw new Error('no file list');
      for (const entry of data.files as unknown[]) {
        if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'string') throw new Error('malformed entry');
        const [p, stamp, file, late] = entry as [string, string, CompiledFile, 1?];
        if (!Array.isArray(file?.lines) || !Array.isArray(file.diagnostics)) throw new Error(`${p}: malformed compiled file`);
        for (const line of file.lines) {
          line.file = p;
          // the patterns are made when first used (patternOf())
          for (const tok of line.tokens) tok.file = p;
        }
        cache.#files.set(p, { stamp, file, late: late === 1 });
      }
    } catch (e) {
      cache.#files.clear();
      return { cache, error: `${path}: ${(e as Error).message}` };
    }
    return { cache };
  }
}
