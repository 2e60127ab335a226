// devctl wait: wait until devices (or their /dev symlinks) exist and are initialized by the daemon, or are gone
// (udevadm wait, systemd 257). It looks at the devices at once, then again on every processed event the daemon
// broadcasts (libudev group; with --initialized=no also the kernel's uevents) and every 250 ms; --settle also waits
// until the daemon's queue flag (<run>/queue) is gone.
import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { fail, parseVerbArgs, simplifyPath } from './common.js';
import { parseBoolean } from '../util/cnum.js';
import { parseSec } from './time.js';
import { deviceFromPath } from '../device/find.js';
import { readDb } from '../device/db.js';
import { DeviceError } from '../device/device.js';
import { devPath, type Roots } from '../device/roots.js';
import { GROUP_KERNEL, GROUP_UDEV, UeventNetlink } from '../netlink/socket.js';
import { strerror } from '../sys/errno.js';
import { isSystemError } from '../util/fs.js';

export const summary = 'Wait for device or device symlink';

export const help = `devctl wait [OPTIONS] DEVICE [DEVICE…]

Wait for devices or device symlinks being created.

  -h --help             Print this message
  -V --version          Print version of the program
  -t --timeout=SEC      Maximum time to wait for the device (default: infinity)
     --initialized=BOOL Wait for devices being initialized by devMaster (default: yes; no: only that they exist)
     --removed          Wait for devices being removed
     --settle           Also wait for all queued events being processed

DEVICE is a /dev node or symlink or a /sys path (mapped onto --dev and --sysfs).
Exit status: 0 when every device is there (or gone), 1 on a bad argument or when the time is up.
`;

const OPTIONS = {
  timeout: { type: 'string', short: 't' },
  initialized: { type: 'string' },
  removed: { type: 'boolean' },
  settle: { type: 'boolean' },
} as const;

type Until = 'initialized' | 'added' | 'removed';

/** Maps a logical /dev or /sys path onto the roots. */
function physical(roots: Roots, p: string): string {
  if (p === '/sys' || p.startsWith('/sys/')) return roots.sysfs + p.slice(4);
  return devPath(roots, p);
}

/** Is the device there and processed (udevadm's check_device())? A DeviceError other than "absent" is thrown. */
function checkDevice(roots: Roots, path: string, until: Until): boolean {
  if (until === 'removed') {
    try {
      lstatSync(physical(roots, path));
      return false;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
      throw e;
    }
  }
  let device;
  try {
    device = deviceFromPath(roots, path);
  } catch (e) {
    if (e instanceof DeviceError && e.code === 'ENODEV') return false;
    throw e;
  }
  if (until === 'added') return true;
  // device_is_processed(): a database record, and not one the daemon marked as still being processed
  const rec = readDb(roots.run, device.id);
  if (!rec) return false;
  const processing = rec.properties.get('ID_PROCESSING');
  return processing === undefined || parseBoolean(processing) !== true;
}

export async function run(argv: string[]): Promise<number> {
  const { order, positionals, roots } = parseVerbArgs(argv, OPTIONS);
  let timeoutS = Infinity;
  let until: Until = 'initialized';
  let settle = false;
  for (const { key, value } of order) {
    const v = value ?? '';
    if (key === 'timeout') {
      const t = parseSec(v);
      if (t === undefined) return fail(`Failed to parse -t/--timeout= parameter: ${v}`);
      timeoutS = t;
    } else if (key === 'initialized') {
      const b = parseBoolean(v);
      if (b === undefined) return fail(`Failed to parse --initialized= parameter: ${v}`);
      until = b ? 'initialized' : 'added';
    } else if (key === 'removed') until = 'removed';
    else if (key === 'settle') settle = true;
  }
  if (positionals.length === 0) return fail('Too few arguments, expected at least one device path or device symlink.');
  const devices = positionals.map(simplifyPath);
  for (const p of devices) {
    if (p.split('/').includes('..')) return fail('Device path cannot contain "..".');
    if (!/^\/(dev|sys)(\/|$)/.test(p)) return fail(`Specified path "${p}" does not start with "/dev/" or "/sys/".`);
  }

  const warned = new Set<string>();
  const check = (): boolean => {
    if (settle && existsSync(join(roots.run, 'queue'))) return false;
    for (const p of devices) {
      let ok: boolean;
      try {
        ok = checkDevice(roots, p, until);
      } catch (e) {
        if (!(e instanceof DeviceError) && !isSystemError(e)) throw e;
        const message = `Failed to check if device "${p}" is ${until}, assuming not ${until}: ${strerror(e.code!)}`;
        if (!warned.has(message)) process.stderr.write(message + '\n'); // once, not on every look
        warned.add(message);
        ok = false;
      }
      if (!ok) return false;
    }
    return true;
  };
  if (check()) return 0;

  const sockets = [await UeventNetlink.open({ groups: [GROUP_UDEV] })];
  if (until === 'added') sockets.push(await UeventNetlink.open({ groups: [GROUP_KERNEL] }));
  try {
    const done = await new Promise<boolean>((resolve) => {
      const finish = (ok: boolean) => {
        clearInterval(tick);
        if (timer) clearTimeout(timer);
        resolve(ok);
      };
      const again = () => {
        if (check()) finish(true);
      };
      for (const s of sockets) {
        s.raw.on('message', again);
        s.raw.on('error', again);
      }
      const tick = setInterval(again, 250);
      // (a timer beyond setTimeout's range is as good as none)
      const timer = timeoutS * 1000 > 2 ** 31 - 1 ? undefined : setTimeout(() => finish(check()), timeoutS * 1000);
      again();
    });
    if (!done) return fail(`Timed out for waiting devices being ${until}.`);
    return 0;
  } finally {
    for (const s of sockets) s.close();
  }
}
