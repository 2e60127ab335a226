// Debian's udevadm (the 252 reference) against a daemon's temp run root. udevadm only knows /run/udev, so it runs
// in a private mount namespace where a tmpfs covers /run and the run root is bind-mounted on /run/udev (nothing
// of the host changes).
import { spawn } from 'node:child_process';
import { referenceUdev, REPO } from './reference.js';

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs Debian's udevadm with `run` bind-mounted on /run/udev, in a private mount namespace (asynchronously). */
export function udevadmInNamespace(run: string, ...args: string[]): Promise<Run> {
  const { udevadm: bin } = referenceUdev();
  const script = `set -e; mount -t tmpfs tmpfs /run; mkdir -p /run/udev; mount --bind ${q(run)} /run/udev; exec ${q(bin)} ${args.map(q).join(' ')}`;
  return spawnRun('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script]);
}

/** Runs a command to its end (killed after timeoutMs) and collects its output. */
export function spawnRun(cmd: string, args: string[], timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}
