// udev's whole-disk lock (https://systemd.io/BLOCK_DEVICE_LOCKING): before the rules run for a block device,
// take a shared BSD lock on its whole disk's node, and hold it until the event (RUN included) is done. A tool
// that holds an exclusive lock (fdisk, mkfs, `udevadm lock`) keeps udev from probing the disk while it writes:
// the event is retried every 200 ms and skipped after 3 minutes, as udevd does. Opening the node with any error
// but "device absent" fails the event; dm-*, md* and drbd* devices and "remove" events take no lock.
import { closeSync, constants, openSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { Device, DeviceError } from '../device/device.js';
import { wholeDisk } from '../device/whole-disk.js';
import { devPath, type Roots } from '../device/roots.js';
import { errnoName } from '../sys/errno.js';
import { flock, LOCK_NB, LOCK_SH } from '../sys/file.js';
import { isSystemError } from '../util/fs.js';

/** udevd's EVENT_RETRY_INTERVAL_USEC and EVENT_RETRY_TIMEOUT_USEC. */
export const LOCK_RETRY_MS = 200;
export const LOCK_TIMEOUT_MS = 3 * 60 * 1000;

export type DiskLock =
  /** No lock applies (not a block device, excluded, remove, or the node is absent). */
  | { kind: 'none' }
  /** Locked: close fd when the event is done. */
  | { kind: 'locked'; fd: number; devnode: string }
  /** Someone else holds an exclusive lock: try again later. */
  | { kind: 'busy'; devnode: string }
  /** The event fails with this error (errno and its name), as udevd's worker does. */
  | { kind: 'error'; errno: number; code: string; message: string };

const ABSENT = new Set(['ENODEV', 'ENXIO', 'ENOENT']);

function fail(errno: number, message: string): DiskLock {
  return { kind: 'error', errno, code: errnoName(errno), message };
}

/**
 * Takes udev's shared lock on the whole disk of `device` for an event with `action` (see the file comment).
 * `ensureNode` is called with the whole disk first: without a devtmpfs (mknod mode) it makes the node that a
 * devtmpfs would already have.
 */
export function lockWholeDisk(device: Device, action: string | undefined, roots: Roots, ensureNode?: (disk: Device) => void): DiskLock {
  if (action === 'remove' || device.subsystem !== 'block') return { kind: 'none' };
  const sysname = device.sysname;
  if (sysname.startsWith('dm-') || sysname.startsWith('md') || sysname.startsWith('drbd')) return { kind: 'none' };
  let disk: Device;
  try {
    disk = wholeDisk(device);
  } catch (e) {
    if (!(e instanceof DeviceError)) throw e;
    if (e.code === 'ENODEV') return { kind: 'none' }; // gone already (udev: -ENODEV, ignored)
    return fail(osConstants.errno.ENXIO, e.message);
  }
  const name = disk.devname;
  if (!name) return fail(osConstants.errno.ENOENT, `${disk.devpath}: whole disk has no device node name`);
  const devnode = devPath(roots, name);
  ensureNode?.(disk);
  let fd: number;
  try {
    fd = openSync(devnode, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    if (!isSystemError(e)) throw e;
    if (ABSENT.has(e.code!)) return { kind: 'none' };
    return fail(e.errno !== undefined ? Math.abs(e.errno) : osConstants.errno.EIO, `cannot open ${devnode} to lock it: ${e.message}`);
  }
  const errno = flock(fd, LOCK_SH | LOCK_NB);
  if (errno === 0) return { kind: 'locked', fd, devnode };
  closeSync(fd);
  if (errno === osConstants.errno.EWOULDBLOCK) return { kind: 'busy', devnode };
  return fail(errno, `cannot lock ${devnode}: ${errnoName(errno)}`);
}

/** Releases a lock taken by lockWholeDisk. */
export function unlockWholeDisk(lock: DiskLock): void {
  if (lock.kind === 'locked') closeSync(lock.fd);
}
