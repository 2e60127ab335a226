// Unit names as devices list them in SYSMASTER_WANTS / SYSTEMD_WANTS / SYSMASTER_BINDS_TO.
//
// Like systemd's device units: a name without a unit-type suffix gets ".service"; a template ("foo@.service")
// is instantiated with the escaped sysfs path of the device ("foo@sys-devices-virtual-block-zram1.service").

const UNIT_SUFFIXES = [
  'service', 'socket', 'target', 'device', 'mount', 'automount', 'swap', 'timer', 'path', 'slice', 'scope',
] as const;

const MAX_UNIT_NAME = 255;

function hasUnitSuffix(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot > 0 && (UNIT_SUFFIXES as readonly string[]).includes(name.slice(dot + 1));
}

function validChar(c: string): boolean {
  return /^[A-Za-z0-9:_.]$/.test(c);
}

/** systemd's unit_name_path_escape: "/sys/devices/a-b" -> "sys-devices-a\x2db". */
export function escapePath(path: string): string {
  const simplified = path.split('/').filter((p) => p !== '' && p !== '.').join('/');
  if (simplified === '') return '-';
  let out = '';
  for (let i = 0; i < simplified.length; i++) {
    const c = simplified[i]!;
    if (c === '/') out += '-';
    else if ((i === 0 && c === '.') || !validChar(c) || c.charCodeAt(0) > 0x7f) {
      for (const b of Buffer.from(c, 'utf8')) out += `\\x${b.toString(16).padStart(2, '0')}`;
    } else out += c;
  }
  return out;
}

export interface NameResult {
  units: string[];
  /** Words that are not valid unit names, with the reason. */
  invalid: { word: string; reason: string }[];
}

/**
 * Splits a space-separated unit list and turns every word into a full unit name.
 * `syspath` (e.g. "/sys/devices/virtual/block/zram1") instantiates templates.
 */
export function parseUnitList(value: string | undefined, syspath: string): NameResult {
  const res: NameResult = { units: [], invalid: [] };
  if (!value) return res;
  for (const word of value.split(/\s+/)) {
    if (word === '') continue;
    let name = hasUnitSuffix(word) ? word : `${word}.service`;
    const at = name.indexOf('@');
    if (at >= 0 && name[at + 1] === '.') {
      if (at === 0) {
        res.invalid.push({ word, reason: 'template without a prefix' });
        continue;
      }
      name = `${name.slice(0, at + 1)}${escapePath(syspath)}${name.slice(at + 1)}`;
    }
    const bad = [...name].find((c) => !validChar(c) && c !== '@' && c !== '-' && c !== '\\');
    if (bad !== undefined) {
      res.invalid.push({ word, reason: `invalid character ${JSON.stringify(bad)}` });
      continue;
    }
    if (name.indexOf('@') !== name.lastIndexOf('@')) {
      res.invalid.push({ word, reason: "more than one '@'" });
      continue;
    }
    if (name.length > MAX_UNIT_NAME) {
      res.invalid.push({ word, reason: `longer than ${MAX_UNIT_NAME} characters` });
      continue;
    }
    if (!res.units.includes(name)) res.units.push(name);
  }
  return res;
}
