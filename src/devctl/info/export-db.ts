// `devctl info --export-db`: the record of every device, as udevadm 257 prints them, with its filters
// (--subsystem-match, --attr-match, --property-match, --tag-match, --sysname-match, --name-match, --parent-match,
// --initialized-match and their negations; the enumeration itself is src/device/enumerate.ts).
import { enumerateDevices, type EnumerateFilters } from '../../device/enumerate.js';
import { DeviceError } from '../../device/device.js';
import type { Roots } from '../../device/roots.js';
import { isSystemError, writeTextSync } from '../../util/fs.js';
import { log } from '../../log.js';
import { buildRecord, formatRecord, recordJson, type InfoRecord } from './record.js';
import { formatJson, type JsonMode } from './json.js';

/** A bad --attr-match/--property-match argument, in udevadm's words. */
export class KeyValueError extends Error {}

/** systemd's filename_is_valid(). */
function filenameIsValid(s: string): boolean {
  return s !== '' && s !== '.' && s !== '..' && !s.includes('/') && Buffer.byteLength(s) <= 255;
}

/**
 * KEY=VALUE as udevadm 257 reads a match: the first two '='-separated words (a backslash keeps the next character,
 * so "A\=B=C" is A=B and C; "A=B=C" is A and B). `attr`: the key must be a file name.
 */
export function parseKeyValue(arg: string, attr: boolean): [string, string] {
  const words: string[] = [''];
  for (let i = 0; i < arg.length && words.length <= 2; i++) {
    const c = arg[i]!;
    if (c === '\\' && i + 1 < arg.length) words[words.length - 1] += arg[++i];
    else if (c === '=') words.push('');
    else words[words.length - 1] += c;
  }
  if (words.length < 2) throw new KeyValueError("Missing '=' in key/value pair (null).");
  if (attr && !filenameIsValid(words[0]!)) throw new KeyValueError(`${words[0]} is not a valid key name`);
  return [words[0]!, words[1]!];
}

/** Prints the records (or JSON objects) of the devices that pass the filters. */
export function exportDb(roots: Roots, filters: EnumerateFilters, json: JsonMode | undefined): void {
  const devices = enumerateDevices(roots, 'devices', filters, (s) => log().debug(`export-db: skipping ${s.path}: ${s.reason}`));
  for (const d of devices) {
    let r: InfoRecord;
    try {
      r = buildRecord(d);
    } catch (e) {
      if (!(e instanceof DeviceError) && !isSystemError(e)) throw e; // gone meanwhile, or unreadable
      log().debug(`export-db: skipping ${d.syspath}: ${e.message}`);
      continue;
    }
    writeTextSync(1, json ? formatJson(recordJson(r), json) : formatRecord(r));
  }
}
