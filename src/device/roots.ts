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

/** True when a path has a ".." component: what no name confined to a root may hold after substitutions. */
export function hasDotDot(path: string): boolean {
  return path === '..' || path.startsWith('../') || path.endsWith('/..') || path.includes('/../');
}

/** PATH_MAX: longer names are not safe paths (sd-device's path_is_safe). */
const PATH_MAX = 4096;

/**
 * A DEVNAME as sd-device accepts it (mangle_devname): relative names go under /dev, absolute ones must be under
 * /dev (not /dev itself), no ".." component; "//" and "/./" fold away. Undefined for a name that is not safe.
 */
export function mangleDevname(name: string): string | undefined {
  if (name === '' || name.length >= PATH_MAX || hasDotDot(name)) return undefined;
  let p = name;
  if (p.startsWith('/')) {
    if (!p.startsWith(DEV_PREFIX + '/')) return undefined;
  } else p = `${DEV_PREFIX}/${p}`;
  if (p.includes('//') || p.includes('/.') || p.endsWith('/')) {
    p = p.split('/').filter((c, i) => i === 0 || (c !== '' && c !== '.')).join('/');
  }
  return p.length > DEV_PREFIX.length + 1 ? p : undefined;
}

