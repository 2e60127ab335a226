// Coldplug: ask the kernel to replay an event for every device (writing ACTION to each device's uevent file),
// the way `udevadm trigger --action=add` does at boot.
import { readdirSync, writeFileSync, readFileSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import type { Roots } from '../device/roots.js';
import { tryOr } from '../util/fs.js';

/**
 * Every device directory under <sysfs>/devices that has a uevent file, parents before children, siblings in
 * name order. (A local walk; devctl trigger's enumeration applies filters and subsystem priorities.)
 */
export function listDevices(roots: Roots): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 64) return;
    const entries: Dirent[] | undefined = tryOr(() => readdirSync(dir, { withFileTypes: true }), undefined, 'ENOENT', 'ENOTDIR', 'EACCES'); // gone meanwhile
    if (!entries) return;
    if (entries.some((e) => e.name === 'uevent' && e.isFile())) out.push(dir);
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      if (e.isDirectory() && !e.isSymbolicLink()) walk(join(dir, e.name), depth + 1);
    }
  };
  walk(join(roots.sysfs, 'devices'), 0);
  return out;
}

export interface TriggerResult {
  triggered: number;
  failed: { syspath: string; error: string }[];
}

/** Writes `action` to every listed device's uevent file. Devices that vanished or refuse are reported, not fatal. */
export function triggerAll(syspaths: string[], action: string): TriggerResult {
  const res: TriggerResult = { triggered: 0, failed: [] };
  for (const p of syspaths) {
    try {
      writeFileSync(join(p, 'uevent'), action);
      res.triggered++;
    } catch (e) {
      res.failed.push({ syspath: p, error: (e as Error).message });
    }
  }
  return res;
}

/** The kernel's last uevent sequence number (/sys/kernel/uevent_seqnum), or undefined. */
export function kernelSeqnum(roots: Roots): number | undefined {
  const text = tryOr(() => readFileSync(join(roots.sysfs, 'kernel', 'uevent_seqnum'), 'utf8'), undefined, 'ENOENT'); // a sysfs copy without it
  const n = Number(text?.trim());
  return text !== undefined && Number.isFinite(n) ? n : undefined;
}
