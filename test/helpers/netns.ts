// Network interfaces for tests, made where they cannot touch this machine's own: a private network and mount
// namespace whose /sys is its own sysfs (so /sys/class/net lists only its interfaces). Everything made there goes
// with the namespace when the command ends.
import { execFileSync } from 'node:child_process';

/**
 * Runs a shell script (sh -e) inside a fresh private network and mount namespace, with sysfs mounted again on /sys
 * there, and returns its stdout. A failure throws with the script's stderr.
 */
export function inPrivateNetns(script: string, opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  return execFileSync('unshare', ['--net', '--mount', '--propagation', 'private', 'sh', '-ec', `mount -t sysfs sysfs /sys\n${script}`], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
}
