// [Match] of a .link file against one interface (net_match_config of systemd's net-condition.c): each list is
// a set of globs, '!' entries exclude; every given list must match.
import type { Device } from '../device/device.js';
import { fnmatch } from '../util/fnmatch.js';
import { sameHwAddr } from './hw-addr.js';
import type { NetMatch } from './link-config.js';

/** ARPHRD_* names as arphrd_to_name() gives them (lower-cased for Type=). */
const ARPHRD: Record<number, string> = {
  0: 'netrom', 1: 'ether', 2: 'eether', 3: 'ax25', 4: 'pronet', 5: 'chaos', 6: 'ieee802', 7: 'arcnet', 8: 'appletlk', 15: 'dlci', 19: 'atm',
  23: 'metricom', 24: 'ieee1394', 27: 'eui64', 32: 'infiniband', 256: 'slip', 257: 'cslip', 258: 'slip6', 259: 'cslip6', 260: 'rsrvd', 264: 'adapt',
  270: 'rose', 271: 'x25', 272: 'hwx25', 280: 'can', 290: 'mctp', 512: 'ppp', 513: 'cisco', 516: 'lapb', 517: 'ddcmp', 518: 'rawhdlc', 519: 'rawip',
  768: 'tunnel', 769: 'tunnel6', 770: 'frad', 771: 'skip', 772: 'loopback', 773: 'localtlk', 774: 'fddi', 775: 'bif', 776: 'sit', 777: 'ipddp',
  778: 'ipgre', 779: 'pimreg', 780: 'hippi', 781: 'ash', 782: 'econet', 783: 'irda', 784: 'fcpp', 785: 'fcal', 786: 'fcpl', 787: 'fcfabric',
  800: 'ieee802_tr', 801: 'ieee80211', 802: 'ieee80211_prism', 803: 'ieee80211_radiotap', 804: 'ieee802154', 805: 'ieee802154_monitor',
  820: 'phonet', 821: 'phonet_pipe', 822: 'caif', 823: 'ip6gre', 824: 'netlink', 825: '6lowpan', 826: 'vsockmon', 0xfffe: 'none', 0xffff: 'void',
};

/** net_get_type_string: the DEVTYPE, else the ARPHRD name. */
export function typeString(device: Device | undefined, iftype: number): string | undefined {
  const dt = device?.devtype;
  if (dt) return dt;
  return ARPHRD[iftype];
}

/** net_condition_test_strv: no list matches anything; '!' entries veto; positive entries must hit one. */
export function testStrv(patterns: readonly string[] | undefined, s: string | undefined): boolean {
  if (!patterns || patterns.length === 0) return true;
  let match = false;
  let positive = false;
  for (const p of patterns) {
    const invert = p.startsWith('!');
    const q = invert ? p.slice(1) : p;
    if (!invert) positive = true;
    if (s !== undefined && fnmatch(q, s)) {
      if (invert) return false;
      match = true;
    }
  }
  return positive ? match : true;
}

function testProperty(list: readonly string[] | undefined, device: Device | undefined): boolean {
  for (const p of list ?? []) {
    const invert = p.startsWith('!');
    const body = invert ? p.slice(1) : p;
    const eq = body.indexOf('=');
    const v = device?.property(body.slice(0, eq));
    const hit = v !== undefined && fnmatch(body.slice(eq + 1), v);
    if (invert ? hit : !hit) return false;
  }
  return true;
}

export interface LinkFacts {
  device: Device;
  hwAddr: number[] | undefined;
  permanentHwAddr: number[] | undefined;
  driver: string | undefined;
  iftype: number;
  kind: string | undefined;
  ifname: string;
}

/** Whether the interface matches every list of the [Match] section. */
export function netMatch(m: NetMatch, l: LinkFacts): boolean {
  if (m.macAddress && !(l.hwAddr && m.macAddress.some((a) => sameHwAddr(a, l.hwAddr)))) return false;
  if (m.permanentMacAddress && !(l.permanentHwAddr?.length && m.permanentMacAddress.some((a) => sameHwAddr(a, l.permanentHwAddr)))) return false;
  if (!testStrv(m.path, l.device.property('ID_PATH'))) return false;
  if (!testStrv(m.driver, l.driver)) return false;
  if (!testStrv(m.type, typeString(l.device, l.iftype))) return false;
  if (!testStrv(m.kind, l.kind)) return false;
  if (!testStrv(m.originalName, l.ifname)) return false;
  return testProperty(m.property, l.device);
}
