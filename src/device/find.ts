// How devctl verbs turn a DEVICE argument into a Device, like udevadm's find_device(): a sysfs path (/sys/...),
// a device node or symlink (/dev/...), a systemd device unit name (dev-sda.device, sys-devices-....device);
// devMaster also accepts a udev device id (b8:0, c1:3, n2, +pci:0000:00:02.0) and SUBSYSTEM/SYSNAME (net/lo).
// Paths are logical ("/sys", "/dev") and are mapped onto the configured roots; paths already under the roots
// are taken as they are.
import { join } from 'node:path';
import { Device, DeviceError } from './device.js';
import type { Roots } from './roots.js';
import { pathStartsWith } from '../util/fs.js';

/** systemd's unit name unescaping: '-' is '/', \xNN is a byte. */
export function unescapeUnitPath(s: string): string {
  const body = s.replace(/-/g, '/').replace(/\\x([0-9a-fA-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return '/' + body.replace(/^\/+/, '');
}

function mapSys(roots: Roots, p: string): string | undefined {
  if (pathStartsWith(p, roots.sysfs)) return p;
  if (pathStartsWith(p, '/sys')) return roots.sysfs + p.slice(4);
  return undefined;
}

function mapDev(roots: Roots, p: string): string | undefined {
  if (p.startsWith(roots.dev + '/')) return '/dev' + p.slice(roots.dev.length);
  if (p.startsWith('/dev/')) return p;
  return undefined;
}

/** From an absolute path: /sys/... or /dev/... Throws DeviceError. */
export function deviceFromPath(roots: Roots, p: string): Device {
  const sys = mapSys(roots, p);
  if (sys !== undefined) return Device.fromSyspath(roots, sys);
  const dev = mapDev(roots, p);
  if (dev !== undefined) return Device.fromDevname(roots, dev);
  throw new DeviceError('EINVAL', `${p}: neither a sysfs path (/sys/...) nor a device node (/dev/...)`);
}

/**
 * Finds a device. With a prefix ("/sys" or "/dev"), a relative argument is taken below it (udevadm info -p/-n,
 * trigger -b/--name-match). Throws DeviceError naming the argument.
 */
export function findDevice(roots: Roots, id: string, prefix?: '/sys' | '/dev'): Device {
  if (id === '') throw new DeviceError('EINVAL', 'empty device argument');
  if (prefix) {
    let p = id;
    if (!mapSys(roots, p) && !mapDev(roots, p)) p = join(prefix, id);
    return deviceFromPath(roots, p);
  }
  if (id.startsWith('/')) return deviceFromPath(roots, id);
  if (id.endsWith('.device')) {
    const path = unescapeUnitPath(id.slice(0, -'.device'.length));
    if (path.startsWith('/sys/') || path.startsWith('/dev/')) return deviceFromPath(roots, path);
    throw new DeviceError('EINVAL', `${id}: not a device unit for /sys or /dev`);
  }
  if (/^[bc]\d+:\d+$|^n\d+$/.test(id) || id.startsWith('+')) return Device.fromDeviceId(roots, id);
  const slash = id.indexOf('/');
  if (slash > 0 && slash < id.length - 1) {
    const subsystem = id.slice(0, slash);
    const sysname = id.slice(slash + 1);
    return Device.fromSubsystemSysname(roots, subsystem, sysname);
  }
  throw new DeviceError('EINVAL', `${id}: not a device path, node, unit name, device id or SUBSYSTEM/SYSNAME`);
}

/**
 * The error udevadm 257's find_device() gives for an argument it cannot find: ENODEV for anything with a '/' in it
 * and for device unit names, EINVAL otherwise (it is neither a path nor a unit name). devctl finds more (device ids,
 * SUBSYSTEM/SYSNAME) but reports a miss in udevadm's words.
 */
export function udevadmNotFoundErrno(id: string): 'ENODEV' | 'EINVAL' {
  return id.includes('/') || /^[^/]+\.device$/.test(id) ? 'ENODEV' : 'EINVAL';
}
