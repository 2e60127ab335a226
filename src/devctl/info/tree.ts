// `devctl info --tree`: devices, subsystems and drivers as a tree with their records, as udevadm draws it.
import type { Device } from '../../device/device.js';
import { buildRecord, formatRecord } from './record.js';

function treeLines(devices: Device[]): string {
  // A device's tree parent is its closest listed ancestor by path.
  const bySys = new Set(devices.map((d) => d.devpath));
  const children = new Map<string, string[]>();
  const roots: string[] = [];
  const byPath = new Map(devices.map((d) => [d.devpath, d]));
  for (const d of devices) {
    let p = d.devpath;
    let parent: string | undefined;
    for (;;) {
      const slash = p.lastIndexOf('/');
      if (slash <= 0) break;
      p = p.slice(0, slash);
      if (bySys.has(p)) {
        parent = p;
        break;
      }
    }
    if (parent) {
      let c = children.get(parent);
      if (!c) children.set(parent, (c = []));
      c.push(d.devpath);
    } else roots.push(d.devpath);
  }
  let text = '';
  const walk = (devpath: string, prefix: string, last: boolean, parent: string | undefined) => {
    const label = parent ? devpath.slice(parent.length + 1) : devpath;
    text += `${prefix}${last ? '└─' : '├─'}${label}\n`;
    // as udevadm: the record under "┆ " after the branch's own continuation ("│ " while siblings follow)
    const inner = prefix + (last ? '  ' : '│ ');
    const kids = children.get(devpath) ?? [];
    const rec = formatRecord(buildRecord(byPath.get(devpath)!)).split('\n').filter((l) => l !== '');
    for (const l of rec) text += `${inner}┆ ${l}\n`;
    kids.forEach((k, i) => walk(k, inner, i === kids.length - 1, devpath));
  };
  roots.forEach((r, i) => walk(r, '', i === roots.length - 1, undefined));
  return text;
}

/** The tree and udevadm's count line after it ("No items." on stderr when there is nothing). */
export function treeOutput(devices: Device[]): string {
  if (devices.length === 0) {
    process.stderr.write('No items.\n');
    return '';
  }
  return `${treeLines(devices)}\n${devices.length} items shown.\n`;
}
