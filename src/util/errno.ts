// errno numbers and their names (EPERM, ENOENT, ...), from Node's table of the platform's values.
import { constants } from 'node:os';

/** Number -> name; where two names share a number (EAGAIN and EWOULDBLOCK) the first listed, as glibc names it. */
const NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(constants.errno)) if (!NAMES.has(n)) NAMES.set(n, name);

/** The name of an errno number, or "E<n>" for one the platform does not list. */
export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `E${errno}`;
}
