// OPTIONS+="watch": inotify IN_CLOSE_WRITE on device nodes, as udevd (systemd 252) does.
//
//   const w = DeviceWatcher.open(roots, log);   // undefined when inotify is unavailable (logged)
//   w.restore();                                // re-add the watches a previous daemon left in <run>/watch/
//   w.end(device);                              // before an event is processed, and on remove
//   w.begin(device);                            // after the event (rules said watch), RUN programs done
//   w.close();                                  // the watches go with the inotify fd; the links stay
//
// When a program that opened a watched node for writing closes it (mkfs, fdisk, dd), the watcher writes
// "change" to the device's uevent file; for a whole disk it first tries BLKRRPART (only when nobody holds the
// disk: flock LOCK_EX|LOCK_NB, and the kernel refuses while a partition is open). If the table was re-read and
// the disk has partitions, the kernel's own change/remove/add events suffice; otherwise "change" is written for
// the disk and for each of its partitions.
//
// Storage, as udev since v249: <run>/watch/<device id> → "<wd>" and <run>/watch/<wd> → "<device id>" (two
// symlinks that must agree). No W: line is written to the database (udev 252 reads it and ignores it).
//
// The inotify instance is src/sys/inotify.ts (a non-blocking descriptor polled by libuv).
import { errnoCode, readdirIfAny, readlinkIfAny, unlinkIfAny } from '../util/fs.js';
import { flock, LOCK_EX, LOCK_NB } from '../sys/file.js';
import { Inotify, IN_CLOSE_WRITE, IN_IGNORED, IN_Q_OVERFLOW, type InotifyEvent } from '../sys/inotify.js';
import { BLKRRPART, ioctlAsync } from '../sys/ioctl.js';
import { errnoName } from '../sys/errno.js';
import { constants as fsConstants, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, existsSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Device, deviceIfAny } from '../device/device.js';
import { devPath, type Roots } from '../device/roots.js';
import type { Logger } from '../log.js';

// A lazy require (bundled by scripts/bundle.mjs, loaded when first called): node:fs/promises (and the modules it
// loads) with the first closed-after-write node, not at start-up.
const require = createRequire(import.meta.url);
const fsp = (): typeof import('node:fs/promises') => require('node:fs/promises') as typeof import('node:fs/promises');

// ------------------------------------------------------------------ udev's watch semantics

export interface WatchCounters {
  /** Watches added (begin) and removed (end, with a live watch). */
  added: number;
  removed: number;
  /** begin failed (no node, inotify refused it, links could not be made). */
  failed: number;
  /** IN_CLOSE_WRITE seen on a watched node. */
  closeWrite: number;
  /** "change" written to a uevent file. */
  synthesized: number;
  /** BLKRRPART that succeeded on a whole disk. */
  rescans: number;
  /** Watches re-added from a previous daemon's links at start. */
  restored: number;
  /** Inotify queue overflows (close-writes lost). */
  overflows: number;
}

const readLink = readlinkIfAny;
const unlinkQuiet = unlinkIfAny;

export class DeviceWatcher {
  readonly roots: Roots;
  readonly dir: string;
  readonly counters: WatchCounters = { added: 0, removed: 0, failed: 0, closeWrite: 0, synthesized: 0, rescans: 0, restored: 0, overflows: 0 };
  /** Called on every close-after-write of a watched node (the daemon retries events waiting for its lock). */
  onCloseWrite: ((device: Device) => void) | undefined;
  #log: Logger;
  #inotify: Inotify;
  /**
   * The devices this process linked in <run>/watch, once restore() took the directory over (from then on every link
   * there is this process's): end() of any other device, the common case, then costs no look at the directory.
   */
  #linked: Set<string> | undefined;
  /** Synthesis in flight (whole-disk rescans run on the threadpool), awaited by close(). */
  #pending = new Set<Promise<void>>();

  private constructor(roots: Roots, log: Logger) {
    this.roots = roots;
    this.dir = join(roots.run, 'watch');
    this.#log = log;
    this.#inotify = Inotify.open(
      (evs) => this.#onEvents(evs),
      (e) => this.#log.error({ err: e.message }, 'inotify watch of device nodes stopped'),
    );
  }

  /** A watcher on a new inotify instance, or undefined (logged) when inotify is unavailable. */
  static open(roots: Roots, log: Logger): DeviceWatcher | undefined {
    try {
      return new DeviceWatcher(roots, log);
    } catch (e) {
      log.error({ err: (e as Error).message }, 'cannot create the inotify instance: OPTIONS+="watch" is disabled');
      return undefined;
    }
  }

  /** udev_watch_begin: watch the device's node for IN_CLOSE_WRITE and record it. False when not watched. */
  begin(device: Device): boolean {
    if (device.action === 'remove') return false; // the node is gone, its name may already be another device's
    const name = device.devname;
    if (!name) return false;
    const id = device.id;
    if (id.includes('/')) return false;
    const node = devPath(this.roots, name);
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    } catch (e) {
      this.counters.failed++;
      this.#log.warn({ dir: this.dir, err: (e as Error).message }, 'cannot create the watch directory');
      return false;
    }
    this.#clear(id); // stale links of this device
    let wd: number;
    try {
      wd = this.#inotify.add(node, IN_CLOSE_WRITE);
    } catch (e) {
      this.counters.failed++;
      const code = (e as NodeJS.ErrnoException).code;
      // the device may be gone already: not worth a warning
      this.#log[code === 'ENOENT' ? 'debug' : 'warn']({ node, devpath: device.devpath, err: (e as Error).message }, 'cannot watch device node');
      return false;
    }
    const wdName = String(wd);
    this.#clearByWd(wdName); // the handle may have belonged to another device whose links were left
    try {
      symlinkSync(wdName, join(this.dir, id));
      symlinkSync(id, join(this.dir, wdName));
      this.#linked?.add(id);
    } catch (e) {
      unlinkQuiet(join(this.dir, id));
      this.#inotify.remove(wd);
      this.counters.failed++;
      this.#log.warn({ node, wd, err: (e as Error).message }, 'cannot record the watch');
      return false;
    }
    this.counters.added++;
    this.#log.debug({ node, wd, id }, 'watching device node');
    return true;
  }

  /** udev_watch_end: drop the device's watch and its links (nothing when it has none). */
  end(device: Device): void {
    const id = device.id;
    if (this.#linked !== undefined && !this.#linked.has(id)) return;
    const wd = this.#clear(id);
    if (wd === undefined) return;
    this.#inotify.remove(wd);
    this.counters.removed++;
    this.#log.debug({ wd, id }, 'watch removed');
  }

  /**
   * Removes the links of device `id`; returns its watch descriptor when both links agreed. The <wd> link is
   * only removed when it points back at this device (else it belongs to another device now).
   */
  #clear(id: string): number | undefined {
    this.#linked?.delete(id);
    const idLink = join(this.dir, id);
    const wdName = readLink(idLink);
    if (wdName === undefined) return undefined;
    let wd: number | undefined;
    if (/^\d+$/.test(wdName) && readLink(join(this.dir, wdName)) === id) {
      unlinkQuiet(join(this.dir, wdName));
      wd = Number(wdName);
    }
    unlinkQuiet(idLink);
    return wd;
  }

  /** Removes the links of watch descriptor `wdName` (and the device's link back, when it agrees). */
  #clearByWd(wdName: string): void {
    const wdLink = join(this.dir, wdName);
    const id = readLink(wdLink);
    if (id === undefined) return;
    if (readLink(join(this.dir, id)) === wdName) {
      unlinkQuiet(join(this.dir, id));
      this.#linked?.delete(id);
    }
    unlinkQuiet(wdLink);
  }

  /**
   * udev_watch_restore: moves <run>/watch to <run>/watch.old and watches again every device listed there
   * (through its <wd> → id links) that still exists. Returns how many watches were restored.
   */
  restore(): number {
    const old = join(this.roots.run, 'watch.old');
    if (existsSync(old)) rmSync(old, { recursive: true, force: true }); // (a recursive rmSync loads Node's rimraf)
    try {
      renameSync(this.dir, old);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.#log.warn({ dir: this.dir, err: (e as Error).message }, 'cannot move the old watch directory');
        return 0;
      }
      this.#linked = new Set(); // no directory: whatever is linked from now on, this process links
      return 0;
    }
    this.#linked = new Set();
    let n = 0;
    try {
      for (const entry of readdirSync(old)) {
        if (!/^\d+$/.test(entry)) continue; // the id → wd links
        const id = readLink(join(old, entry));
        if (!id) continue;
        const device = deviceIfAny(() => Device.fromDeviceId(this.roots, id));
        if (!device?.devname) {
          this.#log.debug({ id }, 'saved watch of a device that is gone (or has no node any more), dropped');
          continue;
        }
        if (this.begin(device)) n++;
      }
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
    this.counters.restored += n;
    if (n > 0) this.#log.info({ restored: n }, `${n} device node watches restored`);
    return n;
  }

  /** The device a watch descriptor belongs to (from the <wd> link), or undefined. */
  deviceOf(wd: number): Device | undefined {
    const id = readLink(join(this.dir, String(wd)));
    return id ? deviceIfAny(() => Device.fromDeviceId(this.roots, id)) : undefined; // undefined: gone
  }

  /** Current watches: [wd, device id] from the links. */
  list(): [number, string][] {
    const out: [number, string][] = [];
    for (const n of readdirIfAny(this.dir)) {
      if (!/^\d+$/.test(n)) continue;
      const id = readLink(join(this.dir, n));
      if (id !== undefined) out.push([Number(n), id]);
    }
    return out.sort((a, b) => a[0] - b[0]);
  }

  status(): Record<string, unknown> {
    return { watches: this.list().length, ...this.counters };
  }

  #onEvents(evs: InotifyEvent[]): void {
    for (const ev of evs) {
      if (ev.mask & IN_Q_OVERFLOW) {
        this.counters.overflows++;
        this.#log.warn('inotify queue overflow: close-after-write events of device nodes were lost');
        continue;
      }
      if (ev.mask & IN_IGNORED) {
        // the watch is gone (node deleted, or our own inotify_rm_watch): drop links still naming it
        this.#clearByWd(String(ev.wd));
        continue;
      }
      if (!(ev.mask & IN_CLOSE_WRITE)) continue;
      this.counters.closeWrite++;
      const device = this.deviceOf(ev.wd);
      if (!device?.devname) {
        this.#log.debug({ wd: ev.wd }, 'close-after-write on a watch whose device is gone, ignored');
        continue;
      }
      this.onCloseWrite?.(device);
      this.#log.debug({ devname: device.devname, wd: ev.wd }, 'device node closed after writing: synthesizing "change"');
      const p = this.synthesizeChange(device).finally(() => this.#pending.delete(p));
      this.#pending.add(p);
    }
  }

  /**
   * udev's synthesize_change: "change" on the device; for a whole disk (not dm-*), BLKRRPART first, and when
   * that did not do it (failed, or no partitions), "change" on the disk and each of its partitions.
   */
  async synthesizeChange(device: Device): Promise<void> {
    if (device.sysname.startsWith('dm-') || device.subsystem !== 'block' || device.devtype !== 'disk') {
      await this.#trigger(device);
      return;
    }
    const reread = await this.#rereadPartitions(devPath(this.roots, device.devname!));
    const parts = partitionsOf(this.roots, device);
    // re-read and partitioned: the kernel sent "change" for the disk and remove/add for the partitions
    if (reread && parts.length > 0) return;
    await this.#trigger(device);
    for (const p of parts) await this.#trigger(p);
  }

  async #trigger(device: Device): Promise<void> {
    try {
      await fsp().writeFile(join(device.syspath, 'uevent'), 'change');
      this.counters.synthesized++;
    } catch (e) {
      this.#log.debug({ syspath: device.syspath, err: errnoCode(e) }, 'cannot trigger "change"');
    }
  }

  /** BLKRRPART (off the main thread) under an exclusive BSD lock; true when the table was re-read. */
  async #rereadPartitions(node: string): Promise<boolean> {
    let fh: FileHandle;
    try {
      fh = await fsp().open(node, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | fsConstants.O_NOFOLLOW);
    } catch (e) {
      this.#log.debug({ node, err: errnoCode(e) }, 'cannot open the disk to re-read its partition table');
      return false;
    }
    const fd = fh.fd;
    try {
      const locked = flock(fd, LOCK_EX | LOCK_NB);
      if (locked !== 0) {
        this.#log.debug({ node, err: errnoName(locked) }, 'disk is locked: partition table not re-read');
        return false;
      }
      if ((await ioctlAsync(fd, BLKRRPART)) < 0) {
        this.#log.debug({ node }, 'BLKRRPART failed');
        return false;
      }
      this.counters.rescans++;
      return true;
    } catch (e) {
      this.#log.debug({ node, err: (e as Error).message }, 'partition table not re-read');
      return false;
    } finally {
      await fh.close().catch((e: unknown) => this.#log.warn({ node, err: (e as Error).message }, 'cannot close the disk after re-reading its partition table'));
    }
  }

  /** Stops watching (the inotify fd closes, the kernel drops its watches); the links stay for a restart. */
  async close(): Promise<void> {
    this.#inotify.close();
    await Promise.allSettled([...this.#pending]);
  }
}

/** The partitions of a whole disk: its sysfs children that have a `partition` attribute, by name. */
export function partitionsOf(roots: Roots, disk: Device): Device[] {
  const out: Device[] = [];
  for (const n of readdirIfAny(disk.syspath).sort()) {
    if (!existsSync(join(disk.syspath, n, 'partition'))) continue;
    const d = deviceIfAny(() => Device.fromSyspath(roots, join(disk.syspath, n))); // undefined: gone meanwhile
    if (d?.subsystem === 'block' && d.devtype === 'partition') out.push(d);
  }
  return out;
}
