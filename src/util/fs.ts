// File helpers: atomic replacement for the database and hwdb.bin (write a temporary file next to the target, then
// rename it into place, so readers never see a half-written file), and the calls whose expected failures
// (ENOENT, ...) are answers rather than errors: every other failure, and every bug, is still thrown.
import { closeSync, existsSync, fchmodSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmdirSync, statSync, unlinkSync, writeSync, writevSync, type Stats } from 'node:fs';
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

/**
 * Writes all of `text` to a descriptor that may be a pipe, a terminal or a file (a one-shot tool's stdout: without
 * process.stdout, whose stream Node builds on first use, a few milliseconds of a short command). A descriptor its
 * other end left non-blocking is waited for when full (EAGAIN).
 */
export function writeTextSync(fd: number, text: string): void {
  const b = Buffer.from(text);
  let off = 0;
  while (off < b.length) {
    try {
      off += writeSync(fd, b, off, b.length - off);
    } catch (e) {
      if (!isErrno(e, 'EAGAIN')) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

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
  const tmp = tempPath(path, opts);
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
    unlinkIfAny(tmp);
    throw e;
  }
}

/**
 * Makes `path` a hard link to the existing file `target`, replacing what is at `path` at once (a link under a
 * temporary name, then a rename); `fresh` (nothing expected at `path`) tries the link at `path` itself first.
 */
export function linkFileAtomic(target: string, path: string, fresh = false): void {
  if (fresh) {
    try {
      linkSync(target, path);
      return;
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) throw e;
    }
  }
  const tmp = tempPath(path, {});
  linkSync(target, tmp);
  try {
    renameSync(tmp, path);
  } catch (e) {
    unlinkIfAny(tmp);
    throw e;
  }
}

/** A temporary name next to `path`, unique in this process. */
function tempPath(path: string, opts: Pick<AtomicWriteOptions, 'hiddenTemp'>): string {
  const suffix = `.tmp-${process.pid}-${++seq}`;
  return opts.hiddenTemp ? join(dirname(path), `.${basename(path)}${suffix}`) : path + suffix;
}

/** True when `path` is `prefix` or below it (systemd's path_startswith(), on absolute paths without "." or ".."). */
export function pathStartsWith(path: string, prefix: string): boolean {
  const p = prefix.replace(/\/+$/, '');
  return path === p || path.startsWith(p + '/');
}

/** True when `e` is a failed system call's error (it carries an errno code), not a bug. */
export function isSystemError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!);
}

/** True when `e` is a system error with one of these codes. */
export function isErrno(e: unknown, ...codes: string[]): boolean {
  return isSystemError(e) && codes.includes(e.code!);
}

/** The errno code (ENOENT, ...) of a failed system call's error; anything else (a bug) is thrown again. */
export function errnoCode(e: unknown): string {
  if (!isSystemError(e)) throw e;
  return e.code!;
}

/**
 * fn(), or `fallback` when it fails with one of `codes` (with no codes: with any system error, for reads where
 * every failure means "no value", as sysfs attributes). Anything else is thrown.
 */
export function tryOr<T, F>(fn: () => T, fallback: F, ...codes: string[]): T | F {
  try {
    return fn();
  } catch (e) {
    if (codes.length === 0 ? isSystemError(e) : isErrno(e, ...codes)) return fallback;
    throw e;
  }
}

/** unlink(2); nothing to remove is fine. */
export function unlinkIfAny(path: string): void {
  tryOr(() => unlinkSync(path), undefined, 'ENOENT');
}

/** rmdir(2) of a directory that may hold entries or be gone: true when it was removed. */
export function rmdirIfEmpty(path: string): boolean {
  return tryOr(() => (rmdirSync(path), true), false, 'ENOTEMPTY', 'EEXIST', 'ENOENT');
}

/** lstat(2), or undefined when there is nothing at `path` (or a component of it is not a directory). */
export function lstatIfAny(path: string): Stats | undefined {
  return tryOr(() => lstatSync(path, { throwIfNoEntry: false }), undefined, 'ENOTDIR');
}

/** stat(2) following symlinks, or undefined when there is nothing there (or a dangling symlink). */
export function statIfAny(path: string): Stats | undefined {
  return tryOr(() => statSync(path, { throwIfNoEntry: false }), undefined, 'ENOTDIR', 'ELOOP');
}

/** The entries of a directory, or none when it does not exist (or is not a directory). */
export function readdirIfAny(path: string): string[] {
  return tryOr(() => readdirSync(path), [], 'ENOENT', 'ENOTDIR');
}

/**
 * The target of a symlink, or undefined when there is no symlink at `path`. Missing paths are the common case
 * on the event path (no driver link, no watch, no claim), and a thrown ENOENT costs far more than an lstat that
 * reports nothing, so the lstat comes first.
 */
export function readlinkIfAny(path: string): string | undefined {
  if (!lstatIfAny(path)?.isSymbolicLink()) return undefined;
  return tryOr(() => readlinkSync(path), undefined, 'ENOENT', 'EINVAL'); // gone, or replaced, meanwhile
}

/**
 * A file's text, or undefined when it does not exist (without the cost of a thrown ENOENT), is gone meanwhile, or
 * may not be read (sysfs has write-only files, such as the uevent file of a subsystem, as sd-device knows).
 */
export function readFileIfAny(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  return tryOr(() => readFileSync(path, 'utf8'), undefined, 'ENOENT', 'ENOTDIR', 'EACCES');
}
