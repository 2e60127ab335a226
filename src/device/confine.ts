// Writes kept inside their roots (docs/SECURITY.md): what the rules name (ATTR{}, SYSCTL{}, SYMLINK, a node's
// directories) is refused when it leaves the root it belongs to, whatever the substitutions made of it.
//
// The checks cost a string test where a string test decides (no ".." component, the lexical prefix); a realpath
// only where a path could escape through a symlink (sysfs links to other devices legitimately; an attribute or a
// sysctl is resolved and must stay under the real root), and no file is ever created where the kernel's files are
// expected (no O_CREAT). Device nodes are opened with O_PATH|O_NOFOLLOW, checked with fstat and changed through
// /proc/self/fd, as udevd does, so a node swapped for a symlink after the check is not followed.
import { chmodSync, chownSync, closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, realpathSync, writeSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { O_CLOEXEC, O_PATH } from '../sys/file.js';
import { tryOr } from '../util/fs.js';
import { hasDotDot } from './roots.js';

export { hasDotDot };

/** A path that would leave its root: refused, with the reason (logged with the rule's file:line by the caller). */
export class ConfinementError extends Error {
  readonly code = 'EPERM';
  constructor(message: string) {
    super(message);
    this.name = 'ConfinementError';
  }
}

/** Whether the normalized `path` is `root` or lies under it, as strings (a trailing slash of `root` is ignored). */
export function isUnder(root: string, path: string): boolean {
  const r = root.length > 1 && root.endsWith('/') ? root.replace(/\/+$/, '') || '/' : root;
  return path === r || path.startsWith(r === '/' ? '/' : r + '/');
}

const realRoots = new Map<string, string>();

/** The real path of a root directory (remembered: roots do not move while the daemon runs). */
export function realRoot(root: string): string {
  let real = realRoots.get(root);
  if (real === undefined) {
    real = realpathSync.native(root);
    realRoots.set(root, real);
  }
  return real;
}

/** The real path of an existing `path`, refused (ConfinementError) unless it lies under the real `root`. */
export function resolveInside(root: string, path: string, what: string): string {
  const real = realpathSync.native(path);
  const top = realRoot(root);
  if (!isUnder(top, real) || real === top) throw new ConfinementError(`${what} "${path}" resolves to "${real}", outside ${root}`);
  return real;
}

/**
 * Writes `value` to an existing file under `root` (a sysfs attribute, a sysctl): `path` (normalized) must lie under
 * `root`; it is never created (no O_CREAT), it is resolved and refused outside the real root, and anything but a
 * regular file is refused. A failing write throws the system error (ENOENT, EINVAL, EACCES, ...).
 */
export function writeExisting(root: string, path: string, value: string, what: string): void {
  if (!isUnder(root, path) || hasDotDot(path)) throw new ConfinementError(`${what} "${path}" is outside ${root}`);
  const real = resolveInside(root, path, what);
  const fd = openSync(real, constants.O_WRONLY | constants.O_NOFOLLOW | constants.O_NOCTTY | constants.O_NONBLOCK | O_CLOEXEC);
  try {
    if (!fstatSync(fd).isFile()) throw new ConfinementError(`${what} "${path}" is not a regular file`);
    writeSync(fd, value);
  } finally {
    closeSync(fd);
  }
}

/**
 * mkdir -p of `dir` under `root`, refused when an existing part of it resolves outside the real root (a symlink in
 * the dev root pointing elsewhere). The common case, an existing directory, costs one lstat, and a realpath unless
 * it is a directory right under the root (/dev/char, /dev/disk), which cannot lead outside it.
 */
export function mkdirInside(root: string, dir: string, mode: number): void {
  if (!isUnder(root, dir) || hasDotDot(dir)) throw new ConfinementError(`directory "${dir}" is outside ${root}`);
  let existing = dir;
  let st: Stats | undefined;
  while (existing !== root && (st = tryOr(() => lstatSync(existing, { throwIfNoEntry: false }), undefined, 'ENOTDIR')) === undefined) existing = dirname(existing);
  if (existing !== root && !(st!.isDirectory() && dirname(existing) === root)) resolveInside(root, existing, 'directory');
  if (existing !== dir) mkdirSync(dir, { recursive: true, mode });
}

/** A device node opened without following a symlink (O_PATH|O_NOFOLLOW): its stat, and changes made through it. */
export interface NodeHandle {
  readonly stat: Stats;
  chmod(mode: number): void;
  chown(uid: number, gid: number): void;
  close(): void;
}

/**
 * Opens what is at `path` without following a final symlink; undefined when nothing is there. The caller checks
 * `stat` (a symlink shows as one) before changing anything.
 */
export function openNode(path: string): NodeHandle | undefined {
  const fd = tryOr(() => openSync(path, O_PATH | constants.O_NOFOLLOW | O_CLOEXEC), undefined, 'ENOENT', 'ENOTDIR');
  if (fd === undefined) return undefined;
  let stat: Stats;
  try {
    stat = fstatSync(fd);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  // chmod(2) has no descriptor form for an O_PATH descriptor: the magic link names exactly the inode opened
  const self = `/proc/self/fd/${fd}`;
  return {
    stat,
    chmod: (mode) => chmodSync(self, mode),
    chown: (uid, gid) => chownSync(self, uid, gid),
    close: () => closeSync(fd),
  };
}

/**
 * Sets owner, group and mode of the device node at `path` when it is a node of the wanted type and number; what
 * it had before is returned (to put back), undefined when nothing was changed. Throws ConfinementError for
 * anything but the expected node (a symlink, another device), system errors as they come.
 */
export function setNodePermissions(
  path: string,
  want: { block: boolean; rdev?: (st: Stats) => boolean },
  perms: { mode?: number; uid?: number; gid?: number },
): { mode: number; uid: number; gid: number } | undefined {
  const h = openNode(path);
  if (!h) return undefined;
  try {
    const st = h.stat;
    if (!(want.block ? st.isBlockDevice() : st.isCharacterDevice()) || (want.rdev && !want.rdev(st))) {
      throw new ConfinementError(`found node ${path} with mismatching type or device number`);
    }
    const before = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    const mode = perms.mode ?? before.mode;
    const uid = perms.uid ?? before.uid;
    const gid = perms.gid ?? before.gid;
    if (mode === before.mode && uid === before.uid && gid === before.gid) return undefined;
    if (mode !== before.mode) h.chmod(mode);
    if (uid !== before.uid || gid !== before.gid) h.chown(uid, gid);
    return before;
  } finally {
    h.close();
  }
}
