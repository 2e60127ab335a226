// Loading rules: read each file, parse and compile it (./compile-text.ts, loaded with the first file that is not
// taken from a rules cache), and assemble the ordered set. A file is compiled on its own so a reload can keep the
// last good version of a broken file.
import { readFileSync, statSync } from 'node:fs';
import type { CompileOptions, CompiledFile, Diagnostic } from './compile.js';
import { fileStamp, type RulesCache } from './cache.js';
import { rulesFiles } from '../config/rules-path.js';
import { isSystemError } from '../util/fs.js';

/** The complete, ordered set of compiled rules files one event runs through. */
export class RuleSet {
  readonly files: readonly CompiledFile[];
  constructor(files: readonly CompiledFile[]) {
    this.files = files;
  }
  get lineCount(): number {
    return this.files.reduce((n, f) => n + f.lines.length, 0);
  }
  static empty(): RuleSet {
    return new RuleSet([]);
  }
}

/**
 * Reads, parses and compiles one rules file. An unreadable file gives a file with one error and no lines. The reads
 * are synchronous: a few small files, read at start-up and on reload, where a round trip through the thread pool
 * per call cost more than the read (the daemon's start waited on them).
 */
export async function compileRulesFile(path: string, opts: CompileOptions = {}, cache?: RulesCache): Promise<CompiledFile> {
  let text: string;
  let stamp: string | undefined;
  try {
    const st = statSync(path);
    if (st.size === 0 || st.isCharacterDevice()) return { path, lines: [], diagnostics: [], errors: 0 };
    if (cache) {
      // the stamp before the read: a change in between leaves the cache a stamp no later look matches
      stamp = fileStamp(st);
      const cached = cache.get(path, stamp);
      if (cached) return cached;
    }
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (!isSystemError(e)) throw e;
    const d: Diagnostic = { file: path, line: 0, column: 0, severity: 'error', message: `cannot read rules file: ${e.message}` };
    return { path, lines: [], diagnostics: [d], errors: 1 };
  }
  const { compileRulesText } = await import('./compile-text.js');
  const compiled = compileRulesText(text, path, opts);
  if (stamp !== undefined) cache!.set(path, stamp, compiled, opts.lookUpNamesWhenRun === true);
  return compiled;
}

export interface RulesLoad {
  ruleSet: RuleSet;
  files: CompiledFile[];
  diagnostics: Diagnostic[];
}

/**
 * Loads every rules file of the directories (udev's masking and ordering) into one RuleSet; with a cache, the files
 * it holds in their current version come from it (src/rules/cache.ts).
 */
export async function loadRules(dirs: readonly string[], opts: CompileOptions = {}, cache?: RulesCache): Promise<RulesLoad> {
  const paths = rulesFiles(dirs);
  const files = await Promise.all(paths.map((p) => compileRulesFile(p, opts, cache)));
  return { ruleSet: new RuleSet(files), files, diagnostics: files.flatMap((f) => f.diagnostics) };
}
