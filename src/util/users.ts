// User and group names through the system's databases (NSS via libc's getpwnam/getgrnam, loaded with koffi),
// falling back to /etc/passwd and /etc/group when libc cannot be loaded. Results are cached.
import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import { safeAtou } from './cnum.js';

type Lookup = (name: string) => number | undefined;

let pwLookup: Lookup | undefined;
let grLookup: Lookup | undefined;

function fileLookup(file: string): Lookup {
  return (name) => {
    try {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        const f = line.split(':');
        if (f[0] === name && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
      }
    } catch {
      /* no file */
    }
    return undefined;
  };
}

function init(): void {
  if (pwLookup && grLookup) return;
  try {
    const libc = koffi.load('libc.so.6');
    const passwd = koffi.struct('dm_passwd', { pw_name: 'char *', pw_passwd: 'char *', pw_uid: 'uint32', pw_gid: 'uint32', pw_gecos: 'char *', pw_dir: 'char *', pw_shell: 'char *' });
    const group = koffi.struct('dm_group', { gr_name: 'char *', gr_passwd: 'char *', gr_gid: 'uint32', gr_mem: 'void *' });
    const getpwnam = libc.func('void *getpwnam(const char *name)');
    const getgrnam = libc.func('void *getgrnam(const char *name)');
    pwLookup = (name) => {
      const p = getpwnam(name) as unknown;
      return p ? (koffi.decode(p, passwd) as { pw_uid: number }).pw_uid : undefined;
    };
    grLookup = (name) => {
      const p = getgrnam(name) as unknown;
      return p ? (koffi.decode(p, group) as { gr_gid: number }).gr_gid : undefined;
    };
  } catch {
    pwLookup = fileLookup('/etc/passwd');
    grLookup = fileLookup('/etc/group');
  }
}

const userCache = new Map<string, number | undefined>();
const groupCache = new Map<string, number | undefined>();

/** uid of a user name, or undefined when unknown. */
export function lookupUser(name: string): number | undefined {
  if (userCache.has(name)) return userCache.get(name);
  init();
  const v = pwLookup!(name);
  userCache.set(name, v);
  return v;
}

/** gid of a group name, or undefined when unknown. */
export function lookupGroup(name: string): number | undefined {
  if (groupCache.has(name)) return groupCache.get(name);
  init();
  const v = grLookup!(name);
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
