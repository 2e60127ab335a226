// .link files (systemd.link(5), udev 257): the search path, drop-ins, the [Match] and [Link] keys and their
// values. Pure apart from reading the files: every problem becomes a diagnostic with file:line and, as systemd
// does, a bad value or an unknown key is skipped while the rest of the file applies.
import { readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { basename, join } from 'node:path';
import { isSystemError, tryOr } from '../util/fs.js';
import { parseIni, type Assignment, type Diagnostic } from './ini.js';
import { extractWords } from '../util/cmdline.js';
import { parseBoolean } from '../util/cnum.js';
import { ifnameValid } from './ifname.js';
import { parseHwAddr } from './hw-addr.js';
import { ALTERNATIVE_NAMES_POLICIES, NAME_POLICIES, type NamePolicy } from './naming-scheme.js';
import { parseCondition, type Condition } from './condition.js';
import { FEATURE_KEYS } from './ethtool-features.js';

/** systemd's NETWORK_DIRS: the .link search path, most important first. */
export const DEFAULT_NETWORK_DIRS: readonly string[] = ['/etc/systemd/network', '/run/systemd/network', '/usr/local/lib/systemd/network', '/usr/lib/systemd/network'];

export type MacAddressPolicy = 'persistent' | 'random' | 'none';
export type Tristate = boolean | undefined;

export interface NetMatch {
  macAddress?: number[][];
  permanentMacAddress?: number[][];
  path?: string[];
  driver?: string[];
  type?: string[];
  kind?: string[];
  originalName?: string[];
  property?: string[];
}

/** A count that may be "max" (RxChannels=, RxBufferSize=, ...). */
import type { CountOrMax } from '../sys/ethtool.js';
export type { CountOrMax };

export interface LinkConfig {
  filename: string;
  dropins: string[];
  match: NetMatch;
  conditions: Condition[];
  description?: string;
  /** Property=: KEY=VALUE in order. */
  properties: Array<[string, string]>;
  importProperties: string[];
  unsetProperties: string[];
  macAddressPolicy: MacAddressPolicy;
  macAddress?: number[];
  namePolicy?: NamePolicy[];
  name?: string;
  alternativeNames: string[];
  alternativeNamesPolicy?: NamePolicy[];
  alias?: string;
  txQueues?: number;
  rxQueues?: number;
  txQueueLength?: number;
  mtu?: number;
  gsoMaxBytes?: number;
  gsoMaxSegments?: number;
  /** BitsPerSecond= in bits/s. */
  speed?: number;
  duplex?: 'full' | 'half';
  autoNegotiation: Tristate;
  port?: 'tp' | 'aui' | 'mii' | 'fibre' | 'bnc';
  /** WakeOnLan= as ethtool WAKE_* bits (0 = off). */
  wol?: number;
  /** Offload switches by ethtool feature name (or prefix ending in '-'). */
  features: Map<string, boolean>;
  channels: { rx?: CountOrMax; tx?: CountOrMax; other?: CountOrMax; combined?: CountOrMax };
  rings: { rx?: CountOrMax; rxMini?: CountOrMax; rxJumbo?: CountOrMax; tx?: CountOrMax };
  rxFlowControl: Tristate;
  txFlowControl: Tristate;
  autoNegotiationFlowControl: Tristate;
  /** Where each setting was given (for file:line in warnings when it cannot be applied). */
  where: Map<string, string>;
}

export interface LoadedLinkConfigs {
  /** Usable configurations, in the order they are tried. */
  configs: LinkConfig[];
  diagnostics: Diagnostic[];
  /** Stats of every file read (main files and drop-ins) to see whether a reload is due. */
  stamp: string;
}

function newConfig(filename: string): LinkConfig {
  return {
    filename,
    dropins: [],
    match: {},
    conditions: [],
    properties: [],
    importProperties: [],
    unsetProperties: [],
    macAddressPolicy: 'none',
    alternativeNames: [],
    autoNegotiation: undefined,
    features: new Map(),
    channels: {},
    rings: {},
    rxFlowControl: undefined,
    txFlowControl: undefined,
    autoNegotiationFlowControl: undefined,
    where: new Map(),
  };
}

const WOL: Record<string, number> = { phy: 1 << 0, unicast: 1 << 1, multicast: 1 << 2, broadcast: 1 << 3, arp: 1 << 4, magic: 1 << 5, secureon: 1 << 6 };

/** Keys systemd knows that devMaster does not apply: accepted, with a warning at file:line. */
const UNSUPPORTED = new Set([
  'Advertise', 'WakeOnLanPassword', 'MDI', 'ReceivePacketSteeringCPUMask', 'SR-IOVVirtualFunctions', 'UDPSegmentationOffload',
  ...['Rx', 'Tx'].flatMap((d) => [`${d}CoalesceSec`, `${d}MaxCoalescedFrames`, `${d}CoalesceIrqSec`, `${d}MaxCoalescedIrqFrames`, `${d}CoalesceLowSec`, `${d}MaxCoalescedLowFrames`, `${d}CoalesceHighSec`, `${d}MaxCoalescedHighFrames`]),
  'StatisticsBlockCoalesceSec', 'UseAdaptiveRxCoalesce', 'UseAdaptiveTxCoalesce', 'CoalescePacketRateLow', 'CoalescePacketRateHigh', 'CoalescePacketRateSampleIntervalSec',
]);

/** parse_size with base 1024 (K, M, G, T, P, E suffixes; B allowed), or undefined. */
export function parseSize(v: string, base = 1024): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGTPE]?)(?:B)?\s*$/.exec(v);
  if (!m) return undefined;
  const pow = m[2] ? 'KMGTPE'.indexOf(m[2]) + 1 : 0;
  const n = Number(m[1]) * base ** pow;
  return Number.isFinite(n) ? Math.floor(n) : undefined;
}

const u32 = (v: string) => (/^\s*\d+$/.test(v) && Number(v) <= 0xffffffff ? Number(v) : undefined);

/** env_assignment_is_valid's name part: letters, digits and '_', not starting with a digit. */
const envName = (k: string) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k);
/** udev refuses to set these by configuration (device_property_can_set). */
const RESERVED_PROPERTIES = new Set(['ACTION', 'DEVLINKS', 'DEVNAME', 'DEVPATH', 'DEVTYPE', 'DRIVER', 'IFINDEX', 'MAJOR', 'MINOR', 'SEQNUM', 'SUBSYSTEM', 'TAGS', 'CURRENT_TAGS', 'USEC_INITIALIZED', 'DEVMODE', 'DEVUID', 'DEVGID', 'DEVPATH_OLD', 'INTERFACE', 'INTERFACE_OLD', 'SYNTH_UUID']);

/** Applies one assignment to the configuration; problems go to `diag`. */
function assign(c: LinkConfig, a: Assignment, diag: (message: string) => void): void {
  const { section, key, value: v } = a;
  const where = `${a.file}:${a.line}`;
  const bad = (what = 'value') => diag(`invalid ${what} for ${key}=, ignoring: ${v}`);
  const setWhere = (name: string) => c.where.set(name, where);
  const words = (opts: Parameters<typeof extractWords>[1] = {}) => {
    const w = extractWords(v, opts);
    if (!w) diag(`invalid syntax in ${key}=, ignoring: ${v}`);
    return w;
  };
  const matchList = (field: keyof NetMatch, check?: (w: string) => boolean, opts: Parameters<typeof extractWords>[1] = {}) => {
    if (v === '') {
      delete c.match[field];
      return;
    }
    const invert = v.startsWith('!');
    const ws = extractWords(invert ? v.slice(1) : v, opts);
    if (!ws) return diag(`invalid syntax in ${key}=, ignoring: ${v}`);
    const list = (c.match[field] as string[] | undefined) ?? [];
    for (const w of ws) {
      if (check && !check(w)) {
        diag(`invalid ${key}= entry, ignoring: ${w}`);
        continue;
      }
      list.push(invert ? `!${w}` : w);
    }
    (c.match as Record<string, unknown>)[field] = list;
  };
  const tristate = (set: (x: Tristate) => void, name: string) => {
    if (v === '') return set(undefined);
    const b = parseBoolean(v);
    if (b === undefined) return bad();
    set(b);
    setWhere(name);
  };
  const countOrMax = (set: (x: CountOrMax | undefined) => void, name: string) => {
    if (v === '') return set(undefined);
    if (v === 'max') {
      set('max');
      setWhere(name);
      return;
    }
    const n = u32(v);
    if (n === undefined || n === 0 || n > 0x7fffffff) return bad();
    set(n);
    setWhere(name);
  };
  const policies = (allowedList: readonly NamePolicy[]) => {
    const out: NamePolicy[] = [];
    for (const w of v.split(/\s+/).filter(Boolean)) {
      if (!allowedList.includes(w as NamePolicy)) diag(`failed to parse ${w} in ${key}=, ignoring`);
      else if (out.includes(w as NamePolicy)) diag(`duplicate entry ${w} in ${key}=, ignoring`);
      else out.push(w as NamePolicy);
    }
    return out.length ? out : undefined;
  };

  if (section === 'Match') {
    switch (key) {
      case 'MACAddress':
      case 'PermanentMACAddress': {
        const field = key === 'MACAddress' ? 'macAddress' : 'permanentMacAddress';
        if (v === '') {
          delete c.match[field];
          return;
        }
        const list = c.match[field] ?? [];
        for (const w of words() ?? []) {
          const hw = parseHwAddr(w);
          if (!hw) diag(`not a valid hardware address, ignoring: ${w}`);
          else if (!list.some((x) => x.length === hw.length && x.every((b, i) => b === hw[i]))) list.push(hw);
        }
        c.match[field] = list;
        return;
      }
      case 'OriginalName':
        return matchList('originalName', (w) => ifnameValid(w));
      case 'Path':
        return matchList('path', undefined, { unquote: true });
      case 'Driver':
        return matchList('driver', undefined, { unquote: true });
      case 'Type':
        return matchList('type', undefined, { unquote: true });
      case 'Kind':
        return matchList('kind', undefined, { unquote: true });
      case 'Property': {
        if (v === '') {
          delete c.match.property;
          return;
        }
        const invert = v.startsWith('!');
        const ws = extractWords(invert ? v.slice(1) : v, { unquote: true, cunescape: true });
        if (!ws) return diag(`invalid syntax in ${key}=, ignoring: ${v}`);
        const list = c.match.property ?? [];
        for (const w of ws) {
          const eq = w.indexOf('=');
          if (eq <= 0 || !envName(w.slice(0, eq))) diag(`invalid property or value, ignoring assignment: ${w}`);
          else list.push(invert ? `!${w}` : w);
        }
        c.match.property = list;
        return;
      }
      case 'Host':
      case 'Virtualization':
      case 'KernelCommandLine':
      case 'KernelVersion':
      case 'Credential':
      case 'Architecture':
      case 'Firmware': {
        c.conditions = c.conditions.filter((x) => x.type !== key);
        if (v === '') return;
        const cond = parseCondition(key, v);
        if (typeof cond === 'string') return diag(cond);
        c.conditions.push(cond);
        return;
      }
    }
  } else if (section === 'Link') {
    if (UNSUPPORTED.has(key)) {
      diag(`${key}= is not supported by devMaster, ignoring`);
      return;
    }
    const feature = FEATURE_KEYS[key];
    if (feature) {
      if (v === '') {
        c.features.delete(feature);
        return;
      }
      const b = parseBoolean(v);
      if (b === undefined) return bad();
      c.features.set(feature, b);
      setWhere(`feature:${feature}`);
      return;
    }
    switch (key) {
      case 'Description':
        c.description = v || undefined;
        return;
      case 'Property': {
        if (v === '') {
          c.properties = [];
          return;
        }
        for (const w of words({ unquote: true, cunescape: true }) ?? []) {
          const eq = w.indexOf('=');
          const k = eq > 0 ? w.slice(0, eq) : '';
          if (!envName(k)) diag(`invalid udev property, ignoring assignment: ${w}`);
          else if (RESERVED_PROPERTIES.has(k)) diag(`invalid udev property name '${k}', ignoring assignment: ${w}`);
          else {
            c.properties = c.properties.filter(([x]) => x !== k);
            c.properties.push([k, w.slice(eq + 1)]);
          }
        }
        return;
      }
      case 'ImportProperty':
      case 'UnsetProperty': {
        const list = key === 'ImportProperty' ? c.importProperties : c.unsetProperties;
        if (v === '') {
          list.length = 0;
          return;
        }
        for (const w of words({ unquote: true, cunescape: true }) ?? []) {
          if (!envName(w) || RESERVED_PROPERTIES.has(w)) diag(`invalid udev property name, ignoring assignment: ${w}`);
          else list.push(w);
        }
        return;
      }
      case 'MACAddressPolicy':
        if (v === '') c.macAddressPolicy = 'none';
        else if (v === 'persistent' || v === 'random' || v === 'none') c.macAddressPolicy = v;
        else return bad();
        setWhere('MACAddressPolicy');
        return;
      case 'MACAddress': {
        if (v === '') {
          c.macAddress = undefined;
          return;
        }
        const hw = parseHwAddr(v);
        if (!hw) return diag(`not a valid hardware address, ignoring: ${v}`);
        c.macAddress = hw;
        setWhere('MACAddress');
        return;
      }
      case 'NamePolicy':
        c.namePolicy = policies(NAME_POLICIES);
        return;
      case 'AlternativeNamesPolicy':
        c.alternativeNamesPolicy = policies(ALTERNATIVE_NAMES_POLICIES);
        return;
      case 'Name':
        if (v === '') c.name = undefined;
        else if (!ifnameValid(v)) diag(`interface name is not valid or too long, ignoring assignment: ${v}`);
        else c.name = v;
        return;
      case 'AlternativeName':
        if (v === '') {
          c.alternativeNames = [];
          return;
        }
        for (const w of v.split(/\s+/).filter(Boolean)) {
          if (!ifnameValid(w, { alternative: true })) diag(`interface name is not valid or too long, ignoring assignment: ${w}`);
          else if (!c.alternativeNames.includes(w)) c.alternativeNames.push(w);
        }
        setWhere('AlternativeName');
        return;
      case 'Alias':
        if (v === '') c.alias = undefined;
        else if (!/^[\x00-\x7f]*$/.test(v)) diag(`interface alias is not ASCII clean, ignoring assignment: ${v}`);
        else if (v.length >= 256) diag(`interface alias is too long, ignoring assignment: ${v}`);
        else {
          c.alias = v;
          setWhere('Alias');
        }
        return;
      case 'TransmitQueues':
      case 'ReceiveQueues': {
        const field = key === 'TransmitQueues' ? 'txQueues' : 'rxQueues';
        if (v === '') return void (c[field] = undefined);
        const n = u32(v);
        if (n === undefined || n === 0 || n > 4096) return bad();
        c[field] = n;
        setWhere(key);
        return;
      }
      case 'TransmitQueueLength': {
        if (v === '') return void (c.txQueueLength = undefined);
        const n = u32(v);
        if (n === undefined || n === 0xffffffff) return bad();
        c.txQueueLength = n;
        setWhere(key);
        return;
      }
      case 'MTUBytes': {
        const n = parseSize(v);
        if (n === undefined) return bad();
        // parse_mtu(AF_UNSPEC): no lower bound here (the kernel refuses what the device cannot do)
        if (n > 0xffffffff) return diag(`maximum transfer unit (MTU) value out of range, permitted range is 0…4294967295, ignoring: ${v}`);
        c.mtu = n;
        setWhere(key);
        return;
      }
      case 'GenericSegmentOffloadMaxBytes': {
        const n = parseSize(v);
        if (n === undefined || n > 65536) return bad();
        c.gsoMaxBytes = n;
        setWhere(key);
        return;
      }
      case 'GenericSegmentOffloadMaxSegments': {
        const n = u32(v);
        if (n === undefined || n > 65535) return bad();
        c.gsoMaxSegments = n;
        setWhere(key);
        return;
      }
      case 'BitsPerSecond': {
        const n = parseSize(v, 1000);
        if (n === undefined) return bad();
        c.speed = n;
        setWhere(key);
        return;
      }
      case 'Duplex':
        if (v !== 'full' && v !== 'half') return bad();
        c.duplex = v;
        setWhere(key);
        return;
      case 'Port':
        if (!['tp', 'aui', 'mii', 'fibre', 'bnc'].includes(v)) return bad();
        c.port = v as LinkConfig['port'];
        setWhere(key);
        return;
      case 'AutoNegotiation':
        return tristate((x) => (c.autoNegotiation = x), key);
      case 'RxFlowControl':
        return tristate((x) => (c.rxFlowControl = x), 'FlowControl');
      case 'TxFlowControl':
        return tristate((x) => (c.txFlowControl = x), 'FlowControl');
      case 'AutoNegotiationFlowControl':
        return tristate((x) => (c.autoNegotiationFlowControl = x), 'FlowControl');
      case 'WakeOnLan': {
        if (v === '') {
          c.wol = undefined;
          return;
        }
        let bits = 0;
        for (const w of v.split(/\s+/).filter(Boolean)) {
          if (w === 'off') bits = 0;
          else if (w in WOL) bits |= WOL[w]!;
          else diag(`unknown WakeOnLan= option, ignoring: ${w}`);
        }
        c.wol = bits;
        setWhere(key);
        return;
      }
      case 'RxChannels':
        return countOrMax((x) => (c.channels.rx = x), 'Channels');
      case 'TxChannels':
        return countOrMax((x) => (c.channels.tx = x), 'Channels');
      case 'OtherChannels':
        return countOrMax((x) => (c.channels.other = x), 'Channels');
      case 'CombinedChannels':
        return countOrMax((x) => (c.channels.combined = x), 'Channels');
      case 'RxBufferSize':
        return countOrMax((x) => (c.rings.rx = x), 'BufferSize');
      case 'RxMiniBufferSize':
        return countOrMax((x) => (c.rings.rxMini = x), 'BufferSize');
      case 'RxJumboBufferSize':
        return countOrMax((x) => (c.rings.rxJumbo = x), 'BufferSize');
      case 'TxBufferSize':
        return countOrMax((x) => (c.rings.tx = x), 'BufferSize');
    }
  } else if (section === 'SR-IOV') {
    diag(`[SR-IOV] ${key}= is not supported by devMaster, ignoring`);
    return;
  }
  if (!key.startsWith('X-')) diag(`unknown key '${key}' in section [${section}], ignoring`);
}

/** Whether [Match] has anything (a file with an empty [Match] is ignored, as systemd does). */
export function matchIsEmpty(c: LinkConfig): boolean {
  return Object.values(c.match).every((l) => !l || l.length === 0) && c.conditions.length === 0;
}

interface FoundFile {
  path: string;
  stat: Stats;
}

/** conf_files_list: files with the suffix in the directories; a name in an earlier directory masks later ones. */
function listConfFiles(dirs: readonly string[], suffix: string): FoundFile[] {
  const byName = new Map<string, FoundFile>();
  for (const d of dirs) {
    // a directory that cannot be read, or a file gone meanwhile (or a dangling link), lists nothing
    for (const n of tryOr(() => readdirSync(d), [])) {
      if (!n.endsWith(suffix) || n.startsWith('.') || byName.has(n)) continue;
      const path = join(d, n);
      const st = tryOr(() => statSync(path), undefined);
      if (!st || st.isDirectory()) continue;
      byName.set(n, { path, stat: st });
    }
  }
  return [...byName.keys()].sort().map((n) => byName.get(n)!);
}

/** A file that is empty or a link to /dev/null masks (and is skipped). */
const isNullOrEmpty = (f: FoundFile) => f.stat.size === 0 || f.stat.isCharacterDevice();

const stampOf = (files: FoundFile[]) => files.map((f) => `${f.path}:${f.stat.ino}:${f.stat.mtimeMs}:${f.stat.size}`).join('\n');

/** Parses one .link file and its drop-ins (<dir>/<name>.d/*.conf in every directory). */
export function loadLinkFile(path: string, dirs: readonly string[]): { config: LinkConfig | undefined; diagnostics: Diagnostic[]; files: FoundFile[] } {
  const diagnostics: Diagnostic[] = [];
  const dropins = listConfFiles(dirs.map((d) => join(d, `${basename(path)}.d`)), '.conf');
  let mainStat: Stats;
  try {
    mainStat = statSync(path);
  } catch (e) {
    if (!isSystemError(e)) throw e;
    diagnostics.push({ file: path, line: 0, severity: 'error', message: `cannot read: ${e.message}` });
    return { config: undefined, diagnostics, files: [] };
  }
  const files = [{ path, stat: mainStat }, ...dropins];
  if (isNullOrEmpty(files[0]!)) return { config: undefined, diagnostics, files };
  const config = newConfig(path);
  for (const f of files) {
    if (f !== files[0] && isNullOrEmpty(f)) continue;
    let text: string;
    try {
      text = readFileSync(f.path, 'utf8');
    } catch (e) {
      if (!isSystemError(e)) throw e;
      diagnostics.push({ file: f.path, line: 0, severity: 'error', message: `cannot read: ${e.message}` });
      return { config: undefined, diagnostics, files };
    }
    const ini = parseIni(text, f.path, ['Match', 'Link', 'SR-IOV']);
    diagnostics.push(...ini.diagnostics);
    if (!ini.ok) return { config: undefined, diagnostics, files };
    for (const a of ini.assignments) assign(config, a, (message) => diagnostics.push({ file: a.file, line: a.line, severity: 'warning', message }));
    if (f !== files[0]) config.dropins.push(f.path);
  }
  diagnostics.sort((a, b) => (a.file === b.file ? a.line - b.line : 0));
  if (matchIsEmpty(config)) {
    diagnostics.push({ file: path, line: 0, severity: 'warning', message: 'no valid settings found in the [Match] section, ignoring file; to match all interfaces, add OriginalName=* in the [Match] section' });
    return { config: undefined, diagnostics, files };
  }
  if ((config.macAddressPolicy === 'persistent' || config.macAddressPolicy === 'random') && config.macAddress)
    diagnostics.push({ file: path, line: 0, severity: 'warning', message: 'MACAddress= in [Link] section will be ignored when MACAddressPolicy= is set to "persistent" or "random"' });
  return { config, diagnostics, files };
}

/** Loads every .link file of the search path, in the order they are matched (file name order). */
export function loadLinkConfigs(dirs: readonly string[] = DEFAULT_NETWORK_DIRS): LoadedLinkConfigs {
  const configs: LinkConfig[] = [];
  const diagnostics: Diagnostic[] = [];
  const read: FoundFile[] = [];
  for (const f of listConfFiles(dirs, '.link')) {
    const r = loadLinkFile(f.path, dirs);
    diagnostics.push(...r.diagnostics);
    read.push(...(r.files.length ? r.files : [f]));
    if (r.config) configs.push(r.config);
  }
  return { configs, diagnostics, stamp: stampOf(read) };
}

/** The stamp loadLinkConfigs would give now (a reload is due when it differs). */
export function linkConfigStamp(dirs: readonly string[] = DEFAULT_NETWORK_DIRS): string {
  const read: FoundFile[] = [];
  for (const f of listConfFiles(dirs, '.link')) {
    read.push(f, ...listConfFiles(dirs.map((d) => join(d, `${basename(f.path)}.d`)), '.conf'));
  }
  return stampOf(read);
}
