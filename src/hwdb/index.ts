// The hwdb API used by devctl, the hwdb builtin and the daemon: where sources and hwdb.bin live, compiling
// sources into hwdb.bin, and opening it for lookups.
import { existsSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { mergeConfFiles, PACKAGE_HWDB_DIR } from '../config/rules-path.js';
import { writeFileAtomic } from '../util/fs.js';

export { writeFileAtomic };
import { compileHwdbParts, type CompileStats } from './compile.js';
import { parseHwdbFiles, type HwdbDiagnostic } from './parse.js';
import { nowMs } from '../util/clock.js';

export { compileHwdb, compileHwdbParts, type CompileOptions, type CompileStats } from './compile.js';
export { parseHwdbFiles, HwdbSources, formatDiagnostic, type HwdbDiagnostic, type HwdbValue } from './parse.js';
export { openHwdb, hwdbFromBuffer, Hwdb, type HwdbMatch, type OpenOptions } from './lookup.js';
export { HwdbFormatError } from './format.js';

/**
 * Source directories in udev's precedence: a file name found in an earlier directory masks the same name in
 * later ones. /lib/udev/hwdb.d is where non-merged-/usr systems (and Debian's udev 252) keep them.
 */
export const SYSTEM_HWDB_DIRS: readonly string[] = ['/etc/udev/hwdb.d', '/usr/lib/udev/hwdb.d', '/lib/udev/hwdb.d'];

/** Where a compiled hwdb.bin is looked for, first found wins (sd-hwdb's list plus /usr/lib/udev). */
export const HWDB_BIN_PATHS: readonly string[] = [
  '/etc/systemd/hwdb/hwdb.bin',
  '/etc/udev/hwdb.bin',
  '/usr/lib/systemd/hwdb/hwdb.bin',
  '/usr/lib/udev/hwdb.bin',
  '/lib/udev/hwdb.bin',
];

/** `path` inside the tree `root` (undefined or "/": the path itself). */
export function underRoot(root: string | undefined, path: string): string {
  return root && root !== '/' ? join(root, path) : path;
}

/**
 * The source directories to merge. Under an alternative root, the system directories inside it; without one,
 * also devMaster's own hwdb/ (last, so any system file of the same name masks it).
 */
export function hwdbSourceDirs(root?: string, includePackage = !root || root === '/'): string[] {
  const dirs = SYSTEM_HWDB_DIRS.map((d) => underRoot(root, d));
  if (includePackage) dirs.push(PACKAGE_HWDB_DIR);
  return dirs;
}

/** The merged list of .hwdb files, in file-name order (which is their priority order: later wins). */
export function hwdbSourceFiles(dirs: readonly string[]): string[] {
  return mergeConfFiles(dirs, '.hwdb');
}

/** Where `devctl hwdb --update` writes: <root>/etc/udev/hwdb.bin, or <root>/usr/lib/udev/hwdb.bin with --usr. */
export function hwdbOutputPath(root?: string, usr = false): string {
  return underRoot(root, usr ? '/usr/lib/udev/hwdb.bin' : '/etc/udev/hwdb.bin');
}

export interface FindOptions {
  /** config hwdb_bin / --hwdb-bin: used as is when set. */
  hwdbBin?: string;
  /** The config file; <its directory>/hwdb.bin is looked at first. */
  configFile?: string;
  root?: string;
}

/** Candidate hwdb.bin paths in order. */
export function hwdbBinCandidates(opts: FindOptions = {}): string[] {
  if (opts.hwdbBin) return [opts.hwdbBin];
  const list: string[] = [];
  if (opts.configFile) list.push(join(dirname(opts.configFile), 'hwdb.bin'));
  for (const p of HWDB_BIN_PATHS) list.push(underRoot(opts.root, p));
  return list;
}

/** The hwdb.bin to use, or undefined when none exists. An explicit hwdbBin is returned even if missing. */
export function findHwdbBin(opts: FindOptions = {}): string | undefined {
  if (opts.hwdbBin) return opts.hwdbBin;
  return hwdbBinCandidates(opts).find((p) => existsSync(p));
}

export interface UpdateOptions {
  root?: string;
  /** Write to /usr/lib/udev/hwdb.bin instead of /etc/udev/hwdb.bin. */
  usr?: boolean;
  /** v1 value entries without file/line (udevadm hwdb's format). Default false (systemd-hwdb's v2). */
  compat?: boolean;
  /** Source directories (default hwdbSourceDirs(root)). */
  dirs?: readonly string[];
  /** Output file (default hwdbOutputPath(root, usr)). */
  output?: string;
  /** fsync the file before renaming it into place (default true, like systemd-hwdb). */
  sync?: boolean;
}

export interface UpdateResult {
  output: string;
  files: string[];
  diagnostics: HwdbDiagnostic[];
  /** false when there were no sources (an existing output is then removed, like systemd-hwdb). */
  written: boolean;
  removed: boolean;
  stats?: CompileStats;
  /** Milliseconds spent parsing, compiling and writing. */
  timings: { parse: number; compile: number; write: number };
}

/** Parses the merged sources and writes hwdb.bin. Malformed lines are returned as diagnostics. */
export function updateHwdb(opts: UpdateOptions = {}): UpdateResult {
  const output = opts.output ?? hwdbOutputPath(opts.root, opts.usr);
  const files = hwdbSourceFiles(opts.dirs ?? hwdbSourceDirs(opts.root));
  const timings = { parse: 0, compile: 0, write: 0 };
  if (files.length === 0) {
    let removed = false;
    try {
      unlinkSync(output);
      removed = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return { output, files, diagnostics: [], written: false, removed, timings };
  }
  let t = nowMs();
  const db = parseHwdbFiles(files);
  timings.parse = nowMs() - t;
  t = nowMs();
  const { parts, stats } = compileHwdbParts(db, { compat: opts.compat });
  timings.compile = nowMs() - t;
  t = nowMs();
  writeFileAtomic(output, parts, { mode: 0o444, sync: opts.sync ?? true, mkdir: true });
  timings.write = nowMs() - t;
  return { output, files, diagnostics: db.diagnostics, written: true, removed: false, stats, timings };
}
