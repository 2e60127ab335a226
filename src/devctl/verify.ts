// devctl verify [FILE|DIR]...: udevadm verify (systemd 257): the same checks, messages, summary and exit status,
// byte for byte (src/rules/lint.ts has the checks); --format=long and --json add columns.
import { closeSync, fstatSync, openSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fail, parseVerbArgs, simplifyPath } from './common.js';
import { lintRules, type LintMessage } from '../rules/lint.js';
import { DEFAULT_RULES_DIRS, PACKAGE_RULES_DIR, mergeConfFiles, rulesDirs } from '../config/rules-path.js';
import { strerror } from '../sys/errno.js';
import { errnoCode } from '../util/fs.js';

export const summary = 'Check rules files as udevadm verify does';

export const help = `devctl verify [OPTIONS] [FILE|DIR...]

Verify udev rules files: syntax, semantics and style, with udevadm verify's checks and messages.

  -h --help                            Show this help
  -V --version                         Show package version
  -N --resolve-names=early|late|never  When to resolve OWNER/GROUP names (default: early)
     --root=PATH                       Check the rules search path under PATH instead of FILEs
     --no-summary                      Do not show summary
     --no-style                        Ignore style issues (they are still shown)
     --format=udev|long                udev: udevadm's output (default); long: FILE:LINE:COLUMN: LEVEL: MESSAGE
     --json=short|pretty|off           Print the results as one JSON object on stdout instead

With no FILE, every rules file of the search path is checked (the directories the daemon reads, or
--rules-dir). A DIR is checked file by file. Messages go to stderr, the summary to stdout.

Exit status: 0 when every file is free of errors and warnings (and of style issues, unless --no-style),
1 otherwise.
`;

const OPTIONS = {
  'resolve-names': { type: 'string', short: 'N' },
  root: { type: 'string' },
  'no-summary': { type: 'boolean' },
  'no-style': { type: 'boolean' },
  format: { type: 'string' },
  json: { type: 'string' },
} as const;

type Outcome = 'success' | 'failed' | 'style';

interface FileResult {
  path: string;
  outcome: Outcome;
  /** What udev's parser reported. */
  messages: LintMessage[];
  /** Why the file could not be checked (udevadm's "Failed to parse rules file"), or the errno of a duplicate. */
  error?: string;
  /** Other lines udevadm prints for this file (permission warnings), before its messages. */
  notes: string[];
}

interface Output {
  /** A line on stderr (a latin1 string: the rules' own bytes appear in messages unchanged). */
  err(line: string): void;
  file(r: FileResult): void;
}

/** Checks one file as udevadm's verify_rules_file() does. `seen` holds the files read so far (udev's stats_by_path). */
function verifyFile(path: string, resolveNames: 'early' | 'late', style: boolean, seen: Set<string>): FileResult {
  const notes: string[] = [];
  const done = (outcome: Outcome, messages: LintMessage[] = [], error?: string): FileResult => ({ path, outcome, messages, error, notes });
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    return done('failed', [], strerror(errnoCode(e)));
  }
  let bytes: Buffer;
  try {
    const st = fstatSync(fd);
    // null_or_empty(): an empty file or a device node (a /dev/null mask) is skipped
    if ((st.isFile() && st.size === 0) || st.isCharacterDevice() || st.isBlockDevice()) return done('success');
    const key = simplifyPath(path); // udev's path_compare(): the same file twice
    if (seen.has(key)) {
      notes.push(`Failed to save stat for ${path}, ignoring: File exists`);
      return done('failed', [], 'File exists');
    }
    seen.add(key);
    if (st.isFile()) {
      if (st.mode & 0o111) notes.push(`Configuration file ${path} is marked executable. Please remove executable permission bits. Proceeding anyway.`);
      if (st.mode & 0o002) notes.push(`Configuration file ${path} is marked world-writable. Please remove world writability permission bits. Proceeding anyway.`);
    }
    bytes = readFileSync(fd);
  } catch (e) {
    return done('failed', [], strerror(errnoCode(e)));
  } finally {
    closeSync(fd);
  }
  const r = lintRules(bytes.toString('latin1'), { resolveNames });
  if (r.readError) return done('failed', r.messages, strerror(r.readError));
  if (r.messages.some((m) => m.level !== 'notice')) return done('failed', r.messages);
  if (style && r.messages.length > 0) return done('style', r.messages);
  return done('success', r.messages);
}

/** The rules files of a directory, as udevadm lists them: by name, hidden ones left out, under its real path. */
function directoryFiles(dir: string, out: Output): string[] | undefined {
  try {
    return mergeConfFiles([realpathSync(dir)], '.rules', { all: true });
  } catch (e) {
    out.err(`Failed to enumerate rules files: ${strerror(errnoCode(e))}`);
    return undefined;
  }
}

function isDirectory(p: string): boolean {
  return statSync(p, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function textOf(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}

function udevOutput(): Output {
  const err = (line: string) => process.stderr.write(Buffer.from(line + '\n', 'latin1'));
  return {
    err,
    file(r) {
      for (const n of r.notes) err(n);
      for (const m of r.messages) err(`${r.path}:${m.line} ${m.text}`);
      if (r.error !== undefined) err(`Failed to parse rules file ${r.path}: ${r.error}`);
      else if (r.outcome === 'failed') err(`${r.path}: udev rules check failed.`);
      else if (r.outcome === 'style') err(`${r.path}: udev rules have style issues.`);
    },
  };
}

function longOutput(): Output {
  const err = (line: string) => process.stderr.write(line + '\n');
  return {
    err,
    file(r) {
      for (const n of r.notes) err(`${r.path}: warning: ${n}`);
      for (const m of r.messages) err(`${r.path}:${m.at?.line ?? m.line}:${m.at?.column ?? 1}: ${m.level}: ${textOf(m.text)}`);
      if (r.error !== undefined) err(`${r.path}: error: cannot be checked: ${r.error}`);
    },
  };
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, config } = parseVerbArgs(argv, OPTIONS);
  const names = (values['resolve-names'] as string | undefined) ?? 'early';
  if (!['early', 'late', 'never'].includes(names)) return fail('--resolve-names= takes "early" or "never"');
  // in the verifier "never" is "late": names are not resolved, and not reported as unresolvable either
  const resolveNames = names === 'early' ? 'early' : 'late';
  const rootArg = values.root as string | undefined;
  // parse_path_argument(): absolute, and "/" or "" means no root
  const root = rootArg === undefined || rootArg === '' || resolve(rootArg) === '/' ? undefined : resolve(rootArg);
  if (root !== undefined && positionals.length > 0) return fail('Combination of --root= and FILEs is not supported.');
  const format = (values.format as string | undefined) ?? 'udev';
  if (format !== 'udev' && format !== 'long') return fail(`Invalid --format= value '${format}': expected udev or long`);
  const json = values.json as string | undefined;
  if (json !== undefined && !['short', 'pretty', 'off'].includes(json)) return fail(`Invalid --json= value '${json}': expected short, pretty or off`);
  const jsonMode = json === 'off' ? undefined : json;
  const style = !values['no-style'];
  const results: FileResult[] = [];
  const out: Output = jsonMode ? { err: () => undefined, file: () => undefined } : format === 'long' ? longOutput() : udevOutput();
  const seen = new Set<string>();
  let unlisted = false; // a directory could not be listed: the verb fails
  const check = (path: string) => {
    const r = verifyFile(path, resolveNames, style, seen);
    results.push(r);
    out.file(r);
  };

  if (positionals.length === 0) {
    const dirs = root !== undefined ? DEFAULT_RULES_DIRS.filter((d) => d !== PACKAGE_RULES_DIR).map((d) => join(root, d)) : rulesDirs(config.rulesDirs);
    // udevadm leaves directories (and links to them) out of the search path, not out of a DIR given to it
    const files = mergeConfFiles(dirs, '.rules', { all: true }).filter((f) => !isDirectory(f));
    if (root !== undefined && files.length === 0) return fail(`No rules files found in ${root}.`);
    files.forEach(check);
  } else {
    for (const p of positionals) {
      if (!isDirectory(p)) check(p);
      else {
        const files = directoryFiles(p, out);
        if (files) files.forEach(check);
        else unlisted = true;
      }
    }
  }

  const failed = results.filter((r) => r.outcome !== 'success').length;
  if (jsonMode) {
    const doc = {
      checked: results.length,
      success: results.length - failed,
      fail: failed,
      files: results.map((r) => ({
        path: r.path,
        result: r.outcome,
        ...(r.error !== undefined ? { error: r.error } : {}),
        notes: r.notes,
        messages: r.messages.map((m) => ({ line: m.at?.line ?? m.line, column: m.at?.column ?? 1, udevLine: m.line, level: m.level, message: textOf(m.text) })),
      })),
    };
    process.stdout.write(JSON.stringify(doc, null, jsonMode === 'pretty' ? 2 : undefined) + '\n');
  } else if (!values['no-summary']) {
    process.stdout.write(`\n${results.length} udev rules files have been checked.\n  Success: ${results.length - failed}\n  Fail:    ${failed}\n`);
  }
  return failed > 0 || unlisted ? 1 : 0;
}
