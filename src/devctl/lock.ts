// devctl lock: take udev's exclusive lock on whole disks and run a command while holding it (udevadm lock,
// systemd 257; https://systemd.io/BLOCK_DEVICE_LOCKING). The daemon takes the shared lock on the same node before
// it processes an event of the disk or its partitions (src/daemon/disk-lock.ts), so its events wait until the
// command is done. The whole disk is found as the daemon finds it (src/device/whole-disk.ts); the node locked is
// the disk's /dev name under the dev root, as the daemon opens it.
import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, constants, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { resolve } from 'node:path';
import { fail, parseVerbArgs, simplifyPath } from './common.js';
import { parseBoolean } from '../util/cnum.js';
import { formatTimespan, parseSec } from './time.js';
import { Device, DeviceError } from '../device/device.js';
import { splitDevT } from '../sys/devnum.js';
import { wholeDisk } from '../device/whole-disk.js';
import { devPath, type Roots } from '../device/roots.js';
import { strerror } from '../sys/errno.js';
import { flock, LOCK_EX, LOCK_NB } from '../sys/file.js';
import { errnoCode } from '../util/fs.js';
import { nowMs } from '../util/clock.js';

export const summary = 'Lock a block device and run a command';

export const help = `devctl lock [OPTIONS...] COMMAND
devctl lock [OPTIONS...] --print

Lock a block device and run a command.

  -h --help            Print this message
  -V --version         Print version of the program
  -d --device=DEVICE   Block device to lock (its whole disk is locked)
  -b --backing=FILE    File whose backing block device to lock
  -t --timeout=SECS    Block at most the specified time waiting for lock (default: infinity; 0: do not wait)
  -p --print           Only show which block device the lock would be taken on

The devices are locked in the order of their device numbers; the command runs while the locks are held and
its exit status is devctl's (1 when it cannot be run or is killed by a signal).
`;

const OPTIONS = {
  device: { type: 'string', short: 'd', multiple: true },
  backing: { type: 'string', short: 'b', multiple: true },
  timeout: { type: 'string', short: 't' },
  print: { type: 'boolean', short: 'p' },
} as const;

const POLL_MS = 50;
const EAGAIN = osConstants.errno.EAGAIN;

/** systemd's special_glyph(ELLIPSIS): "…" unless the locale is set and is not UTF-8 (or SYSTEMD_UTF8 says no). */
function ellipsis(): string {
  const forced = process.env.SYSTEMD_UTF8;
  if (forced !== undefined) return parseBoolean(forced) ? '…' : '...';
  const locale = process.env.LC_ALL || process.env.LC_CTYPE || process.env.LANG || '';
  return locale === '' || /utf-?8/i.test(locale) ? '…' : '...';
}

/**
 * The whole disk holding `path`: a block device node (--device), or the file system of a file (--backing). A /dev
 * path is taken under the dev root, as every devctl DEVICE argument.
 */
function diskOf(roots: Roots, path: string, backing: boolean): Device {
  let st;
  try {
    st = statSync(devPath(roots, path), { bigint: true });
  } catch (e) {
    throw new DeviceError(errnoCode(e), '');
  }
  let devnum: bigint;
  if (st.isBlockDevice()) devnum = st.rdev;
  else if (!backing || !(st.isFile() || st.isDirectory())) throw new DeviceError('ENOTBLK', '');
  else if (splitDevT(st.dev).major !== 0) devnum = st.dev;
  else throw new DeviceError('ENOTBLK', ''); // btrfs and other file systems without a block device number
  const { major, minor } = splitDevT(devnum);
  let device: Device;
  try {
    device = Device.fromDevnum(roots, 'b', major, minor);
  } catch (e) {
    if (!(e instanceof DeviceError)) throw e;
    throw new DeviceError('ENOENT', ''); // udev reads /sys/dev/block/MAJOR:MINOR
  }
  return wholeDisk(device);
}

/**
 * Takes the exclusive lock on a disk's node (its logical /dev name, opened under the dev root); returns the
 * descriptor, or an exit status after printing why not.
 */
async function lockDevice(roots: Roots, node: string, major: number, minor: number, deadline: number): Promise<number | { exit: number }> {
  const failed = (m: string) => ({ exit: fail(m) });
  let fd: number;
  try {
    fd = openSync(devPath(roots, node), constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    return failed(`Failed to open '${node}': ${strerror(errnoCode(e))}`);
  }
  const give = (m: string) => {
    closeSync(fd);
    return failed(m);
  };
  const st = fstatSync(fd, { bigint: true });
  const rdev = splitDevT(st.rdev);
  if (!st.isBlockDevice() || rdev.major !== major || rdev.minor !== minor) {
    return give(`Path '${node}' no longer refers to specified block device ${major}:${minor}: No such device or address`);
  }
  let errno = flock(fd, LOCK_EX | LOCK_NB);
  if (errno === 0) return fd;
  if (errno !== EAGAIN) return give(`Failed to lock device '${node}': ${strerror(errno)}`);
  if (deadline === 0) return give(`Device '${node}' is currently locked.`);
  process.stderr.write(deadline === Infinity ? `Device '${node}' is currently locked, waiting${ellipsis()}\n` : `Device '${node}' is currently locked, waiting ${formatTimespan((deadline - nowMs()) * 1000)}${ellipsis()}\n`);
  for (;;) {
    if (nowMs() >= deadline) return give('Timeout reached.');
    await new Promise((r) => setTimeout(r, POLL_MS));
    errno = flock(fd, LOCK_EX | LOCK_NB);
    if (errno === 0) return fd;
    if (errno !== EAGAIN) return give(`Failed to lock device '${node}': ${strerror(errno)}`);
  }
}

/**
 * Runs the command in the foreground, on devctl's terminal (stdin, stdout, stderr inherited, no timeout), unlike
 * src/util/spawn.ts's runCommand, which collects a program's output; its exit status, or 1 when it cannot run or
 * dies of a signal.
 */
function runInForeground(argv: string[]): Promise<number> {
  // ^C goes to the command (same process group); devctl stays to release the locks after it
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  return new Promise((res) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
    child.once('error', (e: NodeJS.ErrnoException) => {
      process.stderr.write(`Failed to execute ${argv[0]}: ${strerror(e.code ?? 'EIO')}\n`);
      res(1);
    });
    child.once('exit', (code) => res(code ?? 1));
  }).finally(() => process.off('SIGINT', ignore)) as Promise<number>;
}

export async function run(argv: string[]): Promise<number> {
  const { order, positionals, roots } = parseVerbArgs(argv, OPTIONS, { stopAtOperand: true });
  const devices: string[] = [];
  const backing: string[] = [];
  let timeoutS = Infinity;
  let print = false;
  for (const { key, value } of order) {
    const v = value ?? '';
    if (key === 'device' || key === 'backing') {
      const list = key === 'device' ? devices : backing;
      const p = simplifyPath(resolve(v)); // path_make_absolute_cwd(), path_simplify()
      if (!list.includes(p)) list.push(p);
    } else if (key === 'timeout') {
      const t = parseSec(v);
      if (t === undefined) return fail(`Failed to parse --timeout= parameter: ${v}`);
      timeoutS = t;
    } else if (key === 'print') print = true;
  }
  if (print && positionals.length > 0) return fail('No arguments expected.');
  if (!print && positionals.length === 0) return fail('Too few arguments, command to execute.');
  if (devices.length === 0 && backing.length === 0) return fail('No devices to lock specified, refusing.');

  // whole disks, each once, in device number order
  const disks = new Map<string, { major: number; minor: number; name: string | undefined }>();
  for (const [path, isBacking] of [...devices.map((d) => [d, false] as const), ...backing.map((b) => [b, true] as const)]) {
    let disk: Device;
    try {
      disk = diskOf(roots, path, isBacking);
    } catch (e) {
      if (!(e instanceof DeviceError)) throw e;
      return fail(`Failed to find whole block device for '${path}': ${strerror(e.code)}`);
    }
    const n = disk.devnum!;
    disks.set(`${n.major}:${n.minor}`, { ...n, name: disk.devname });
  }
  const sorted = [...disks.values()].sort((a, b) => a.major - b.major || a.minor - b.minor);

  const deadline = timeoutS === 0 ? 0 : timeoutS === Infinity ? Infinity : nowMs() + timeoutS * 1000;
  const fds: number[] = [];
  try {
    for (const d of sorted) {
      if (d.name === undefined) return fail('Failed to format block device path: No such file or directory');
      if (print) {
        process.stdout.write(`${d.name}\n`);
        continue;
      }
      const fd = await lockDevice(roots, d.name, d.major, d.minor, deadline);
      if (typeof fd !== 'number') return fd.exit;
      fds.push(fd);
    }
    if (print) return 0;
    return await runInForeground(positionals);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
