// `devctl info --cleanup-db`: udevadm's cleanup of the database under the run root.
import { readdirSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { basename, join } from 'node:path';
import { lstatIfAny, tryOr } from '../../util/fs.js';

/**
 * udevadm's --cleanup-db: removes the database except records marked persistent (sticky bit), the link claims and
 * tag index entries of the records removed (those of persistent ones stay), and the static_node tags. The queue
 * flag and the watches stay: a running daemon owns them.
 */
export function cleanupDb(run: string): void {
  const data = join(run, 'data');
  cleanupDir(data, 0o1000, 1);
  cleanupAfterDb(join(run, 'links'), data);
  cleanupAfterDb(join(run, 'tags'), data);
  cleanupDir(join(run, 'static_node-tags'), 0, 2);
}

/** Calls fn with the path and lstat of every entry of dir (none when dir cannot be read; vanished entries skipped). */
function eachEntry(dir: string, fn: (path: string, st: Stats) => void): void {
  for (const n of tryOr(() => readdirSync(dir), [])) {
    const p = join(dir, n);
    const st = lstatIfAny(p);
    if (st) fn(p, st);
  }
}

/** Unlinks a file (or with `dir`, removes an empty directory); what refuses stays (udev's unlinkat, errors ignored). */
function removeQuietly(path: string, dir: boolean): void {
  tryOr(() => (dir ? rmdirSync(path) : unlinkSync(path)), undefined);
}

/** udev's cleanup_dir(): entries whose mode has a bit of `mask` stay; directories are emptied `depth` - 1 deep, then removed if empty. */
function cleanupDir(dir: string, mask: number, depth: number): void {
  if (depth <= 0) return;
  eachEntry(dir, (p, st) => {
    if (st.mode & mask) return;
    if (st.isDirectory()) cleanupDir(p, mask, depth - 1);
    removeQuietly(p, st.isDirectory());
  });
}

/** udev's cleanup_dirs_after_db_cleanup(): in each <dir>/<name>/, drop the entries of devices whose record is gone. */
function cleanupAfterDb(dir: string, data: string): void {
  eachEntry(dir, (p, st) => {
    if (st.isDirectory()) {
      eachEntry(p, (entry) => {
        // a persistent record keeps its own (udev: faccessat without following links); only files go
        if (lstatIfAny(join(data, basename(entry))) === undefined) removeQuietly(entry, false);
      });
    }
    removeQuietly(p, st.isDirectory());
  });
}
