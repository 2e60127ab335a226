// Thin wrappers over C calls Node lacks (through koffi): mknod.
import koffi from 'koffi';
import { makeDevT } from '../device/device.js';

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
    err.code = errno === 17 ? 'EEXIST' : errno === 1 ? 'EPERM' : errno === 2 ? 'ENOENT' : `E${errno}`;
    throw err;
  }
}
