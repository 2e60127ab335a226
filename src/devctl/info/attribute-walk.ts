// `devctl info --attribute-walk`: the device and each parent with their attributes in rules syntax, as
// udevadm info -a prints them (attributes sorted by name; links, directories, paths and non-printable values
// left out; a value that cannot be read for lack of permission shows as "(not readable)"); with --json, one
// JSON-SEQ object per device, as udevadm 257 prints them.
import type { Device } from '../../device/device.js';
import { listSysattrs, readSysattr } from '../../device/enumerate/sysattr.js';
import { formatJson, type JsonMode } from './json.js';

const SKIP = new Set(['uevent', 'dev', 'modalias', 'resource', 'driver', 'subsystem', 'module']);

export const WALK_HEADER =
  '\n' +
  'Udevadm info starts with the device specified by the devpath and then\n' +
  'walks up the chain of parent devices. It prints for every device\n' +
  'found, all possible attributes in the udev rules key format.\n' +
  'A rule to match, can be composed by the attributes of the device\n' +
  'and the attributes from one single parent device.\n' +
  '\n';

function printable(b: Buffer): boolean {
  for (const c of b) if (c < 0x20 || c > 0x7e) return false;
  return true;
}

/** The attributes udevadm shows, sorted by name. */
function shownAttributes(d: Device): Array<[string, string]> {
  const rows: Array<[string, string]> = [];
  for (const name of listSysattrs(d.syspath)) {
    if (SKIP.has(name)) continue;
    const r = readSysattr(d.syspath, name);
    if (r.ok) {
      if (r.value.startsWith('/')) continue;
      if (!printable(r.raw)) continue;
      rows.push([name, r.value]);
    } else if (r.code === 'EPERM' || r.code === 'EACCES') rows.push([name, '(not readable)']);
  }
  return rows.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
}

export function attributeBlock(d: Device, isParent: boolean): string {
  let out = `${isParent ? '\n' : ''}  looking at ${isParent ? 'parent ' : ''}device '${d.devpath}':\n`;
  out += `    ${isParent ? 'KERNELS' : 'KERNEL'}=="${d.sysname}"\n`;
  out += `    ${isParent ? 'SUBSYSTEMS' : 'SUBSYSTEM'}=="${d.subsystem ?? ''}"\n`;
  out += `    ${isParent ? 'DRIVERS' : 'DRIVER'}=="${d.driver ?? ''}"\n`;
  for (const [n, v] of shownAttributes(d)) out += `    ${isParent ? 'ATTRS' : 'ATTR'}{${n}}=="${v}"\n`;
  return out;
}

/** The device and its ancestors (udevadm 257: a blank line before each parent, none at the end). */
export function attributeWalk(d: Device): string {
  let out = WALK_HEADER + attributeBlock(d, false);
  for (let p = d.parent(); p; p = p.parent()) out += attributeBlock(p, true);
  return out;
}

/** The same as JSON-SEQ: DEVPATH, KERNEL(S), SUBSYSTEM(S), DRIVER(S) (null when none) and ATTR(S). */
export function attributeWalkJson(d: Device, mode: JsonMode): string {
  let out = '';
  for (let x: Device | undefined = d, parent = false; x; x = x.parent(), parent = true) {
    const attrs = shownAttributes(x);
    out += formatJson(
      {
        DEVPATH: x.devpath,
        [parent ? 'KERNELS' : 'KERNEL']: x.sysname,
        [parent ? 'SUBSYSTEMS' : 'SUBSYSTEM']: x.subsystem ?? null,
        [parent ? 'DRIVERS' : 'DRIVER']: x.driver ?? null,
        [parent ? 'ATTRS' : 'ATTR']: attrs.length ? Object.fromEntries(attrs) : null,
      },
      mode,
      true,
    );
  }
  return out;
}
