// Debian's udev package, unpacked (never installed), as the reference for compatibility tests.
// A test that needs it calls referenceUdev(): it fetches the package once or throws a clear error.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ReferenceUdev {
  root: string;
  udevadm: string;
  systemdHwdb: string;
  rulesDir: string;
  hwdbDir: string;
  /** Major version, e.g. 252 or 257. */
  version: number;
}

let cached: ReferenceUdev | undefined;

export function referenceUdev(): ReferenceUdev {
  if (cached) return cached;
  const root = join(REPO, '.cache', 'udev', 'root');
  const find = (...c: string[]) => c.map((p) => join(root, p)).find((p) => existsSync(p));
  if (!find('bin/udevadm', 'usr/bin/udevadm')) {
    try {
      execFileSync(join(REPO, 'scripts', 'fetch-udev.sh'), { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`reference udev unavailable: scripts/fetch-udev.sh failed (needs apt-get and Debian's package index): ${(e as Error).message}`);
    }
  }
  const udevadm = find('bin/udevadm', 'usr/bin/udevadm');
  const systemdHwdb = find('bin/systemd-hwdb', 'usr/bin/systemd-hwdb');
  const rulesDir = find('lib/udev/rules.d', 'usr/lib/udev/rules.d');
  const hwdbDir = find('lib/udev/hwdb.d', 'usr/lib/udev/hwdb.d');
  if (!udevadm || !systemdHwdb || !rulesDir || !hwdbDir) throw new Error(`reference udev incomplete under ${root}`);
  const out = execFileSync(udevadm, ['--version'], { encoding: 'utf8' });
  cached = { root, udevadm, systemdHwdb, rulesDir, hwdbDir, version: parseInt(out, 10) };
  return cached;
}

export interface ReferenceUdev257 extends ReferenceUdev {
  /** Wrapper that runs 257's systemd-udevd through its own loader and C library. */
  systemdUdevd: string;
  /** Wrappers of the helper programs (ata_id, scsi_id, ...), by name. */
  helpers: string;
  /** Debian 13's .link files (usr/lib/systemd/network). */
  networkDir: string;
}

let cached257: ReferenceUdev257 | undefined;

/**
 * Debian 13's udev 257, the current stable udev and devMaster's compatibility target, unpacked with its own C
 * library under .cache/udev257 by scripts/fetch-udev257.sh (through ../shared/tools/udev257-ref.sh); or a clear error.
 */
export function referenceUdev257(): ReferenceUdev257 {
  if (cached257) return cached257;
  const dir = join(REPO, '.cache', 'udev257');
  if (!existsSync(join(dir, 'udevadm'))) {
    try {
      execFileSync(join(REPO, 'scripts', 'fetch-udev257.sh'), { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`reference udev 257 unavailable: scripts/fetch-udev257.sh failed (needs ../shared/tools/udev257-ref.sh, apt-get and Debian's package index): ${(e as Error).message}`);
    }
  }
  const root = join(dir, 'root');
  const need = (p: string) => {
    if (!existsSync(p)) throw new Error(`reference udev 257 incomplete: ${p} is missing`);
    return p;
  };
  const out = execFileSync(join(dir, 'udevadm'), ['--version'], { encoding: 'utf8' });
  cached257 = {
    root,
    udevadm: need(join(dir, 'udevadm')),
    systemdHwdb: need(join(dir, 'systemd-hwdb')),
    systemdUdevd: need(join(dir, 'systemd-udevd')),
    helpers: need(join(dir, 'helpers')),
    rulesDir: need(join(root, 'usr/lib/udev/rules.d')),
    hwdbDir: need(join(root, 'usr/lib/udev/hwdb.d')),
    networkDir: need(join(root, 'usr/lib/systemd/network')),
    version: parseInt(out, 10),
  };
  return cached257;
}

/** /usr/bin/python3 with Debian's python3-pyudev, or a clear error. */
export function debianPython(): string {
  const py = '/usr/bin/python3';
  try {
    execFileSync(py, ['-c', 'import pyudev'], { stdio: 'pipe' });
  } catch {
    throw new Error('python3-pyudev from Debian is not installed for /usr/bin/python3 (apt-get install python3-pyudev; .ci/run does it)');
  }
  return py;
}
