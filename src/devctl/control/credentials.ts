// udevadm control --load-credentials: the service's credentials ($CREDENTIALS_DIRECTORY, systemd.exec(5)) named
// udev.rules.NAME become <run>/rules.d/NAME.rules and udev.conf.NAME <run>/udev.conf.d/NAME.conf (with the default
// run root, udev's /run/udev/rules.d, which the daemon reads; devMaster has no udev.conf, those are copied as udevadm
// copies them). Messages and outcome as udevadm 257: a bad name or a failed copy is a warning and fails the verb,
// the other credentials are still installed.
import { lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errnoCode, isSystemError, writeFileAtomic } from '../../util/fs.js';

const TABLE: readonly { prefix: string; dir: string; suffix: string }[] = [
  { prefix: 'udev.conf.', dir: 'udev.conf.d', suffix: '.conf' },
  { prefix: 'udev.rules.', dir: 'rules.d', suffix: '.rules' },
];

/** systemd's filename_is_valid(): not empty, not "." or "..", no "/", at most NAME_MAX bytes. */
function filenameIsValid(s: string): boolean {
  return s !== '' && s !== '.' && s !== '..' && !s.includes('/') && Buffer.byteLength(s) <= 255;
}

/** Installs the credentials; false when one of them failed (after trying all). */
export function loadCredentials(run: string): boolean {
  const from = process.env.CREDENTIALS_DIRECTORY;
  if (!from) return true; // no credentials passed
  let names: string[];
  try {
    names = readdirSync(from).sort();
  } catch (e) {
    if (errnoCode(e) === 'ENOENT') return true;
    process.stderr.write(`Failed to open credentials directory: ${(e as Error).message}\n`);
    return false;
  }
  let ok = true;
  for (const name of names) {
    if (name.startsWith('.') || !lstatSync(join(from, name), { throwIfNoEntry: false })?.isFile()) continue;
    const t = TABLE.find((e) => name.startsWith(e.prefix));
    if (!t) continue;
    const fn = name.slice(t.prefix.length) + t.suffix;
    if (!filenameIsValid(fn)) {
      process.stderr.write(`Passed credential '${name}' would result in invalid filename '${fn}'.\n`);
      ok = false;
      continue;
    }
    const dir = join(run, t.dir);
    const target = join(dir, fn);
    try {
      mkdirSync(dir, { mode: 0o755, recursive: true });
      writeFileAtomic(target, readFileSync(join(from, name)), { mode: 0o644 });
    } catch (e) {
      if (!isSystemError(e)) throw e;
      process.stderr.write(`Failed to copy credential ${name} → file ${target}: ${(e as Error).message}\n`);
      ok = false;
      continue;
    }
    process.stderr.write(`Installed ${target} from credential.\n`);
  }
  return ok;
}
