// uaccess: gives the user of the active session on the device's seat read and write access to its node through
// a POSIX ACL, as systemd-udevd 257's udev-builtin-uaccess.c does (rules: 73-seat-late.rules,
// `TAG=="uaccess", ENV{MAJOR}!="", RUN{builtin}+="uaccess"`):
//
//   - nothing when logind is not running (no <login root>/seats/ directory) and nothing in test mode;
//   - the seat is ENV{ID_SEAT}, else seat0; its active user is ACTIVE_UID= of <login root>/seats/<seat>, as
//     sd_seat_get_active() reads it (no file: no active session; no ACTIVE_UID=: none either);
//   - the node's ACL loses every named-user entry (the previous user's) and gets one for the active user with
//     read and write (root gets none: it has access anyway); with no active user, the entries are only removed;
//   - when that fails, the named-user entries are removed anyway ("better safe than sorry") and the builtin fails.
//
// sd-login's files live in /run/systemd, next to udev's /run/udev: the login root is the run root's sibling
// `systemd` (<dirname(run)>/systemd), so tests put their seats beside their temp run root.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { devPath, type Roots } from '../device/roots.js';
import { devnodeAcl } from '../sys/libacl.js';
import type { Builtin, BuiltinContext } from './types.js';

/** Where sd-login's state files are for these roots (/run/systemd for /run/udev). */
export function loginRoot(roots: Roots): string {
  return join(dirname(roots.run), 'systemd');
}

/** logind_running(): logind keeps its seats under /run/systemd/seats/. */
export function logindRunning(roots: Roots): boolean {
  return existsSync(join(loginRoot(roots), 'seats'));
}

export class SeatError extends Error {
  constructor(
    message: string,
    readonly code: 'EINVAL' | 'ENXIO' | 'ENODATA',
  ) {
    super(message);
    this.name = 'SeatError';
  }
}

/** A KEY=VALUE file as sd-login writes them (parse_env_file: comments, optional quotes). */
function envFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let v = line.slice(eq + 1).trim();
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0]!)) v = v.slice(1, -1);
    out.set(line.slice(0, eq).trim(), v);
  }
  return out;
}

/**
 * The uid of the active session's user on `seat` (sd_seat_get_active): throws SeatError ENXIO when the seat has
 * no state file, ENODATA when it has no active user, EINVAL for a bad seat name or uid.
 */
export function seatActiveUid(roots: Roots, seat: string): number {
  // file_of_seat(): any valid file name
  if (seat === '' || seat === '.' || seat === '..' || seat.includes('/') || Buffer.byteLength(seat) > 255) throw new SeatError(`invalid seat name '${seat}'`, 'EINVAL');
  let text: string;
  try {
    text = readFileSync(join(loginRoot(roots), 'seats', seat), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new SeatError(`seat ${seat} does not exist`, 'ENXIO');
    throw e;
  }
  const uid = envFile(text).get('ACTIVE_UID');
  if (uid === undefined) throw new SeatError(`seat ${seat} has no active session`, 'ENODATA');
  // parse_uid(): a decimal number that is a valid uid ((uid_t) -1 and the 16-bit -1 are not)
  if (!/^\d+$/.test(uid) || Number(uid) > 0xfffffffe || Number(uid) === 0xffff) throw new SeatError(`seat ${seat}: invalid ACTIVE_UID=${uid}`, 'EINVAL');
  return Number(uid);
}

function run(ctx: BuiltinContext): boolean {
  const dev = ctx.device;
  if (ctx.test) {
    ctx.log.debug(`${dev.sysname}: running in test mode, skipping execution of 'uaccess' builtin command`);
    return true;
  }
  if (!logindRunning(ctx.roots)) return true;
  const name = dev.devname;
  if (!name) {
    ctx.log.error(`${dev.sysname}: uaccess: the device has no node`);
    return false;
  }
  const node = devPath(ctx.roots, name);
  const seat = dev.property('ID_SEAT') || 'seat0';
  const failed = (e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code;
    (code === 'ENOENT' ? ctx.log.debug : ctx.log.error).call(ctx.log, `${dev.sysname}: uaccess: ${(e as Error).message}`);
  };
  let ok = true;
  try {
    let uid: number | undefined;
    try {
      uid = seatActiveUid(ctx.roots, seat);
    } catch (e) {
      if (!(e instanceof SeatError) || e.code === 'EINVAL') throw new Error(`failed to determine the active user on ${seat}: ${(e as Error).message}`);
    }
    // no active user: the named-user entries just go (the reset below)
    if (uid !== undefined) {
      devnodeAcl(node, { flush: true, addUid: uid });
      return true;
    }
  } catch (e) {
    failed(e);
    ok = false;
  }
  try {
    devnodeAcl(node, { flush: true });
  } catch (e) {
    failed(e);
    ok = false;
  }
  return ok;
}

const uaccess: Builtin = {
  name: 'uaccess',
  help: 'Manage device node user ACL',
  run,
};

export default uaccess;
