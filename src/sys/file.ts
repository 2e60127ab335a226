// File calls Node lacks, through libc: mknod, lsetxattr, flock, and close for descriptors made through libc
// (ioctl: ioctl.ts); the open(2) flags Node does not name.
import { makeDevT } from './devnum.js';
import { errnoError } from './errno.js';
import { errno, libcFunction } from './libc.js';

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** open(2) flags Node's fs.constants lacks (Linux, every architecture devMaster runs on). */
export const O_CLOEXEC = 0o2000000;
/** A descriptor that only names the file: fstat and /proc/self/fd/N work on it, nothing opens the file itself. */
export const O_PATH = 0o10000000;

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

const mknodC = libcFunction<(path: string, mode: number, dev: bigint) => number>('int mknod(const char *path, uint32_t mode, uint64_t dev)');
const lsetxattrC = libcFunction<(path: string, name: string, value: Buffer, size: number, flags: number) => number>(
  'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
);
const closeC = libcFunction<(fd: number) => number>('int close(int fd)');
const flockC = libcFunction<(fd: number, op: number) => number>('int flock(int fd, int op)');

/** Creates a block or character device node. Throws an Error with the errno on failure. */
export function mknod(path: string, type: 'b' | 'c', perm: number, major: number, minor: number): void {
  const mode = (type === 'b' ? S_IFBLK : S_IFCHR) | (perm & 0o7777);
  if (mknodC()(path, mode, makeDevT(major, minor)) !== 0) throw errnoError(`mknod ${path}`, errno());
}

/** Sets an extended attribute on a path without following a final symlink (lsetxattr(2)). */
export function lsetxattr(path: string, name: string, value: Buffer): void {
  if (lsetxattrC()(path, name, value, value.length, 0) !== 0) throw errnoError(`lsetxattr ${path} ${name}`, errno());
}

/** flock(2) on an open file descriptor: 0, or the errno (EWOULDBLOCK when LOCK_NB and the lock is taken). */
export function flock(fd: number, op: number): number {
  return flockC()(fd, op) === 0 ? 0 : errno();
}

/** close(2) of a descriptor made through libc (sockets, inotify). */
export function close(fd: number): void {
  closeC()(fd);
}
