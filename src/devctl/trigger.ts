// devctl trigger: ask the kernel to replay events (udevadm trigger). Writes "ACTION [UUID]" to each enumerated
// device's uevent file; with --settle, waits for devMaster's processed events carrying our SYNTH_UUIDs.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Failure, parseVerbArgs, list, UsageError } from './common.js';
import { parseSec } from './time.js';
import { configHelp } from '../config/config.js';
import { Enumerator, type EnumerateFilters, type EnumerationType, type InitializedMatch } from '../device/enumerate.js';
import { DeviceError, type Device } from '../device/device.js';
import { findDevice, udevadmNotFoundErrno } from '../device/find.js';
import { strerror } from '../sys/errno.js';
import { SettleWatcher } from './trigger/settle-watch.js';
import { log } from '../log.js';
import { errnoCode } from '../util/fs.js';

export const ACTIONS = ['add', 'remove', 'change', 'move', 'online', 'offline', 'bind', 'unbind'] as const;

/** Seconds --settle waits by default (udevadm settle's default; udevadm trigger itself waits forever). */
export const DEFAULT_SETTLE_TIMEOUT = 120;

export const summary = 'Request events from the kernel';

export const help = `devctl trigger [OPTIONS] [DEVICE...]

Request events from the kernel: write ACTION to the uevent file of every matching device.

  -h --help                         Show this help
  -V --version                      Show package version
  -v --verbose                      Print the list of devices while running
  -n --dry-run                      Do not actually trigger the events
  -q --quiet                        Suppress error logging in triggering events
  -t --type=TYPE                    Type of events to trigger
          devices                     sysfs devices (default)
          subsystems                  sysfs subsystems and drivers
          all                         sysfs devices, subsystems, and drivers
  -c --action=ACTION|help           Event action value, default is "change"
  -s --subsystem-match=SUBSYSTEM    Trigger devices from a matching subsystem
  -S --subsystem-nomatch=SUBSYSTEM  Exclude devices from a matching subsystem
  -a --attr-match=FILE[=VALUE]      Trigger devices with a matching attribute
  -A --attr-nomatch=FILE[=VALUE]    Exclude devices with a matching attribute
  -p --property-match=KEY=VALUE     Trigger devices with a matching property
  -g --tag-match=TAG                Trigger devices with a matching tag
  -y --sysname-match=NAME           Trigger devices with this /sys path
     --name-match=NAME              Trigger devices with this /dev name
  -b --parent-match=NAME            Trigger devices with that parent device
     --initialized-match            Trigger devices that are already initialized
     --initialized-nomatch          Trigger devices that are not initialized yet
  -w --settle                       Wait for the triggered events to complete
     --timeout=SECONDS              With --settle: give up after SECONDS (default ${DEFAULT_SETTLE_TIMEOUT}; 0 = forever)
     --wait-daemon[=SECONDS]        Ping the devMaster daemon first; it must answer within SECONDS (default 5)
     --uuid                         Print synthetic uevent UUID
     --prioritized-subsystem=SUBSYSTEM[,SUBSYSTEM…]
                                    Trigger devices from a matching subsystem first

DEVICE is a /sys or /dev path, a device unit name, a device id (b8:0, n2, +pci:...) or SUBSYSTEM/SYSNAME;
the device and everything below it are triggered.
Globs (*, ?, [...]) are accepted in subsystem, attribute, property and sysname matches.

Exit status: 0 on success; 1 on a bad argument, a failed write (other than a vanished device), or when
--settle timed out (the devices that never answered are listed on stderr).

Global options:
${configHelp()}
`;

const OPTIONS = {
  verbose: { type: 'boolean', short: 'v' },
  'dry-run': { type: 'boolean', short: 'n' },
  quiet: { type: 'boolean', short: 'q' },
  type: { type: 'string', short: 't' },
  action: { type: 'string', short: 'c' },
  'subsystem-match': { type: 'string', short: 's', multiple: true },
  'subsystem-nomatch': { type: 'string', short: 'S', multiple: true },
  'attr-match': { type: 'string', short: 'a', multiple: true },
  'attr-nomatch': { type: 'string', short: 'A', multiple: true },
  'property-match': { type: 'string', short: 'p', multiple: true },
  'tag-match': { type: 'string', short: 'g', multiple: true },
  'sysname-match': { type: 'string', short: 'y', multiple: true },
  'name-match': { type: 'string', multiple: true },
  'parent-match': { type: 'string', short: 'b', multiple: true },
  'initialized-match': { type: 'boolean' },
  'initialized-nomatch': { type: 'boolean' },
  settle: { type: 'boolean', short: 'w' },
  timeout: { type: 'string' },
  'wait-daemon': { type: 'string', optional: true },
  uuid: { type: 'boolean' },
  'prioritized-subsystem': { type: 'string', multiple: true },
} as const;

function splitAttr(s: string): [string, string | undefined] {
  const eq = s.indexOf('=');
  if (eq < 0) return [s, undefined];
  return [s.slice(0, eq), s.slice(eq + 1)];
}

class Progress {
  #enabled: boolean;
  #last = 0;
  #shown = false;
  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }
  update(text: string, force = false): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#last < 200) return;
    this.#last = now;
    process.stderr.write(`\r\x1b[K${text}`);
    this.#shown = true;
  }
  clear(): void {
    if (this.#shown) process.stderr.write('\r\x1b[K');
    this.#shown = false;
  }
}

export async function run(argv: string[]): Promise<number> {
  const { values, positionals, roots, order } = parseVerbArgs(argv, OPTIONS);
  const v = values as Record<string, unknown>;

  const action = (v.action as string | undefined) ?? 'change';
  if (action === 'help') {
    process.stdout.write(ACTIONS.join('\n') + '\n');
    return 0;
  }
  if (!(ACTIONS as readonly string[]).includes(action)) throw new Failure(`Unknown action '${action}'`);

  const typeArg = (v.type as string | undefined) ?? 'devices';
  if (!['devices', 'subsystems', 'all'].includes(typeArg)) throw new Failure(`Unknown type --type=${typeArg}`);
  const type = typeArg as EnumerationType;

  // the last of --initialized-match and --initialized-nomatch wins, as in udevadm
  const lastInit = order.filter((o) => o.key === 'initialized-match' || o.key === 'initialized-nomatch').pop()?.key;
  const initialized: InitializedMatch = lastInit === 'initialized-match' ? 'yes' : lastInit === 'initialized-nomatch' ? 'no' : 'all';

  // sd-device keeps a list of values per name: KEY=VALUE adds one, KEY alone clears them (the name then matches nothing)
  const byName = new Map<string, string[]>();
  for (const p of list(v['property-match'])) {
    const [key, value] = splitAttr(p);
    byName.set(key, value === undefined ? [] : [...(byName.get(key) ?? []), value]);
  }
  const properties: Array<[string, string | undefined]> = [];
  for (const [k, vals] of byName) {
    if (vals.length === 0) properties.push([k, undefined]);
    for (const x of vals) properties.push([k, x]);
  }

  const parents: Device[] = [];
  const open = (arg: string, prefix: '/sys' | '/dev' | undefined) => {
    try {
      parents.push(findDevice(roots, arg, prefix));
    } catch (e) {
      if (!(e instanceof DeviceError)) throw e;
      throw new Failure(`Failed to open the device '${arg}': ${strerror(udevadmNotFoundErrno(arg))}`);
    }
  };
  for (const b of list(v['parent-match'])) open(b, '/sys');
  for (const n of list(v['name-match'])) open(n, '/dev');
  for (const p of positionals) open(p, undefined);

  const filters: EnumerateFilters = {
    subsystems: list(v['subsystem-match']),
    nomatchSubsystems: list(v['subsystem-nomatch']),
    sysattrs: list(v['attr-match']).map(splitAttr),
    nomatchSysattrs: list(v['attr-nomatch']).map(splitAttr),
    properties,
    tags: list(v['tag-match']),
    sysnames: list(v['sysname-match']),
    parents,
    initialized,
    prioritizedSubsystems: list(v['prioritized-subsystem']).flatMap((s) => s.split(',')).filter((s) => s !== ''),
  };

  const verbose = !!v.verbose;
  const dryRun = !!v['dry-run'];
  const quiet = !!v.quiet;
  const settle = !!v.settle;
  const printUuid = !!v.uuid;
  const seconds = (value: string, flag: string) => {
    const t = parseSec(value);
    if (t === undefined) throw new UsageError(`--${flag}: invalid time '${value}' (seconds expected)`);
    return t;
  };
  const timeoutS = v.timeout !== undefined ? seconds(v.timeout as string, 'timeout') : DEFAULT_SETTLE_TIMEOUT;

  if (v['wait-daemon'] !== undefined) {
    // udevadm's udev_ping(): one ping, answered within the time (a bad time is the default, with a warning)
    let waitS = 5;
    if (v['wait-daemon'] !== '') {
      const t = parseSec(v['wait-daemon'] as string);
      if (t === undefined) process.stderr.write(`Failed to parse timeout value '${v['wait-daemon']}', ignoring: Invalid argument\n`);
      else waitS = t;
    }
    const { controlRequest, ControlError } = await import('../daemon/control-client.js');
    try {
      await controlRequest(roots.run, { command: 'ping' }, Math.min(waitS * 1000, 2 ** 31 - 1));
    } catch (e) {
      const notRunning = e instanceof ControlError && e.code === 'ENOTRUNNING';
      process.stderr.write(notRunning ? 'Failed to connect to udev daemon: No such file or directory\n' : 'Failed to wait for daemon to reply: Connection timed out\n');
      return 1;
    }
  }

  const enumerator = new Enumerator(roots, filters, (s) => log().debug({ path: s.path }, `trigger: skipping: ${s.reason}`));
  let watcher: SettleWatcher | undefined;
  if (settle && !dryRun) watcher = await SettleWatcher.open(roots);
  const progress = new Progress(!!process.stderr.isTTY && !verbose);
  try {
    const devices = enumerator.scan(type);
    let rc = 0;
    let done = 0;
    for (const d of devices) {
      done++;
      if (devices.length > 100) progress.update(`devctl trigger: ${done}/${devices.length} ${d.syspath}`);
      if (verbose) process.stdout.write(`${d.syspath}\n`);
      if (dryRun) continue;
      const uuid = printUuid || watcher ? randomUUID() : undefined;
      const text = uuid ? `${action} ${uuid}` : action;
      try {
        writeFileSync(join(d.syspath, 'uevent'), text);
      } catch (e) {
        const code = errnoCode(e);
        const ignore = code === 'ENOENT' || code === 'ENODEV';
        const msg = `devctl trigger: failed to write '${text}' to ${d.syspath}/uevent${ignore ? ', ignoring' : ''}: ${(e as Error).message}`;
        if (!quiet && !ignore) {
          progress.clear();
          process.stderr.write(msg + '\n');
        } else log().debug(msg);
        if (code === 'EROFS') return 1;
        if (!ignore) rc = 1;
        continue;
      }
      if (printUuid) process.stdout.write(`${uuid}\n`);
      watcher?.expect(d.syspath, uuid!);
    }
    progress.clear();
    if (watcher && watcher.pending > 0) {
      const res = await watcher.wait(timeoutS * 1000, (seen, total) => progress.update(`devctl trigger: waiting for events: ${seen}/${total} processed`), verbose ? (p) => process.stdout.write(`settle ${p}\n`) : undefined);
      progress.clear();
      if (!res.ok) {
        const missing = res.missing;
        const shown = missing.slice(0, 20).map((p) => `  ${p}`).join('\n');
        process.stderr.write(
          `devctl trigger: timed out after ${timeoutS} s: ${missing.length} of ${res.total} triggered events were not reported processed (is the devMaster daemon running?):\n${shown}${missing.length > 20 ? `\n  ... and ${missing.length - 20} more` : ''}\n`,
        );
        rc = 1;
      }
    }
    return rc;
  } finally {
    progress.clear();
    watcher?.close();
  }
}
