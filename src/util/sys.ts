// Thin wrappers over C calls Node lacks (through koffi): mknod, lsetxattr, flock.
import koffi from 'koffi';
import { makeDevT } from '../device/device.js';
import { errnoName } from './errno.js';

let mknodFn: ((path: string, mode: number, dev: bigint) => number) | undefined;
let errnoFn: (() => number) | undefined;

function load(): void {
  if (mknodFn) return;
  const libc = koffi.load('libc.so.6');
  mknodFn = libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)') as (path: string, mode: number, dev: bigint) => number;
  const loc = libc.func('int *__errno_location(void)');
  errnoFn = () => koffi.decode(loc(), 'int') as number;
}

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** Creates a block or character device node. Throws an Error with the errno on failure. */
export function mknod(path: string, type: 'b' | 'c', perm: number, major: number, minor: number): void {
  load();
  const mode = (type === 'b' ? S_IFBLK : S_IFCHR) | (perm & 0o7777);
  if (mknodFn!(path, mode, makeDevT(major, minor)) !== 0) {
    const errno = errnoFn!();
    const err = new Error(`mknod ${path}: errno ${errno}`) as NodeJS.ErrnoException;
    err.errno = errno;
    err.code = errnoName(errno);
    throw err;
  }
}

let lsetxattrFn: ((path: string, name: string, value: Buffer, size: number, flags: number) => number) | undefined;

/** Sets an extended attribute on a path without following a final symlink (lsetxattr(2)). */
export function lsetxattr(path: string, name: string, value: Buffer): void {
  load();
  if (!lsetxattrFn) {
    const libc = koffi.load('libc.so.6');
    lsetxattrFn = libc.func('int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)') as unknown as typeof lsetxattrFn;
  }
  if (lsetxattrFn!(path, name, value, value.length, 0) !== 0) {
    const errno = errnoFn!();
    const err = new Error(`lsetxattr ${path} ${name}: errno ${errno}`) as NodeJS.ErrnoException;
    err.errno = errno;
    throw err;
  }
}

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

let flockFn: ((fd: number, op: number) => number) | undefined;

/** flock(2) on an open file descriptor: 0, or the errno (EWOULDBLOCK when LOCK_NB and the lock is taken). */
export function flock(fd: number, op: number): number {
  load();
  flockFn ??= koffi.load('libc.so.6').func('int flock(int fd, int op)') as (fd: number, op: number) => number;
  return flockFn(fd, op) === 0 ? 0 : errnoFn!();
}
