// sysfs attributes read the way sd_device_get_sysattr_value() reads them (used by enumeration matches and
// `devctl info --attribute-walk`): symlinks other than driver/subsystem/module are not values, directories are
// not values, a file without the owner's read bit is "not readable", trailing newlines are dropped. Returns an
// errno-style code instead of throwing.
import { lstatSync, readFileSync, readdirSync, readlinkSync, type Dirent } from 'node:fs';
import { basename, join } from 'node:path';
import { errnoCode, lstatIfAny, tryOr } from '../../util/fs.js';

export type SysattrResult = { ok: true; value: string; raw: Buffer } | { ok: false; code: string };

export function readSysattr(syspath: string, name: string): SysattrResult {
  if (name === '' || name.split('/').includes('..')) return { ok: false, code: 'EINVAL' };
  const path = join(syspath, name);
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    return { ok: false, code: errnoCode(e) };
  }
  if (st.isSymbolicLink()) {
    if (name === 'driver' || name === 'subsystem' || name === 'module') {
      try {
        const v = basename(readlinkSync(path));
        return { ok: true, value: v, raw: Buffer.from(v) };
      } catch (e) {
        return { ok: false, code: errnoCode(e) };
      }
    }
    return { ok: false, code: 'EINVAL' };
  }
  if (st.isDirectory()) return { ok: false, code: 'EISDIR' };
  if (!(st.mode & 0o400)) return { ok: false, code: 'EPERM' };
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    return { ok: false, code: errnoCode(e) };
  }
  let end = buf.length;
  while (end > 0 && (buf[end - 1] === 0x0a || buf[end - 1] === 0x0d)) end--;
  const raw = buf.subarray(0, end);
  // C string semantics: the value stops at an embedded NUL
  const nul = raw.indexOf(0);
  const cstr = nul >= 0 ? raw.subarray(0, nul) : raw;
  return { ok: true, value: cstr.toString('latin1'), raw: cstr };
}

/**
 * Every attribute name of a device, as sd-device lists them: regular files and symlinks with an owner
 * read or write bit, descending into subdirectories that are not child devices (no uevent file).
 */
export function listSysattrs(syspath: string): string[] {
  const out: string[] = [];
  const stack: string[] = [''];
  const seen = new Set<string>();
  while (stack.length) {
    const sub = stack.pop()!;
    const dir = sub ? join(syspath, sub) : syspath;
    const entries: Dirent[] | undefined = tryOr(() => readdirSync(dir, { withFileTypes: true }), undefined); // unreadable: skipped
    if (!entries) continue;
    if (sub && entries.some((e) => e.name === 'uevent')) continue; // a child device
    for (const e of entries) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!seen.has(rel)) {
          seen.add(rel);
          stack.push(rel);
        }
        continue;
      }
      if (!e.isFile() && !e.isSymbolicLink()) continue;
      const st = lstatIfAny(join(dir, e.name));
      if (!st || !(st.mode & 0o600)) continue;
      out.push(rel);
    }
  }
  return out;
}
