// devctl monitor: print kernel uevents (netlink group 1) and devMaster's processed events (group 2, libudev
// format) as they arrive, like `udevadm monitor`.
import { UsageError, list, parseVerbArgs } from './common.js';
import { configHelp } from '../config/config.js';
import { log } from '../log.js';
import { monotonicUsec } from '../util/clock.js';
import { UeventSocket } from '../netlink/kernel-socket.js';
import { decode, headerMayMatch, isLibudevMessage, splitTags, type SubsystemMatch } from '../netlink/libudev-format.js';
import { GROUP_UDEV, UeventNetlink } from '../netlink/socket.js';
import type { Uevent } from '../netlink/uevent.js';

export const summary = 'Listen to kernel uevents and processed events';

export const help = `devctl monitor [OPTIONS]

Listen to the kernel uevents and to the events devMaster (or udevd) broadcasts after rule processing,
and print one line per event: SOURCE[MONOTONIC_SECONDS] ACTION DEVPATH (SUBSYSTEM).

  -k --kernel                        Print kernel uevents
  -u --udev                          Print processed (udev) events
                                     (neither: both)
  -p --property                      Also print the event properties (-e --environment is an alias)
  -s --subsystem-match SUBSYSTEM[/DEVTYPE]
                                     Only events of this subsystem (and devtype); repeatable, any matches
  -t --tag-match TAG                 Only events carrying this tag; repeatable, any matches
                                     (kernel uevents carry no tags, so they never match)
     --json                          One JSON object per event and line, no header:
                                     {"source","usec","action","devpath","subsystem","seqnum","properties"}
  -h --help                          Show this help
  -V --version                       Show package version

Stops on SIGINT or SIGTERM.

Global options:
${configHelp()}
`;

const OPTIONS = {
  kernel: { type: 'boolean', short: 'k' },
  udev: { type: 'boolean', short: 'u' },
  property: { type: 'boolean', short: 'p' },
  environment: { type: 'boolean', short: 'e' },
  'subsystem-match': { type: 'string', short: 's', multiple: true },
  'tag-match': { type: 'string', short: 't', multiple: true },
  json: { type: 'boolean' },
} as const;

export type Source = 'kernel' | 'udev';

export interface MonitorFilter {
  subsystems: SubsystemMatch[];
  tags: string[];
}

/** Parses a `-s SUBSYSTEM[/DEVTYPE]` argument. */
export function parseSubsystemMatch(arg: string): SubsystemMatch {
  const slash = arg.indexOf('/');
  const subsystem = slash < 0 ? arg : arg.slice(0, slash);
  if (subsystem === '') throw new UsageError(`invalid --subsystem-match '${arg}': empty subsystem`);
  return slash < 0 ? { subsystem } : { subsystem, devtype: arg.slice(slash + 1) };
}

/** sd-device's passes_filter(): subsystem/devtype matches (any), then tag matches (any, against TAGS). */
export function passesFilter(f: MonitorFilter, props: Map<string, string>): boolean {
  if (f.subsystems.length > 0) {
    const subsystem = props.get('SUBSYSTEM');
    const devtype = props.get('DEVTYPE');
    if (!f.subsystems.some((s) => s.subsystem === subsystem && (s.devtype === undefined || s.devtype === devtype))) return false;
  }
  if (f.tags.length > 0) {
    const tags = new Set(splitTags(props.get('TAGS')));
    if (!f.tags.some((t) => tags.has(t))) return false;
  }
  return true;
}

/**
 * The property order udevadm prints: sd-device rebuilds a received event, which prefixes a relative DEVNAME
 * with "/dev/", appends MAJOR and MINOR after the other keys and regenerates DEVLINKS, TAGS and CURRENT_TAGS
 * last. Values are otherwise unchanged.
 */
export function udevadmPropertyOrder(props: Map<string, string>): [string, string][] {
  const late = ['MAJOR', 'MINOR', 'DEVLINKS', 'TAGS', 'CURRENT_TAGS'];
  const out: [string, string][] = [];
  for (const [k, v] of props) {
    if (late.includes(k)) continue;
    out.push([k, k === 'DEVNAME' && !v.startsWith('/') ? `/dev/${v}` : v]);
  }
  for (const k of late) {
    const v = props.get(k);
    if (v === undefined) continue;
    if ((k === 'DEVLINKS' || k === 'TAGS' || k === 'CURRENT_TAGS') && v.replace(/:/g, '') === '') continue;
    out.push([k, v]);
  }
  return out;
}

/** `KERNEL[123.456789] add      /devices/... (block)` — udevadm's "%-6s[%lu.%06lu] %-8s %s (%s)". */
export function formatEventLine(source: Source, usec: bigint, ev: Pick<Uevent, 'action' | 'devpath' | 'subsystem'>): string {
  const label = (source === 'udev' ? 'UDEV' : 'KERNEL').padEnd(6);
  const sec = usec / 1_000_000n;
  const frac = (usec % 1_000_000n).toString().padStart(6, '0');
  return `${label}[${sec}.${frac}] ${ev.action.padEnd(8)} ${ev.devpath} (${ev.subsystem})`;
}

/** Text output for one event: the line, then (with -p) KEY=VALUE lines and an empty line. */
export function formatEventText(source: Source, usec: bigint, ev: Uevent, withProperties: boolean): string {
  let s = formatEventLine(source, usec, ev) + '\n';
  if (withProperties) {
    for (const [k, v] of udevadmPropertyOrder(ev.properties)) s += `${k}=${v}\n`;
    s += '\n';
  }
  return s;
}

/** JSON output for one event (one line). Properties exactly as received, in wire order. */
export function formatEventJson(source: Source, usec: bigint, ev: Uevent): string {
  return (
    JSON.stringify({
      source,
      usec: Number(usec),
      action: ev.action,
      devpath: ev.devpath,
      subsystem: ev.subsystem,
      seqnum: ev.seqnum,
      properties: Object.fromEntries(ev.properties),
    }) + '\n'
  );
}

export const HEADER_TITLE = 'monitor will print the received events for:';
export const HEADER_UDEV = 'UDEV - the event which udev sends out after rule processing';
export const HEADER_KERNEL = 'KERNEL - the kernel uevent';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseVerbArgs(argv, OPTIONS);
  let kernel = values.kernel === true;
  let udev = values.udev === true;
  if (!kernel && !udev) kernel = udev = true;
  const props = values.property === true || values.environment === true;
  const json = values.json === true;
  const filter: MonitorFilter = {
    subsystems: list(values['subsystem-match']).map(parseSubsystemMatch),
    tags: list(values['tag-match']).map((t) => {
      if (t === '' || t.includes(':')) throw new UsageError(`invalid --tag-match '${t}'`);
      return t;
    }),
  };

  // a closed pipe (EPIPE) is reported to the 'error' listener below, never thrown by write()
  const write = (s: string) => process.stdout.write(s);
  const emit = (source: Source, ev: Uevent) => {
    const usec = BigInt(monotonicUsec());
    write(json ? formatEventJson(source, usec, ev) : formatEventText(source, usec, ev, props));
  };

  let udevSock: UeventNetlink | undefined;
  let kernelSock: UeventSocket | undefined;
  const logger = log();
  try {
    if (!json) write(HEADER_TITLE + '\n');
    if (udev) {
      udevSock = await UeventNetlink.open({ groups: [GROUP_UDEV], recvBufferSize: 8 * 1024 * 1024 });
      udevSock.raw.on('message', (msg, rinfo) => {
        // sd-device trusts the udev group only from senders with uid 0; the `netlink` package cannot receive
        // SCM_CREDENTIALS, so we require a multicast datagram from a user-space port (sending to the group needs
        // CAP_NET_ADMIN) and libudev's prefix and magic.
        if (rinfo.port === 0 || rinfo.groups !== GROUP_UDEV) return;
        if (!isLibudevMessage(msg)) return logger.debug({ bytes: msg.length }, 'monitor: non-libudev datagram on the udev group ignored');
        const m = decode(msg);
        if (m instanceof Error) return logger.warn({ code: m.code, sender: rinfo.port }, `monitor: invalid libudev message: ${m.message}`);
        if (!headerMayMatch(m, filter.subsystems, filter.tags) || !passesFilter(filter, m.properties)) return;
        emit('udev', m);
      });
      udevSock.raw.on('error', (e) => logger.error({ err: e.message }, 'monitor: udev socket error'));
      if (!json) write(HEADER_UDEV + '\n');
    }
    if (kernel) {
      kernelSock = await UeventSocket.open({ recvBufferSize: 8 * 1024 * 1024, logger });
      kernelSock.on('uevent', (ev) => {
        if (passesFilter(filter, ev.properties)) emit('kernel', ev);
      });
      kernelSock.on('overflow', ({ dropped }) => process.stderr.write(`devctl monitor: receive buffer overflow, ${dropped} kernel uevents lost\n`));
      if (!json) write(HEADER_KERNEL + '\n');
    }
    if (!json) write('\n');
  } catch (e) {
    udevSock?.close();
    kernelSock?.close();
    throw new Error(`cannot open the uevent netlink socket: ${(e as Error).message}`);
  }

  return new Promise<number>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.off('error', stop);
      udevSock?.close();
      kernelSock?.close();
      resolve(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    process.stdout.on('error', stop);
  });
}
