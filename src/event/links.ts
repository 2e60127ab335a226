// Device node symlinks with link_priority claims, like udev's links stack directories:
//   <run>/links/<escaped link>/<device id>  is a symlink whose target is "<priority>:<logical devnode>".
// The claim with the highest priority owns the link; on equal priority the device being added wins.
// When the owner goes away the link is handed to the next claimant or removed. All calls are synchronous so
// that concurrent events in one process never interleave inside one update.
import { mkdirSync, readlinkSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { DEV_PREFIX, devPath, type Roots } from '../device/roots.js';
import { isErrno, isSystemError, lstatIfAny, readdirIfAny, rmdirIfEmpty, tryOr, unlinkIfAny } from '../util/fs.js';
import { ConfinementError, mkdirInside } from '../device/confine.js';
import type { DirChanges } from '../sys/dir-changes.js';

/** udev's escaping of a link name for its stack directory: the path after /dev, '/' → \x2f, '\' → \x5c. */
export function escapeLinkName(logical: string): string {
  return logical.slice(DEV_PREFIX.length).replace(/\\/g, '\\x5c').replace(/\//g, '\\x2f');
}

function stackDir(roots: Roots, logical: string): string {
  return join(roots.run, 'links', escapeLinkName(logical));
}

/** True when a logical link name stays inside the dev root. */
export function isSafeLinkName(logical: string): boolean {
  if (!logical.startsWith(DEV_PREFIX + '/')) return false;
  const rest = logical.slice(DEV_PREFIX.length + 1);
  if (rest === '') return false;
  return !rest.split('/').some((p) => p === '..' || p === '.' || p === '');
}

/** Where a refused or failed link is said (a Logger, or one naming the device). */
export interface LinkLog {
  error(msg: string): void;
}

interface Claim {
  priority: number;
  devnode: string;
}

function readClaim(path: string): Claim | undefined {
  const t = tryOr(() => readlinkSync(path), undefined, 'ENOENT', 'EINVAL'); // dropped meanwhile, or not a claim
  if (t === undefined) return undefined;
  const colon = t.indexOf(':');
  if (colon <= 0) return undefined;
  const priority = Number(t.slice(0, colon));
  if (!Number.isInteger(priority)) return undefined;
  return { priority, devnode: t.slice(colon + 1) };
}

let tmpSeq = 0;

/**
 * Atomically points `linkPath` at `target` (relative); refuses to replace anything but a symlink, and to create
 * anything through a directory that resolves outside the dev root.
 */
function placeSymlink(roots: Roots, linkPath: string, target: string, log: LinkLog, likelyThere: boolean): boolean {
  // a link likely in place costs one readlink; otherwise an lstat comes first, so that nothing there (a boot's
  // /dev) costs no failed readlink, whose error is dearer than the call
  if (likelyThere && tryOr(() => readlinkSync(linkPath), undefined, 'ENOENT', 'EINVAL', 'ENOTDIR') === target) return true;
  const conflicting = () => {
    log.error(`conflicting inode '${linkPath}' found, symlink to '${target}' will not be created`);
    return false;
  };
  const st = lstatIfAny(linkPath);
  if (st && !st.isSymbolicLink()) return conflicting();
  if (st && !likelyThere && tryOr(() => readlinkSync(linkPath), undefined, 'ENOENT', 'EINVAL') === target) return true;
  try {
    mkdirInside(roots.dev, dirname(linkPath), 0o755);
  } catch (e) {
    if (!(e instanceof ConfinementError) && !isSystemError(e)) throw e;
    log.error(`cannot create directory for '${linkPath}': ${(e as Error).message}`);
    return false;
  }
  if (!st) {
    // nothing to replace: the link itself, unless something was made there meanwhile
    try {
      symlinkSync(target, linkPath);
      return true;
    } catch (e) {
      if (!isErrno(e, 'EEXIST')) {
        log.error(`cannot create symlink '${linkPath}' → '${target}': ${(e as Error).message}`);
        return false;
      }
      if (lstatIfAny(linkPath)?.isSymbolicLink() === false) return conflicting();
    }
  }
  const tmp = `${linkPath}.tmp-dm-${process.pid}-${++tmpSeq}`;
  try {
    symlinkSync(target, tmp);
    renameSync(tmp, linkPath);
    return true;
  } catch (e) {
    unlinkIfAny(tmp);
    log.error(`cannot create symlink '${linkPath}' → '${target}': ${(e as Error).message}`);
    return false;
  }
}

/** Removes now-empty parent directories of `path`, up to (not including) `stop`. */
function removeEmptyParents(path: string, stop: string): void {
  for (let d = dirname(path); d.startsWith(stop + '/') && d !== stop; d = dirname(d)) {
    if (!rmdirIfEmpty(d)) return;
  }
}

export interface LinkOwner {
  /** udev database id of the device (the claim's file name). */
  id: string;
  /** Logical device node ("/dev/sda"). */
  devnode: string;
  priority: number;
}

/**
 * Adds or drops one device's claim on a link and makes the link point at the winner (or removes it).
 * Returns the logical devnode the link points to afterwards, or undefined.
 */
export function updateLink(roots: Roots, logicalLink: string, owner: LinkOwner, add: boolean, log: LinkLog): string | undefined {
  if (!isSafeLinkName(logicalLink)) {
    log.error(`refusing symlink '${logicalLink}': outside ${DEV_PREFIX}`);
    return undefined;
  }
  const dir = stackDir(roots, logicalLink);
  const claimPath = join(dir, owner.id);
  let claimed = false; // the claim was there already (so, most likely, the link too)
  if (add) {
    try {
      const data = `${owner.priority}:${owner.devnode}`;
      // an lstat first: a new claim (every claim of a boot) costs no failed readlink
      const st = lstatIfAny(claimPath);
      const current = st?.isSymbolicLink() ? tryOr(() => readlinkSync(claimPath), '', 'ENOENT', 'EINVAL') : st ? '' : undefined;
      claimed = current === data;
      if (!claimed) {
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        if (current !== undefined) unlinkIfAny(claimPath);
        symlinkSync(data, claimPath);
      }
    } catch (e) {
      log.error(`cannot record claim on '${logicalLink}': ${(e as Error).message}`);
    }
  } else {
    tryOr(() => unlinkSync(claimPath), undefined, 'ENOENT', 'ENOTDIR');
  }

  // find the winner
  let best: Claim | undefined = add ? { priority: owner.priority, devnode: owner.devnode } : undefined;
  for (const n of readdirIfAny(dir).sort()) {
    if (n.startsWith('.') || n === owner.id) continue;
    const c = readClaim(join(dir, n));
    if (!c) continue;
    if (!best || c.priority > best.priority) best = c;
  }

  const linkPath = devPath(roots, logicalLink);
  if (best) {
    const target = relative(dirname(linkPath), devPath(roots, best.devnode));
    if (linkPath === devPath(roots, best.devnode)) {
      log.error(`refusing symlink '${logicalLink}': it has the name of the device node`);
      return undefined;
    }
    return placeSymlink(roots, linkPath, target, log, claimed || !add) ? best.devnode : undefined;
  }
  // nobody claims it any more
  if (lstatIfAny(linkPath)?.isSymbolicLink()) {
    unlinkIfAny(linkPath);
    removeEmptyParents(linkPath, roots.dev);
  }
  rmdirIfEmpty(dir);
  return undefined;
}

/** /dev/block/M:m or /dev/char/M:m → the node, as udev creates them. */
export function devnumLinkName(isBlock: boolean, major: number, minor: number): string {
  return `${DEV_PREFIX}/${isBlock ? 'block' : 'char'}/${major}:${minor}`;
}

export function placeDevnumLink(roots: Roots, isBlock: boolean, major: number, minor: number, devnode: string, log: LinkLog): void {
  const linkPath = devPath(roots, devnumLinkName(isBlock, major, minor));
  // the link is /dev/block|char/M:m and the node (a logical /dev/NAME) is beside: "../NAME"
  const target = '..' + devnode.slice(DEV_PREFIX.length);
  if (devnumLinks.placed.get(linkPath) === target) return;
  // not known to be in place: made by this process before (while its directory was not watched yet), most likely
  // still there; otherwise, on a boot's /dev and at a daemon's first event of the device, most likely not
  const made = devnumLinks.made.get(linkPath) === target;
  if (!placeSymlink(roots, linkPath, target, log, made)) return;
  const changes = devnumLinks.changes;
  if (changes?.covers(linkPath)) devnumLinks.placed.set(linkPath, target);
  else if (!made) {
    if (devnumLinks.made.size >= MADE_MAX) devnumLinks.made.clear();
    devnumLinks.made.set(linkPath, target);
    // the directory is there now (this process made it, most likely): watched from here on, so that the next
    // event of the device, which finds its link with one readlink, knows it from then on
    changes?.watchMade(linkPath.slice(0, linkPath.lastIndexOf('/')));
  }
}

/** A bound on the links remembered as made: one per device node, so only a runaway would reach it. */
const MADE_MAX = 65536;

export function removeDevnumLink(roots: Roots, isBlock: boolean, major: number, minor: number): void {
  const linkPath = devPath(roots, devnumLinkName(isBlock, major, minor));
  devnumLinks.placed.delete(linkPath);
  devnumLinks.made.delete(linkPath);
  if (lstatIfAny(linkPath)?.isSymbolicLink()) unlinkIfAny(linkPath);
}

/**
 * The daemon's /dev/{block,char} links known to be in place (`placed`), while inotify watches those directories
 * (watchDevnumLinks(), src/sys/dir-changes.ts): an event of a device whose link is known costs no readlink. Any
 * change inotify names there (another program's, or the rename that placed the link) drops the link's entry.
 * `made`: links this process placed while their directory was not watched (a boot's /dev/char comes with the first
 * link, and is watched from the next look, up to a second later): only a hint that the link is there.
 */
const devnumLinks: { placed: Map<string, string>; made: Map<string, string>; changes: DirChanges | undefined } = { placed: new Map(), made: new Map(), changes: undefined };

/** Watches the dev root's block/ and char/ with `changes`, until unwatchDevnumLinks(changes). */
export function watchDevnumLinks(roots: Roots, changes: DirChanges): void {
  devnumLinks.placed.clear();
  devnumLinks.made.clear();
  devnumLinks.changes = changes;
  const listener = { changed: (path: string) => devnumLinks.placed.delete(path), lost: () => devnumLinks.placed.clear() };
  for (const kind of ['block', 'char']) changes.watch(devPath(roots, `${DEV_PREFIX}/${kind}`), listener);
}

/** Stops trusting what `changes` watches: every link is looked at again. */
export function unwatchDevnumLinks(changes: DirChanges): void {
  if (devnumLinks.changes !== changes) return;
  devnumLinks.changes = undefined;
  devnumLinks.placed.clear();
}
