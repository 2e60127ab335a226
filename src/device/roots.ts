// The injectable roots every edge of devMaster works under.
export interface Roots {
  /** sysfs mount (default /sys). */
  sysfs: string;
  /** device node root (default /dev). Logical names stay "/dev/..."; this is where they live on disk. */
  dev: string;
  /** runtime root (default /run/udev): data/, tags/, links/, control socket. */
  run: string;
}

export const DEFAULT_ROOTS: Readonly<Roots> = { sysfs: '/sys', dev: '/dev', run: '/run/udev' };

/** The logical device directory used in names, DEVNAME, DEVLINKS and $root, whatever the dev root is. */
export const DEV_PREFIX = '/dev';

/** Maps a logical "/dev/..." name to its path under the dev root. */
export function devPath(roots: Roots, logical: string): string {
  if (logical === DEV_PREFIX) return roots.dev;
  if (logical.startsWith(DEV_PREFIX + '/')) return roots.dev + logical.slice(DEV_PREFIX.length);
  return logical;
}

/** Maps a path under the dev root back to its logical "/dev/..." name (or undefined if outside). */
export function logicalDevPath(roots: Roots, physical: string): string | undefined {
  if (physical === roots.dev) return DEV_PREFIX;
  if (physical.startsWith(roots.dev + '/')) return DEV_PREFIX + physical.slice(roots.dev.length);
  return undefined;
}
