// Shared by the enumerate/devctl tests: run devctl (through tsx) and Debian's udevadm, optionally inside a private
// mount namespace with a fixture tree over /sys and a run root over /run/udev.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, referenceUdev } from '../helpers/reference.js';
import { scratchDir } from '../helpers/scratch.js';

export const FIXTURE = join(REPO, 'fixtures', 'sysfs', 'basic', 'sys');
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');
const DEVCTL = join(REPO, 'src', 'cli', 'devctl.ts');

export interface RunResult {
  stdout: string;
  stderr: string;
  status: number;
}

export function devctl(args: string[], opts: { timeoutMs?: number } = {}): RunResult {
  const r = spawnSync(TSX, [DEVCTL, ...args], { encoding: 'utf8', timeout: opts.timeoutMs ?? 60_000, env: { ...process.env, DEVMASTER_CONFIG: '/nonexistent/devmaster.toml' } });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

function sh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs udevadm; with `sysfs` and/or `run`, inside `unshare -m` with the tree bound over /sys and the run root
 * over /run/udev (a tmpfs is put over /run first, so nothing is created on the host).
 */
export function udevadm(args: string[], env: { sysfs?: string; run?: string } = {}): RunResult {
  const u = referenceUdev().udevadm;
  if (!env.sysfs && !env.run) {
    const r = spawnSync(u, args, { encoding: 'utf8' });
    return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
  }
  let script = 'set -e; ';
  if (env.sysfs) script += `mount --bind ${sh(env.sysfs)} /sys; `;
  if (env.run) script += `mount -t tmpfs tmpfs /run; mkdir -p /run/udev; mount --bind ${sh(env.run)} /run/udev; `;
  script += `set +e; SYSTEMD_DEVICE_VERIFY_SYSFS=0 exec ${[u, ...args].map(sh).join(' ')}`;
  const r = spawnSync('unshare', ['-m', 'sh', '-c', script], { encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

/** A private writable copy of the fixture tree. */
export function fixtureCopy(): string {
  const dir = scratchDir('devmaster-fx-');
  cpSync(FIXTURE, join(dir, 'sys'), { recursive: true, verbatimSymlinks: true });
  return join(dir, 'sys');
}

export function canUnshare(): boolean {
  try {
    execFileSync('unshare', ['-m', 'true']);
    return true;
  } catch {
    return false;
  }
}

/**
 * Compares two listings of the live system, which other tests may change concurrently (hot-added zram, ifb):
 * retried until two reference runs agree around ours.
 */
export function stableCompare(ours: () => string, ref: () => string): { ours: string; ref: string } {
  let last = { ours: '', ref: '' };
  for (let i = 0; i < 5; i++) {
    const a = ref();
    const o = ours();
    const b = ref();
    last = { ours: o, ref: b };
    if (a === b) return last;
  }
  return last;
}
