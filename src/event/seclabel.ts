// SECLABEL{selinux|smack}="..." on device nodes, applied on "add" like udev: only when that security module is
// active on this machine (otherwise udev ignores the label too). SELinux contexts are written NUL-terminated to
// security.selinux (as lsetfilecon does), SMACK labels to security.SMACK64.
import { existsSync, readFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import { lsetxattr } from '../sys/file.js';
import { tryOr } from '../util/fs.js';

export type ActiveLsm = (name: 'selinux' | 'smack') => boolean;

/** Which security modules the running kernel has enabled. */
export const activeLsm: ActiveLsm = (name) => {
  const lsm = tryOr(() => readFileSync('/sys/kernel/security/lsm', 'utf8'), '', 'ENOENT'); // securityfs not mounted
  if (lsm.split(',').map((s) => s.trim()).includes(name)) return true;
  return name === 'selinux' ? existsSync('/sys/fs/selinux/enforce') : existsSync('/sys/fs/smackfs/load2');
};

/** Applies the labels to a node; returns the labels actually written. */
export function applySeclabels(path: string, labels: ReadonlyMap<string, string>, log: Logger, lsm: ActiveLsm = activeLsm): string[] {
  const done: string[] = [];
  for (const [name, label] of labels) {
    if (name !== 'selinux' && name !== 'smack') {
      log.error(`unknown security label '${name}' for ${path}, ignoring`);
      continue;
    }
    if (!lsm(name)) continue;
    try {
      if (name === 'selinux') lsetxattr(path, 'security.selinux', Buffer.from(label + '\0'));
      else lsetxattr(path, 'security.SMACK64', Buffer.from(label));
      done.push(name);
    } catch (e) {
      log.error(`cannot set ${name} label '${label}' on ${path}: ${(e as Error).message}`);
    }
  }
  return done;
}
