// Which files of a few directories changed, known with one read() of an inotify descriptor. The daemon keeps
// what it read of some files (database records, the /dev/{block,char} links) and, without this, looks at each
// file again (a statx, a readlink) every time it uses it: in an event storm that is two system calls per event
// for files nothing touched. Here a cache trusts what it read until inotify names the file; the daemon looks
// once per batch of events (sync()), right after reading them, so whatever changed before the kernel sent an
// event is seen before the event is processed, as with a look per use.
//
// A lost watch (its directory removed) or an overflowed inotify queue makes every cache drop its trust
// (`lost`); the caches then look at their files as before until the watch is back.
import { constants } from 'node:os';
import { Inotify } from './inotify.js';

const IN_MODIFY = 0x2;
const IN_ATTRIB = 0x4;
const IN_CLOSE_WRITE = 0x8;
const IN_MOVED_FROM = 0x40;
const IN_MOVED_TO = 0x80;
const IN_CREATE = 0x100;
const IN_DELETE = 0x200;
const IN_DELETE_SELF = 0x400;
const IN_MOVE_SELF = 0x800;
const IN_Q_OVERFLOW = 0x4000;
const IN_IGNORED = 0x8000;
const IN_ONLYDIR = 0x0100_0000;
const RETRY_MS = 1000;
/** Everything that changes a file of the directory, or the directory itself. */
const MASK = IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

export interface DirListener {
  /** `path` (the directory's path, '/', the name) was created, written, renamed, removed or chmodded. */
  changed(path: string): void;
  /** Changes may have been missed: trust nothing read before. */
  lost(): void;
}

interface Watched {
  dir: string;
  listener: DirListener;
  wd: number | undefined;
}

export class DirChanges {
  readonly #inotify: Inotify;
  readonly #byWd = new Map<number, Watched>();
  /** By directory path. */
  readonly #watched = new Map<string, Watched>();
  /** When sync() last tried to watch the directories not watched (at most once a second: a failing try costs). */
  #retriedAt = 0;

  private constructor(inotify: Inotify) {
    this.#inotify = inotify;
  }

  static open(): DirChanges {
    return new DirChanges(Inotify.openUnpolled());
  }

  /**
   * Reports the changes of the files of `dir` (not below) to `listener`. True when the directory is watched now;
   * a directory that does not exist yet is watched from the first sync() that finds it.
   */
  watch(dir: string, listener: DirListener): boolean {
    const w: Watched = { dir, listener, wd: undefined };
    this.#watched.set(dir, w);
    return this.#arm(w);
  }

  /** True while the directory holding `path` is watched: what was read of `path` may be trusted until sync() names it. */
  covers(path: string): boolean {
    return this.#watched.get(path.slice(0, path.lastIndexOf('/')))?.wd !== undefined;
  }

  /**
   * `dir`, given to watch() and not watched yet, was just made by this process: watched from now on, not from
   * sync()'s next try (up to a second later, a storm's length). Nothing read of its files before counts as
   * trusted: they were not watched then. True when it is watched; a failure (no watch left) is sync()'s to report.
   */
  watchMade(dir: string): boolean {
    const w = this.#watched.get(dir);
    if (w === undefined) return false;
    try {
      return w.wd !== undefined || this.#arm(w);
    } catch {
      return false;
    }
  }

  #arm(w: Watched): boolean {
    let wd: number;
    try {
      wd = this.#inotify.add(w.dir, MASK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).errno;
      if (code === constants.errno.ENOENT || code === constants.errno.ENOTDIR) return false;
      throw e;
    }
    w.wd = wd;
    this.#byWd.set(wd, w);
    return true;
  }

  /** Reads what happened since the last sync() and tells the listeners: one read() when nothing did. */
  sync(): void {
    if (this.#byWd.size < this.#watched.size && Date.now() - this.#retriedAt >= RETRY_MS) {
      this.#retriedAt = Date.now();
      for (const w of this.#watched.values()) if (w.wd === undefined && this.#arm(w)) w.listener.lost();
    }
    const evs = this.#inotify.drain();
    for (let i = 0; i < evs.length; i++) {
      const ev = evs[i]!;
      if (ev.mask & IN_Q_OVERFLOW) {
        for (const w of this.#watched.values()) w.listener.lost();
        continue;
      }
      const w = this.#byWd.get(ev.wd);
      if (w === undefined) continue;
      if (ev.mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        // the directory went, or is elsewhere now: watched again by its path once it is back
        if (!(ev.mask & IN_IGNORED)) this.#inotify.remove(ev.wd);
        this.#byWd.delete(ev.wd);
        w.wd = undefined;
        w.listener.lost();
      } else if (ev.name) {
        w.listener.changed(`${w.dir}/${ev.name}`);
      }
    }
  }

  close(): void {
    this.#inotify.close();
    this.#byWd.clear();
    for (const w of this.#watched.values()) w.wd = undefined;
  }
}
