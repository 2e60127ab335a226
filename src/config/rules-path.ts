// The rules search path and the udev-style merge of rules files across directories.
import type { Stats } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readdirIfAny, statIfAny } from '../util/fs.js';

/**
 * The package's own directories (rules.d/, hwdb/), found relative to this module (src/ or dist/): its directory, as
 * Node (20.11 and later) and the bundle give it, else from its URL (made and parsed again: Node's URL code, which a
 * start compiles without Node's code cache under the daemon's V8 flags).
 */
export const PACKAGE_ROOT = join((import.meta.dirname as string | undefined) ?? dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PACKAGE_RULES_DIR = join(PACKAGE_ROOT, 'rules.d');
export const PACKAGE_HWDB_DIR = join(PACKAGE_ROOT, 'hwdb');

export const DEFAULT_RULES_DIRS: readonly string[] = [
  '/etc/devmaster/rules.d',
  '/etc/udev/rules.d',
  '/run/udev/rules.d',
  '/usr/local/lib/udev/rules.d',
  '/usr/lib/udev/rules.d',
  PACKAGE_RULES_DIR,
];

export function rulesDirs(explicit: readonly string[]): string[] {
  return explicit.length > 0 ? [...explicit] : [...DEFAULT_RULES_DIRS];
}

export interface MergeOptions {
  /**
   * List every name as udev's conf_files_list() does (what `udevadm verify` checks): masks (empty files, links to
   * /dev/null), directories and dangling links included. Without it, only files that are loaded are listed.
   */
  all?: boolean;
}

/**
 * Files named *<suffix> across the directories: a name found in an earlier directory masks the same name
 * later; the union is returned in file-name order. Hidden files (".name") are not listed. A file that is an empty
 * file or a symlink to /dev/null masks too and is dropped from the result (as udev and systemd do), and so is
 * anything that is not a file, unless `all` is given.
 */
export function mergeConfFiles(dirs: readonly string[], suffix: string, opts: MergeOptions = {}): string[] {
  return opts.all ? mergedNames(dirs, suffix) : mergeConfFileStats(dirs, suffix).map((f) => f.path);
}

/**
 * As mergeConfFiles() without `all`, with what stat() said of each file when it was listed: the stamp of the version
 * a caller reads, without a second stat().
 */
function mergeConfFileStats(dirs: readonly string[], suffix: string): { path: string; st: Stats }[] {
  const out: { path: string; st: Stats }[] = [];
  for (const path of mergedNames(dirs, suffix)) {
    const st = statIfAny(path);
    // masked by a link to /dev/null (a character device), or a dangling link: no file
    if (st?.isFile()) out.push({ path, st });
  }
  return out;
}

/** Every name *<suffix> across the directories, the first directory's where several have it, in file-name order. */
function mergedNames(dirs: readonly string[], suffix: string): string[] {
  const byName = new Map<string, string>();
  for (const dir of dirs) {
    for (const name of readdirIfAny(dir)) {
      if (!name.endsWith(suffix) || name.startsWith('.') || byName.has(name)) continue;
      byName.set(name, join(dir, name));
    }
  }
  return [...byName.keys()].sort().map((name) => byName.get(name)!);
}

export function rulesFiles(dirs: readonly string[]): string[] {
  return mergeConfFiles(dirs, '.rules');
}

/** The rules files, each with its stat() (src/daemon/reload.ts takes each file's stamp from it). */
export function rulesFileStats(dirs: readonly string[]): { path: string; st: Stats }[] {
  return mergeConfFileStats(dirs, '.rules');
}
