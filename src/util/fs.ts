// Atomic file replacement for the database and hwdb.bin: write a temporary file next to the target, then
// rename it into place, so readers never see a half-written file.
import { closeSync, existsSync, fchmodSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, renameSync, unlinkSync, writeSync, writevSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Permission bits of the new file (default 0644). */
  mode?: number;
  /** fsync before the rename (default false: the udev database lives on tmpfs). */
  sync?: boolean;
  /** Create the parent directory first (default false). */
  mkdir?: boolean;
  /** Name the temporary file ".<name>.tmp-…" (readers of a directory that skip dot files never see it). */
  hiddenTemp?: boolean;
}

let seq = 0;

function writeAll(fd: number, parts: readonly Buffer[]): void {
  const total = parts.reduce((n, b) => n + b.length, 0);
  let done = writevSync(fd, parts as Buffer[]);
  // a short write: finish piece by piece
  let skip = done;
  for (const b of parts) {
    if (done >= total) break;
    if (skip >= b.length) {
      skip -= b.length;
      continue;
    }
    let off = skip;
    skip = 0;
    while (off < b.length) {
      const n = writeSync(fd, b, off, b.length - off);
      off += n;
      done += n;
    }
  }
}

export function writeFileAtomic(path: string, data: string | Buffer | readonly Buffer[], opts: AtomicWriteOptions = {}): void {
  const mode = opts.mode ?? 0o644;
  if (opts.mkdir) mkdirSync(dirname(path), { recursive: true });
  const suffix = `.tmp-${process.pid}-${++seq}`;
  const tmp = opts.hiddenTemp ? join(dirname(path), `.${basename(path)}${suffix}`) : path + suffix;
  const fd = openSync(tmp, 'wx', mode);
  try {
    try {
      writeAll(fd, typeof data === 'string' ? [Buffer.from(data)] : Buffer.isBuffer(data) ? [data] : data);
      fchmodSync(fd, mode);
      if (opts.sync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to remove */
    }
    throw e;
  }
}

/**
 * The target of a symlink, or undefined when there is no symlink at `path`. Missing paths are the common case
 * on the event path (no driver link, no watch, no claim), and a thrown ENOENT costs far more than an lstat that
 * reports nothing, so the lstat comes first.
 */
export function readlinkIfAny(path: string): string | undefined {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st?.isSymbolicLink()) return undefined;
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** A file's text, or undefined when it does not exist (without the cost of a thrown ENOENT). */
export function readFileIfAny(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
