// Kernel uevents as they arrive on NETLINK_KOBJECT_UEVENT, group 1 ("kernel").
//
// Wire format (lib/kobject_uevent.c): one datagram per event,
//   "ACTION@DEVPATH\0" "ACTION=add\0" "DEVPATH=/devices/...\0" "SUBSYSTEM=...\0" ... "SEQNUM=1234\0"
// i.e. a header string followed by NUL-terminated KEY=VALUE strings, in the order the kernel added them.
// parseUevent() validates one such buffer and returns a Uevent or a UeventError (never throws on bad input).

/** The actions the kernel emits (enum kobject_action). */
export const UEVENT_ACTIONS = ['add', 'remove', 'change', 'move', 'online', 'offline', 'bind', 'unbind'] as const;
export type UeventAction = (typeof UEVENT_ACTIONS)[number];

/**
 * Largest datagram accepted. sd-device receives into an 8 KiB buffer and drops anything longer
 * (MSG_TRUNC); the kernel's environment buffer is 2 KiB (UEVENT_BUFFER_SIZE) plus the header.
 */
export const MAX_UEVENT_SIZE = 8192;

export interface Uevent {
  action: UeventAction;
  /** Kernel devpath, "/devices/..." (no sysfs prefix). */
  devpath: string;
  subsystem: string;
  /** Kernel SEQNUM (> 0). */
  seqnum: number;
  /** Every KEY=VALUE of the message, in wire order (ACTION, DEVPATH, SUBSYSTEM, SEQNUM included). */
  properties: Map<string, string>;
}

export type UeventErrorCode =
  | 'TOO_SHORT'
  | 'TOO_LONG'
  | 'LIBUDEV'
  | 'BAD_HEADER'
  | 'BAD_ACTION'
  | 'BAD_DEVPATH'
  | 'NOT_TERMINATED'
  | 'BAD_PROPERTY'
  | 'MISSING_KEY'
  | 'MISMATCH'
  | 'BAD_SEQNUM';

/** Why a buffer is not a valid kernel uevent. Returned (not thrown) by parseUevent(). */
export class UeventError extends Error {
  constructor(
    readonly code: UeventErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'UeventError';
  }
}

export function isUeventAction(s: string): s is UeventAction {
  return (UEVENT_ACTIONS as readonly string[]).includes(s);
}

/** A devpath that is absolute, has no empty, "." or ".." segments and no NUL. */
export function isSaneDevpath(p: string): boolean {
  if (!p.startsWith('/') || p.length < 2 || p.includes('\0')) return false;
  // an empty, "." or ".." segment (checked on the string: this runs for every uevent)
  return !p.includes('//') && !p.endsWith('/') && !p.includes('/./') && !p.endsWith('/.') && !p.includes('/../') && !p.endsWith('/..');
}

/**
 * Splits a NUL-separated list of KEY=VALUE strings (the body of both kernel and libudev messages).
 * The last string must be NUL-terminated. Later duplicates replace earlier ones (as sd-device does).
 */
export function parseNulProperties(buf: Buffer, start: number, end: number): Map<string, string> | UeventError {
  const props = new Map<string, string>();
  if (start >= end) return props;
  if (buf[end - 1] !== 0) return new UeventError('NOT_TERMINATED', `last property (ending at offset ${end}) is not NUL-terminated`);
  // NUL never occurs inside a UTF-8 multi-byte sequence, so decoding once and cutting at each NUL is exact. Each key
  // and value is cut from the text directly (no array of entries, no entry strings: this runs for every uevent).
  const text = buf.toString('utf8', start, end);
  for (let at = 0, i = 1; at < text.length; i++) {
    const nul = text.indexOf('\0', at);
    const eq = text.indexOf('=', at);
    if (eq <= at || eq > nul) {
      const entry = text.slice(at, nul);
      const shown = entry.length > 40 ? entry.slice(0, 40) + '...' : entry;
      return new UeventError('BAD_PROPERTY', `property #${i} is not KEY=VALUE: ${JSON.stringify(shown)}`);
    }
    props.set(text.slice(at, eq), text.slice(eq + 1, nul));
    at = nul + 1;
  }
  return props;
}

/** Checks the four keys every event carries; shared with the libudev decoder. */
const REQUIRED_KEYS = ['ACTION', 'DEVPATH', 'SUBSYSTEM', 'SEQNUM'];

export function checkRequiredKeys(props: Map<string, string>): { action: UeventAction; devpath: string; subsystem: string; seqnum: number } | UeventError {
  for (let i = 0; i < REQUIRED_KEYS.length; i++) {
    const k = REQUIRED_KEYS[i]!;
    if (!props.has(k)) return new UeventError('MISSING_KEY', `${k} is missing`);
  }
  const action = props.get('ACTION')!;
  if (!isUeventAction(action)) return new UeventError('BAD_ACTION', `unknown ACTION ${JSON.stringify(action)}`);
  const devpath = props.get('DEVPATH')!;
  if (!isSaneDevpath(devpath)) return new UeventError('BAD_DEVPATH', `invalid DEVPATH ${JSON.stringify(devpath)}`);
  const subsystem = props.get('SUBSYSTEM')!;
  if (subsystem === '' || subsystem.includes('/')) return new UeventError('MISSING_KEY', `invalid SUBSYSTEM ${JSON.stringify(subsystem)}`);
  const s = props.get('SEQNUM')!;
  const seqnum = /^[0-9]{1,16}$/.test(s) ? Number(s) : NaN;
  if (!Number.isSafeInteger(seqnum) || seqnum <= 0) return new UeventError('BAD_SEQNUM', `invalid SEQNUM ${JSON.stringify(s)}`);
  return { action, devpath, subsystem, seqnum };
}

/** Parses and validates one kernel uevent datagram. */
export function parseUevent(buf: Buffer): Uevent | UeventError {
  if (buf.length < 'a@/d\0'.length) return new UeventError('TOO_SHORT', `message of ${buf.length} bytes is too short`);
  if (buf.length > MAX_UEVENT_SIZE) return new UeventError('TOO_LONG', `message of ${buf.length} bytes exceeds ${MAX_UEVENT_SIZE}`);
  const hdrEnd = buf.indexOf(0);
  if (hdrEnd < 0) return new UeventError('NOT_TERMINATED', 'header is not NUL-terminated');
  const header = buf.toString('utf8', 0, hdrEnd);
  if (header === 'libudev') return new UeventError('LIBUDEV', 'libudev message, not a kernel uevent');
  const at = header.indexOf('@/');
  if (at <= 0) return new UeventError('BAD_HEADER', `header ${JSON.stringify(header.slice(0, 60))} is not ACTION@DEVPATH`);
  if (hdrEnd + 1 >= buf.length) return new UeventError('TOO_SHORT', 'message has a header but no properties');
  const props = parseNulProperties(buf, hdrEnd + 1, buf.length);
  if (props instanceof UeventError) return props;
  const req = checkRequiredKeys(props);
  if (req instanceof UeventError) return req;
  const hAction = header.slice(0, at);
  const hDevpath = header.slice(at + 1);
  if (hAction !== req.action) return new UeventError('MISMATCH', `header action ${JSON.stringify(hAction)} differs from ACTION=${req.action}`);
  if (hDevpath !== req.devpath) return new UeventError('MISMATCH', `header devpath ${JSON.stringify(hDevpath)} differs from DEVPATH=${req.devpath}`);
  return { action: req.action, devpath: req.devpath, subsystem: req.subsystem, seqnum: req.seqnum, properties: props };
}

/** Builds the kernel wire form of an event (for tests and tools); properties in the given order. */
export function formatUevent(action: string, devpath: string, props: Iterable<[string, string]>): Buffer {
  const parts = [`${action}@${devpath}`];
  for (const [k, v] of props) parts.push(`${k}=${v}`);
  return Buffer.from(parts.join('\0') + '\0', 'utf8');
}
