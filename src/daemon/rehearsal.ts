// The build's rehearsal (scripts/bundle.mjs, Daemon.rehearse()): the daemon's code caches are made from a run of
// the daemon, and V8 keeps in a cache only what that run compiled. A run that ends at READY=1 leaves out the event
// path, which every start then compiles function by function during its first events (some 400 functions: the
// first coldplug's largest first-time cost after the records and links it writes). So the build's run goes on
// after READY=1 with a "change" event of every device of its sysfs tree (the repository's fixture), made here
// from each device's uevent file as the kernel would send it.
//
// "change", as `udevadm trigger` sends by default: the training rules rename interfaces, load modules and run
// programs on "add" only, and the daemon renames on "add" only. The rehearsal runs on temporary roots alone.
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseUeventFile } from '../device/device.js';
import { DEFAULT_ROOTS, type Roots } from '../device/roots.js';
import { formatUevent, parseUevent, UeventError, type Uevent } from '../netlink/uevent.js';
import { readlinkIfAny } from '../util/fs.js';
import { listDevices } from './coldplug.js';

/** Refuses the machine's own roots: a rehearsal writes records and links, and is meant for a build's temporary ones. */
export function checkRehearsalRoots(roots: Roots): void {
  for (const k of ['sysfs', 'dev', 'run'] as const) {
    if (roots[k] === DEFAULT_ROOTS[k]) throw new Error(`a rehearsal runs on temporary roots only, not on ${roots[k]}`);
  }
}

/**
 * The properties of the kernel's message for `action` on the device at `syspath` (under roots.sysfs/devices), but
 * for SEQNUM: ACTION, DEVPATH, SUBSYSTEM, then its uevent file's (`ueventFile`, parsed).
 */
export function kernelProperties(roots: Roots, syspath: string, subsystem: string, action: string, ueventFile: Map<string, string>): Map<string, string> {
  const props = new Map([['ACTION', action], ['DEVPATH', '/devices' + syspath.slice(join(roots.sysfs, 'devices').length)], ['SUBSYSTEM', subsystem]]);
  ueventFile.forEach((v, k) => props.set(k, v));
  return props;
}

/**
 * The uevents the kernel would send for `action` on every device under the sysfs root that has a subsystem, parents
 * first: ACTION, DEVPATH, SUBSYSTEM, the device's uevent file, SEQNUM (from `firstSeqnum` on).
 */
export function rehearsalEvents(roots: Roots, action = 'change', firstSeqnum = 1): Uevent[] {
  const events: Uevent[] = [];
  for (const syspath of listDevices(roots)) {
    const link = readlinkIfAny(join(syspath, 'subsystem'));
    if (link === undefined) continue; // no uevent from the kernel for such a directory (/devices/platform)
    const props = kernelProperties(roots, syspath, basename(link), action, parseUeventFile(readFileSync(join(syspath, 'uevent'), 'utf8')));
    const devpath = props.get('DEVPATH')!;
    const ev = parseUevent(formatUevent(action, devpath, [...props, ['SEQNUM', String(firstSeqnum + events.length)]]));
    if (ev instanceof UeventError) throw new Error(`${syspath}: ${ev.message}`);
    events.push(ev);
  }
  return events;
}
