// Interface naming schemes (systemd.net-naming-scheme(7)): each improvement of net_id's naming logic is a flag,
// each release a named set of flags. The scheme in force comes from NET_NAMING_SCHEME (environment), the kernel
// command line's net.naming_scheme=, devMaster's naming_scheme config key, else the default (v257, as udev 257).
import { NAMING_SCHEME_NAMES, type NamingSchemeName } from '../config/naming-schemes.js';
import { cmdlineValue } from '../util/cmdline.js';

export const NAMING = {
  SR_IOV_V: 1 << 0, // "v" suffix for SR-IOV virtual functions
  NPAR_ARI: 1 << 1, // ARI: slot and function form one 8-bit function number
  INFINIBAND: 1 << 2, // "ib" prefix for InfiniBand
  ZERO_ACPI_INDEX: 1 << 3, // an onboard index 0 is valid
  ALLOW_RERENAMES: 1 << 4, // interfaces named by user space may be renamed again
  STABLE_VIRTUAL_MACS: 1 << 5, // persistent MACs of virtual devices from the interface name
  NETDEVSIM: 1 << 6, // names for netdevsim devices
  LABEL_NOPREFIX: 1 << 7, // ID_NET_LABEL_ONBOARD without the type prefix
  NSPAWN_LONG_HASH: 1 << 8, // (nspawn) shortened names with a hash
  BRIDGE_NO_SLOT: 1 << 9, // no hotplug slot name when the slot belongs to a PCI bridge
  SLOT_FUNCTION_ID: 1 << 10, // s390 function_id names the hotplug slot
  '16BIT_INDEX': 1 << 11, // onboard indexes up to 65535
  REPLACE_STRICTLY: 1 << 12, // NAME= must be a valid interface name
  XEN_VIF: 1 << 13, // names for Xen netfront devices
  BRIDGE_MULTIFUNCTION_SLOT: 1 << 14, // a bridge's slot for multi-function devices (v251..v254 only)
  DEVICETREE_ALIASES: 1 << 15, // onboard names from devicetree aliases of the parent's OF node
  USB_HOST: 1 << 16, // USB names without a PCI parent
  SR_IOV_R: 1 << 17, // "r" suffix for SR-IOV VF representors
  FIRMWARE_NODE_SUN: 1 << 18, // the slot number from firmware_node/sun (ACPI _SUN)
  DEVICETREE_PORT_ALIASES: 1 << 19, // devicetree aliases of the interface's own OF node
} as const;

export type NamingFlag = keyof typeof NAMING;

const f = NAMING;
const V238 = 0;
const V239 = V238 | f.SR_IOV_V | f.NPAR_ARI;
const V240 = V239 | f.INFINIBAND | f.ZERO_ACPI_INDEX | f.ALLOW_RERENAMES;
const V241 = V240 | f.STABLE_VIRTUAL_MACS;
const V243 = V241 | f.NETDEVSIM | f.LABEL_NOPREFIX;
const V245 = V243 | f.NSPAWN_LONG_HASH;
const V247 = V245 | f.BRIDGE_NO_SLOT;
const V249 = V247 | f.SLOT_FUNCTION_ID | f['16BIT_INDEX'] | f.REPLACE_STRICTLY;
const V250 = V249 | f.XEN_VIF;
const V251 = V250 | f.BRIDGE_MULTIFUNCTION_SLOT;
const V252 = V251 | f.DEVICETREE_ALIASES;
const V253 = V252 | f.USB_HOST;
const V254 = V253 | f.SR_IOV_R;
const V255 = V254 & ~f.BRIDGE_MULTIFUNCTION_SLOT;
const V257 = V255 | f.FIRMWARE_NODE_SUN | f.DEVICETREE_PORT_ALIASES;

export interface NamingScheme {
  name: NamingSchemeName;
  flags: number;
}

/** What each scheme turns on: one entry per name of src/config/naming-schemes.ts (the type checks it). */
const FLAGS: Readonly<Record<NamingSchemeName, number>> = {
  v238: V238,
  v239: V239,
  v240: V240,
  v241: V241,
  v243: V243,
  v245: V245,
  v247: V247,
  v249: V249,
  v250: V250,
  v251: V251,
  v252: V252,
  v253: V253,
  v254: V254,
  v255: V255,
  v257: V257,
};

/** Every scheme udev 257 knows, oldest first ("latest" is the last). */
export const NAMING_SCHEMES: readonly NamingScheme[] = NAMING_SCHEME_NAMES.map((name) => ({ name, flags: FLAGS[name] }));

export const DEFAULT_NAMING_SCHEME = 'v257';

export function namingSchemeFromName(name: string): NamingScheme | undefined {
  if (name === 'latest') return NAMING_SCHEMES[NAMING_SCHEMES.length - 1];
  return NAMING_SCHEMES.find((s) => s.name === name);
}

export function schemeHas(scheme: NamingScheme, flag: NamingFlag): boolean {
  return (scheme.flags & NAMING[flag]) === NAMING[flag];
}

export interface SchemeSources {
  /** The kernel command line. */
  cmdline: string;
  /** NET_NAMING_SCHEME from the environment ("name" wins over the command line, ":name" yields to it). */
  env?: string;
  /** devMaster's naming_scheme config key (used where udev uses its compiled-in default). */
  configured?: string;
}

export interface ResolvedScheme {
  scheme: NamingScheme;
  /** What was asked for and not known (worth a warning), if anything. */
  unknown?: string;
  source: 'environment' | 'kernel command line' | 'config' | 'default';
}

/** naming_scheme(): picks the scheme as udev does, with devMaster's config key in place of the compiled default. */
export function resolveNamingScheme(src: SchemeSources): ResolvedScheme {
  const fromCmdline = cmdlineValue(src.cmdline, 'net.naming_scheme');
  let asked: string | undefined;
  let source: ResolvedScheme['source'] = 'kernel command line';
  if (src.env !== undefined) {
    if (src.env.startsWith(':')) {
      asked = fromCmdline ?? src.env.slice(1);
      source = fromCmdline !== undefined ? 'kernel command line' : 'environment';
    } else {
      asked = src.env;
      source = 'environment';
    }
  } else asked = fromCmdline;
  let unknown: string | undefined;
  if (asked !== undefined) {
    const s = namingSchemeFromName(asked);
    if (s) return { scheme: s, source };
    unknown = asked;
  }
  if (src.configured !== undefined) {
    const s = namingSchemeFromName(src.configured);
    if (s) return { scheme: s, unknown, source: 'config' };
    unknown ??= src.configured;
  }
  return { scheme: namingSchemeFromName(DEFAULT_NAMING_SCHEME)!, unknown, source: 'default' };
}

/** NamePolicy= values (and AlternativeNamesPolicy=, which has no kernel/keep). */
export const NAME_POLICIES = ['kernel', 'keep', 'database', 'onboard', 'slot', 'path', 'mac'] as const;
export type NamePolicy = (typeof NAME_POLICIES)[number];
export const ALTERNATIVE_NAMES_POLICIES: readonly NamePolicy[] = ['database', 'onboard', 'slot', 'path', 'mac'];

/** The property each naming policy reads. */
export const POLICY_PROPERTY: Partial<Record<NamePolicy, string>> = {
  database: 'ID_NET_NAME_FROM_DATABASE',
  onboard: 'ID_NET_NAME_ONBOARD',
  slot: 'ID_NET_NAME_SLOT',
  path: 'ID_NET_NAME_PATH',
  mac: 'ID_NET_NAME_MAC',
};
