// errno numbers, their names (EPERM, ENOENT, ...) from Node's table of the platform's values, and the one way a
// failed C call becomes an Error.
import { createRequire } from 'node:module';

// node:os required on first use, not imported (the lazy require of scripts/bundle.mjs): a one-shot verb that names no
// errno (`devctl info` of a device) does not load it (under devctl's V8 flag Node compiles it without its code cache).
const require = createRequire(import.meta.url);
let table: Readonly<Record<string, number>> | undefined;
/** Node's table of the platform's errno values (os.constants.errno). */
const errnos = (): Readonly<Record<string, number>> => (table ??= (require('node:os') as typeof import('node:os')).constants.errno);

/** Number -> name; where two names share a number (EAGAIN and EWOULDBLOCK) the first listed, as glibc names it. */
let names: Map<number, string> | undefined;

/** The name of an errno number, or "E<n>" for one the platform does not list. */
export function errnoName(errno: number): string {
  if (!names) {
    names = new Map();
    for (const [name, n] of Object.entries(errnos())) if (!names.has(n)) names.set(n, name);
  }
  return names.get(errno) ?? `E${errno}`;
}

/** Linux's numbers of the errnos Node does not list. */
const ESOCKTNOSUPPORT = 94;
const EPFNOSUPPORT = 96;
let notSupported: Set<number> | undefined;

/** systemd's ERRNO_IS_NOT_SUPPORTED(): the call or protocol is not supported (by the device, the kernel, ...). */
export function errnoIsNotSupported(errno: number): boolean {
  if (!notSupported) {
    const E = errnos();
    notSupported = new Set([E.EOPNOTSUPP!, E.ENOTTY!, E.ENOSYS!, E.EAFNOSUPPORT!, EPFNOSUPPORT, E.EPROTONOSUPPORT!, ESOCKTNOSUPPORT, E.ENOPROTOOPT!]);
  }
  return notSupported.has(Math.abs(errno));
}

/** An Error for a failed C call, like Node's system errors: message "what: ENAME", errno and code set. */
export function errnoError(what: string, errno: number): NodeJS.ErrnoException {
  const code = errnoName(errno);
  const e = new Error(`${what}: ${code}`) as NodeJS.ErrnoException;
  e.errno = errno;
  e.code = code;
  return e;
}

/** glibc's strerror() texts (what udev's "%m" prints) for the errors devctl reports in udev's words. */
const GLIBC_TEXT: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENOTBLK: 'Block device required',
  ERANGE: 'Numerical result out of range',
  ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links',
  ENOBUFS: 'No buffer space available',
  ETIMEDOUT: 'Connection timed out',
  ECONNREFUSED: 'Connection refused',
  EPROTO: 'Protocol error',
};

/** The text glibc's strerror() gives for an errno name (or a number), e.g. "No such file or directory". */
export function strerror(code: string | number): string {
  const name = typeof code === 'number' ? errnoName(Math.abs(code)) : code;
  return GLIBC_TEXT[name] ?? name;
}
