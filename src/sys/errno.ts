// errno numbers, their names (EPERM, ENOENT, ...) from Node's table of the platform's values, and the one way a
// failed C call becomes an Error.
import { constants } from 'node:os';

/** Number -> name; where two names share a number (EAGAIN and EWOULDBLOCK) the first listed, as glibc names it. */
const NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) if (!NAMES.has(n)) NAMES.set(n, name);

/** The name of an errno number, or "E<n>" for one the platform does not list. */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `E${errno}`;
}

/** An Error for a failed C call, like Node's system errors: message "what: ENAME", errno and code set. */
export function errnoError(what: string, errno: number): NodeJS.ErrnoException {
  const code = errnoName(errno);
  const e = new Error(`${what}: ${code}`) as NodeJS.ErrnoException;
  e.errno = errno;
  e.code = code;
  return e;
}
