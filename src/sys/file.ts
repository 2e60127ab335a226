// File calls Node lacks, through libc: mknod, lsetxattr, flock, descriptor flags (fcntl) and dup3, and close for
// descriptors made through libc (ioctl: ioctl.ts); the open(2) flags Node does not name; and a small file read
// with its mode in four calls and no exception for a missing file (the database record every event reads).
import { constants as osConstants, endianness } from 'node:os';
import { makeDevT } from './devnum.js';
import { fileStampOf, type StampedFile } from './stamped.js';
import { errnoError } from './errno.js';
import { errno, libcFunction } from './libc.js';

export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** A descriptor that only names the file: fstat and /proc/self/fd/N work on it, nothing opens the file itself. */
export const O_PATH = 0o10000000;

export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

/** Open-file and descriptor flags of <fcntl.h> (SOCK_NONBLOCK and SOCK_CLOEXEC are these values). */
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
const F_GETFD = 1;
const F_SETFD = 2;
const F_GETFL = 3;
const F_SETFL = 4;
const FD_CLOEXEC = 1;

const mknodC = libcFunction<(path: string, mode: number, dev: bigint) => number>('int mknod(const char *path, uint32_t mode, uint64_t dev)');
const lsetxattrC = libcFunction<(path: string, name: string, value: Buffer, size: number, flags: number) => number>(
  'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
);
const closeC = libcFunction<(fd: number) => number>('int close(int fd)');
const flockC = libcFunction<(fd: number, op: number) => number>('int flock(int fd, int op)');
const fcntlC = libcFunction<(fd: number, cmd: number, arg: number) => number>('int fcntl(int fd, int cmd, int arg)');
const dup3C = libcFunction<(oldfd: number, newfd: number, flags: number) => number>('int dup3(int oldfd, int newfd, int flags)');
const openC = libcFunction<(path: string, flags: number) => number>('int open(const char *path, int flags)');
const readC = libcFunction<(fd: number, buf: Buffer, size: number) => number | bigint>('intptr_t read(int fd, _Out_ void *buf, size_t size)');
const statxC = libcFunction<(dirfd: number, path: string, flags: number, mask: number, buf: Buffer) => number>(
  'int statx(int dirfd, const char *path, int flags, uint32_t mask, _Out_ void *buf)',
);

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

/** read(2) of up to `size` bytes into `buf`: the count, or -1 with the errno in errno(). */
export function readFd(fd: number, buf: Buffer, size: number): number {
  return Number(readC()(fd, buf, size));
}

/** Sets or clears one flag through a fcntl get/set pair (F_GETFD/F_SETFD, F_GETFL/F_SETFL); throws on failure. */
function updateFlag(fd: number, get: number, set: number, flag: number, on: boolean, what: string): void {
  const cur = fcntlC()(fd, get, 0);
  if (cur < 0) throw errnoError(`fcntl(F_GET${what}) (fd ${fd})`, errno());
  const next = on ? cur | flag : cur & ~flag;
  if (next !== cur && fcntlC()(fd, set, next) < 0) throw errnoError(`fcntl(F_SET${what}) (fd ${fd})`, errno());
}

/** Sets or clears FD_CLOEXEC and O_NONBLOCK on a descriptor (undefined leaves a flag as it is); throws on failure. */
export function setFdFlags(fd: number, flags: { cloexec?: boolean; nonblock?: boolean }): void {
  if (flags.cloexec !== undefined) updateFlag(fd, F_GETFD, F_SETFD, FD_CLOEXEC, flags.cloexec, 'FD');
  if (flags.nonblock !== undefined) updateFlag(fd, F_GETFL, F_SETFL, O_NONBLOCK, flags.nonblock, 'FL');
}

/** dup3(from, onto, O_CLOEXEC): `onto` now refers to what `from` refers to (whatever `onto` was is closed). */
export function dupOnto(from: number, onto: number): void {
  if (dup3C()(from, onto, O_CLOEXEC) < 0) throw errnoError(`dup3 (${from} onto ${onto})`, errno());
}

const { ENOENT, EINTR, EACCES, ENOTDIR } = osConstants.errno;
const AT_FDCWD = -100;
const AT_EMPTY_PATH = 0x1000;
const STATX_MODE = 0x2;
const STATX_INO = 0x100;
const STATX_SIZE = 0x200;
const STATX_CTIME = 0x80;
const STAMP_MASK = STATX_MODE | STATX_INO | STATX_SIZE | STATX_CTIME;
/**
 * struct statx (the same layout on every architecture, in the host's byte order): stx_mode a u16 at 28, stx_ino a u64 at 32, stx_size a u64 at 40,
 * stx_ctime at 96 (tv_sec i64, tv_nsec u32).
 */
const statxBuf = Buffer.alloc(256);
const HOST_LE = endianness() === 'LE';
/** statxBuf's fields in the host's byte order (Buffer's read* calls allocate, these views do not). */
const statx16 = new Uint16Array(statxBuf.buffer, statxBuf.byteOffset, 128);
const statx32 = new Uint32Array(statxBuf.buffer, statxBuf.byteOffset, 64);
/** A u64 field of statx at byte offset `off`, exact below 2^53. */
const statxU64 = (off: number) => (HOST_LE ? statx32[off / 4]! + statx32[off / 4 + 1]! * 2 ** 32 : statx32[off / 4 + 1]! + statx32[off / 4]! * 2 ** 32);
let readBuf = Buffer.alloc(16384);

/**
 * What identifies a version of a file, from the last statx: inode, size and change time (any write, rename onto
 * it or chmod changes one of them) and the mode.
 */
function stampOfStatx(): string {
  return fileStampOf(statxU64(32), statxU64(40), statxU64(96), statx32[104 / 4]!, statx16[28 / 2]!);
}

/**
 * A file's stamp (see stampOfStatx: equal stamps, same content), or undefined when there is nothing at `path`
 * (ENOENT, ENOTDIR) or it may not be looked at (EACCES); one statx through libc.
 */
export function fileStamp(path: string): string | undefined {
  if (statxC()(AT_FDCWD, path, 0, STAMP_MASK, statxBuf) === 0) return stampOfStatx();
  const e = errno();
  if (e === ENOENT || e === ENOTDIR || e === EACCES) return undefined;
  throw errnoError(`statx ${path}`, e);
}

/**
 * A file's text (UTF-8), mode and stamp, or undefined when it does not exist or may not be read (ENOENT,
 * ENOTDIR, EACCES); any other failure throws with the errno. open, statx, read and close through libc: no
 * exception and no Stats object for the common cases.
 */
export function readFileWithMode(path: string): StampedFile | undefined {
  const fd = openC()(path, O_CLOEXEC);
  if (fd < 0) {
    const e = errno();
    if (e === ENOENT || e === ENOTDIR || e === EACCES) return undefined;
    throw errnoError(`open ${path}`, e);
  }
  try {
    if (statxC()(fd, '', AT_EMPTY_PATH, STAMP_MASK, statxBuf) !== 0) throw errnoError(`statx ${path}`, errno());
    const mode = statx16[28 / 2]!;
    const stamp = stampOfStatx();
    const size = statxU64(40);
    if (size >= readBuf.length) readBuf = Buffer.alloc(2 ** Math.ceil(Math.log2(size + 1)));
    let got = 0;
    for (;;) {
      if (got === readBuf.length) {
        const bigger = Buffer.alloc(readBuf.length * 2); // grew since the statx
        readBuf.copy(bigger);
        readBuf = bigger;
      }
      const n = readFd(fd, got === 0 ? readBuf : readBuf.subarray(got), readBuf.length - got);
      if (n < 0) {
        const e = errno();
        if (e === EINTR) continue;
        throw errnoError(`read ${path}`, e);
      }
      if (n === 0) break;
      got += n;
    }
    return { text: readBuf.toString('utf8', 0, got), mode, stamp };
  } finally {
    closeC()(fd);
  }
}
