// User and group names through the system's databases (NSS, via libc's getpwnam/getgrnam), cached; and udev's
// parsers of numeric ids and modes.
import { declared, koffi, libcFunction } from './libc.js';
import { safeAtou } from '../util/cnum.js';

const passwd = declared((k) => k.struct('passwd', { pw_name: 'char *', pw_passwd: 'char *', pw_uid: 'uint32_t', pw_gid: 'uint32_t', pw_gecos: 'char *', pw_dir: 'char *', pw_shell: 'char *' }));
const group = declared((k) => k.struct('group', { gr_name: 'char *', gr_passwd: 'char *', gr_gid: 'uint32_t', gr_mem: 'char **' }));
const getpwnam = libcFunction<(name: string) => unknown>('passwd *getpwnam(const char *name)', passwd);
const getgrnam = libcFunction<(name: string) => unknown>('group *getgrnam(const char *name)', group);

const userCache = new Map<string, number | undefined>();
const groupCache = new Map<string, number | undefined>();

/** uid of a user name, or undefined when unknown. */
export function lookupUser(name: string): number | undefined {
  if (userCache.has(name)) return userCache.get(name);
  const p = getpwnam()(name);
  const v = p ? (koffi().decode(p, passwd()) as { pw_uid: number }).pw_uid : undefined;
  userCache.set(name, v);
  return v;
}

/** gid of a group name, or undefined when unknown. */
export function lookupGroup(name: string): number | undefined {
  if (groupCache.has(name)) return groupCache.get(name);
  const p = getgrnam()(name);
  const v = p ? (koffi().decode(p, group()) as { gr_gid: number }).gr_gid : undefined;
  groupCache.set(name, v);
  return v;
}

/** Forget cached names (after a reload, users may have changed). */
export function clearNameCache(): void {
  userCache.clear();
  groupCache.clear();
}

/** A uid/gid as udev's parse_uid() reads it: decimal, no sign, leading zero or blank, not -1 or 65535. */
export function parseId(s: string): number | undefined {
  const n = safeAtou(s, { base: 10, refusePlusMinus: true, refuseLeadingZero: true, refuseLeadingWhitespace: true });
  return typeof n === 'number' && n !== 0xffffffff && n !== 0xffff ? n : undefined;
}

/** An octal mode as udev's parse_mode() reads it (blanks before it allowed, no sign, at most 07777). */
export function parseMode(s: string): number | undefined {
  const n = safeAtou(s, { base: 8, refusePlusMinus: true });
  return typeof n === 'number' && n <= 0o7777 ? n : undefined;
}
