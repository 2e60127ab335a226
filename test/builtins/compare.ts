// Runs a builtin both ways on many devices: Debian's `udevadm test-builtin` (the reference) and devMaster's.
// udevadm cannot be given another sysfs root, so for a fake tree it runs in a private mount namespace with
// the tree bound over /sys (SYSTEMD_DEVICE_VERIFY_SYSFS=0 lets sd-device accept a non-sysfs mount).
import { execFileSync } from 'node:child_process';
import { readdirSync, lstatSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { Device } from '../../src/device/device.js';
import type { Roots } from '../../src/device/roots.js';
import { getBuiltin } from '../../src/builtins/registry.js';
import type { Builtin } from '../../src/builtins/types.js';
import { pino } from 'pino';
import { referenceUdev, REPO } from '../helpers/reference.js';

/** Properties a builtin set, in order, or null when it failed. */
export type BuiltinResult = Map<string, string> | null;

export const REPO_FIXTURES = join(REPO, 'fixtures');

export const CONFORMANCE_TARBALL = join(REPO, '..', 'shared', 'conformance', 'udev-test', 'sys.tar.xz');

/** Every device directory (with a uevent file) under <sysfs>/devices, as devpaths, without following links. */
export function listDevpaths(sysfs: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, devpath: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((e) => e.name === 'uevent' && e.isFile())) out.push(devpath);
    for (const e of entries) if (e.isDirectory()) walk(join(dir, e.name), `${devpath}/${e.name}`);
  };
  walk(join(sysfs, 'devices'), '/devices');
  return out.filter((p) => p !== '/devices').sort();
}

/** Which udevadm runs the reference (default: Debian 12's 252) and extra environment for it (NET_NAMING_SCHEME=...). */
export interface ReferenceOptions {
  udevadm?: string;
  env?: Record<string, string>;
}

/** Runs `udevadm test-builtin <command>` on each devpath (one shell for all) and parses the KEY=VALUE lines. */
export function referenceBuiltin(sysfs: string, command: string, devpaths: string[], opts: ReferenceOptions = {}): Map<string, BuiltinResult> {
  const udevadm = opts.udevadm ?? referenceUdev().udevadm;
  const extraEnv = Object.entries(opts.env ?? {}).map(([k, v]) => `${k}='${v}'`).join(' ');
  const script = [
    'set -u',
    'cmd="$1"; shift',
    'for d in "$@"; do',
    '  echo "@@@ $d"',
    `  ${extraEnv} SYSTEMD_DEVICE_VERIFY_SYSFS=0 SYSTEMD_LOG_LEVEL=err "${udevadm}" test-builtin "$cmd" "/sys$d" 2>/dev/null`,
    '  echo "@@@rc $?"',
    'done',
  ].join('\n');
  const real = resolve(sysfs) === '/sys';
  const args = real ? ['-c', script, 'sh', command, ...devpaths] : ['-m', 'sh', '-c', `mount --bind "$0" /sys && ${script}`, resolve(sysfs), command, ...devpaths];
  // for a fake tree: unshare -m sh -c 'mount --bind TREE /sys && …' TREE cmd devpaths…  ($0 is TREE)
  const out = execFileSync(real ? 'sh' : 'unshare', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  const res = new Map<string, BuiltinResult>();
  let cur: string | undefined;
  let props = new Map<string, string>();
  for (const line of out.split('\n')) {
    if (line.startsWith('@@@ ')) {
      cur = line.slice(4);
      props = new Map();
    } else if (line.startsWith('@@@rc ')) {
      if (cur !== undefined) res.set(cur, line.slice(6) === '0' ? props : null);
      cur = undefined;
    } else if (cur !== undefined) {
      const eq = line.indexOf('=');
      if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }
  return res;
}

/** Runs devMaster's builtin on one device the way IMPORT{builtin} does in test mode. */
export async function ourBuiltin(roots: Roots, command: string, devpath: string, builtins?: ReadonlyMap<string, Builtin>): Promise<BuiltinResult> {
  const argv = command.split(/\s+/).filter(Boolean);
  const b = await getBuiltin(argv[0]!);
  if (!b) throw new Error(`no builtin ${argv[0]}`);
  const dev = Device.fromDevpath(roots, devpath);
  const props = new Map<string, string>();
  const ok = await b.run({ device: dev, action: 'add', roots, test: true, log: quietLog, setProperty: (k, v) => props.set(k, v), builtins }, argv);
  return ok ? props : null;
}

const quietLog = pino({ level: 'silent' });

/** Both results for every devpath, and the devpaths where they differ (as readable lines). */
export async function compareBuiltin(roots: Roots, command: string, devpaths: string[], opts: ReferenceOptions = {}): Promise<{ ref: Map<string, BuiltinResult>; ours: Map<string, BuiltinResult>; diffs: string[] }> {
  const ref = referenceBuiltin(roots.sysfs, command, devpaths, opts);
  const ours = new Map<string, BuiltinResult>();
  const diffs: string[] = [];
  const show = (r: BuiltinResult | undefined) => (r === undefined ? '(not run)' : r === null ? '(failed)' : JSON.stringify([...r]));
  for (const d of devpaths) {
    // on the live sysfs other tests hot-plug devices: one that vanished meanwhile proves nothing
    const gone = () => !existsSync(join(roots.sysfs, d, 'uevent'));
    let o: BuiltinResult;
    try {
      o = await ourBuiltin(roots, command, d);
    } catch (e) {
      if (!gone()) diffs.push(`${d}: devMaster threw ${(e as Error).message}`);
      continue;
    }
    if (gone()) continue;
    ours.set(d, o);
    const r = ref.get(d);
    if (show(r) !== show(o)) diffs.push(`${d}:\n  udevadm:   ${show(r)}\n  devMaster: ${show(o)}`);
  }
  return { ref, ours, diffs };
}

/** Unpacks the udev-test fake sysfs tarball into a temp dir; returns its roots and a cleanup function. */
export function unpackConformanceTree(): { roots: Roots; cleanup: () => void } {
  if (!existsSync(CONFORMANCE_TARBALL)) throw new Error(`missing ${CONFORMANCE_TARBALL}`);
  const base = mkdtempSync(join(tmpdir(), 'dm-builtins-'));
  execFileSync('tar', ['-xJf', CONFORMANCE_TARBALL, '-C', base]);
  return { roots: { sysfs: join(base, 'sys'), dev: join(base, 'dev'), run: join(base, 'run') }, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

export function isSymlink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
