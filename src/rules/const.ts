// CONST{arch} and CONST{virt}: systemd's architecture and virtualization names for this machine (src/util/system.ts).
import type { Roots } from '../device/roots.js';
import { architecture, detectVirtualization } from '../util/system.js';

export function constArch(): string {
  return architecture();
}

let virt: string | undefined;

/** detect_virtualization()'s id ('none' on bare metal), found once. */
export function constVirt(roots: Roots): string {
  return (virt ??= detectVirtualization(roots.sysfs).id);
}
