// The whole disk of a block device (https://systemd.io/BLOCK_DEVICE_LOCKING): a disk is its own, a partition's is
// the disk above it. Shared by the daemon's lock (src/daemon/disk-lock.ts) and `devctl lock`, so both lock the
// same node.
import { Device } from './device.js';
import { DeviceError } from './errors.js';

/**
 * The whole disk of `device`. Throws DeviceError ENODEV when the device has no parent any more (it is going away),
 * ENXIO when there is no disk above it.
 */
export function wholeDisk(device: Device): Device {
  if (device.devtype === 'disk') return device;
  const parent = device.parent();
  if (!parent) throw new DeviceError('ENODEV', `${device.devpath}: no parent device`);
  if (parent.subsystem === 'block' && parent.devtype === 'disk') return parent;
  throw new DeviceError('ENXIO', `${device.devpath}: no whole disk above this block device`);
}
