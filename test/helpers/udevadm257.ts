// Runs Debian 13's udevadm (257) against devMaster's roots: inside a private mount namespace (unshare -m), with a
// tmpfs over /run holding the run root at /run/udev, and optionally a dev root over /dev and a tree over /sys.
// Nothing is created or changed on the host: udevadm 257 reads /run/udev and /dev at fixed places.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { referenceUdev257 } from './reference.js';

export interface Roots257 {
  sysfs?: string;
  run?: string;
  dev?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

export interface Result257 {
  stdout: string;
  stderr: string;
  status: number | null;
}

function sh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function command(args: string[], roots: Roots257): [string, string[]] {
  const u = referenceUdev257().udevadm;
  if (!roots.sysfs && !roots.run && !roots.dev) return [u, args];
  let script = 'set -e; ';
  if (roots.sysfs) script += `mount --bind ${sh(roots.sysfs)} /sys; `;
  if (roots.run) script += `mount -t tmpfs tmpfs /run; mkdir -p /run/udev; mount --bind ${sh(roots.run)} /run/udev; `;
  if (roots.dev) script += `mount --bind ${sh(roots.dev)} /dev; `;
  script += `set +e; exec ${[u, ...args].map(sh).join(' ')}`;
  return ['unshare', ['-m', '--propagation', 'private', 'sh', '-c', script]];
}

/** Runs udevadm 257 to its end. */
export function udevadm257(args: string[], roots: Roots257 = {}): Result257 {
  const [cmd, argv] = command(args, roots);
  const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: roots.cwd, env: { ...process.env, ...roots.env }, timeout: 60_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

/** Starts udevadm 257; `done` resolves when it exits. */
export function startUdevadm257(args: string[], roots: Roots257 = {}): { proc: ChildProcess; done: Promise<Result257> } {
  const [cmd, argv] = command(args, roots);
  const proc = spawn(cmd, argv, { cwd: roots.cwd, env: { ...process.env, ...roots.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Result257>((resolve) => proc.once('close', (status) => resolve({ stdout, stderr, status })));
  return { proc, done };
}
