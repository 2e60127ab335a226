// btrfs: asks the kernel whether every device of a multi-device btrfs file system is present, as
// systemd-udevd's udev-builtin-btrfs.c (version 252) does:
//
//   btrfs ready <devnode>     (rules pass $devnode)
//
// The BTRFS_IOC_DEVICES_READY ioctl on /dev/btrfs-control (under the dev root) registers the device with the
// kernel and returns 0 when the file system is complete: ID_BTRFS_READY=1, else ID_BTRFS_READY=0. Without the
// control device (no btrfs driver, e.g. in an initrd) the device is simply not ready: ID_BTRFS_READY=0.
// In test mode nothing is registered: no ioctl, no property (as later udev versions do).
import { closeSync, constants, openSync } from 'node:fs';
import { errnoName } from '../sys/errno.js';
import { BTRFS_IOC_DEVICES_READY, ioctl, volArgs } from '../sys/ioctl.js';
import { errno } from '../sys/libc.js';
import { devPath } from '../device/roots.js';
import { errnoCode } from '../util/fs.js';
import type { Builtin, BuiltinContext } from './types.js';

const O_CLOEXEC = 0o2000000;

function run(ctx: BuiltinContext, argv: string[]): boolean {
  const dev = ctx.device;
  if (argv.length !== 3 || argv[1] !== 'ready') {
    ctx.log.error(`${dev.sysname}: btrfs: invalid arguments (expected: btrfs ready <devnode>)`);
    return false;
  }
  // the kernel resolves the path itself: give it the node's place under the dev root
  const node = devPath(ctx.roots, argv[2]!);
  const args = volArgs(node);
  if (!args) {
    ctx.log.error(`${dev.sysname}: btrfs: device name not usable for BTRFS_IOC_DEVICES_READY: ${node}`);
    return false;
  }
  if (ctx.test) {
    ctx.log.debug(`${dev.sysname}: btrfs: test mode, not registering ${node} with the kernel`);
    return true;
  }
  const control = devPath(ctx.roots, '/dev/btrfs-control');
  let fd: number;
  try {
    fd = openSync(control, constants.O_RDWR | O_CLOEXEC | constants.O_NOCTTY);
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO') {
      // driver not there: not ready (a later retrigger, once btrfs is loaded, will tell)
      ctx.setProperty('ID_BTRFS_READY', '0');
      return true;
    }
    ctx.log.debug(`${dev.sysname}: btrfs: failed to open ${control}: ${(e as Error).message}`);
    return false;
  }
  try {
    const r = ioctl(fd, BTRFS_IOC_DEVICES_READY(), args);
    if (r < 0) {
      ctx.log.debug(`${dev.sysname}: btrfs: BTRFS_IOC_DEVICES_READY on ${node} failed: ${errnoName(errno())}`);
      return false;
    }
    ctx.setProperty('ID_BTRFS_READY', r === 0 ? '1' : '0');
    return true;
  } finally {
    closeSync(fd);
  }
}

const builtin: Builtin = {
  name: 'btrfs',
  help: 'btrfs volume management',
  run,
};

export default builtin;
