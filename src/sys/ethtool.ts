// ethtool through the SIOCETHTOOL ioctl: the commands of `.link` files and net_driver, their argument structs of
// <linux/ethtool.h> declared as koffi structs on first use. Each command is a struct starting with its number (cmd);
// a get fills it, a set sends it back changed.
import type { TypeObject } from 'koffi';
import { constants } from 'node:os';
import { errnoError } from './errno.js';
import { close } from './file.js';
import { ioctlIfreq, SIOCETHTOOL } from './ioctl.js';
import { declared, errno, koffi, type Koffi } from './libc.js';
import { AF_INET, SOCK_CLOEXEC, SOCK_DGRAM, socket } from './socket.js';

/** A channel or ring count, or 'max' for what the driver allows. */
export type CountOrMax = number | 'max';

const CMD = {
  GSET: 0x01, SSET: 0x02, GDRVINFO: 0x03, GWOL: 0x05, SWOL: 0x06, GRINGPARAM: 0x10, SRINGPARAM: 0x11, GPAUSEPARAM: 0x12, SPAUSEPARAM: 0x13,
  GSTRINGS: 0x1b, GPERMADDR: 0x20, GSSET_INFO: 0x37, GFEATURES: 0x3a, SFEATURES: 0x3b, GCHANNELS: 0x3c, SCHANNELS: 0x3d, GLINKSETTINGS: 0x4c, SLINKSETTINGS: 0x4d,
} as const;
const ETH_SS_FEATURES = 4;
const ETH_GSTRING_LEN = 32;
/** MAX_ADDR_LEN of <linux/netdevice.h>: room for any permanent address. */
const MAX_ADDR_LEN = 32;
/** SCHAR_MAX: the most link-mode mask words ETHTOOL_GLINKSETTINGS can ask for (a __s8). */
const LINK_MODE_MASKS_NWORDS_MAX = 127;
const { EOPNOTSUPP } = constants.errno;

const u32 = 'uint32_t';
const u8 = 'uint8_t';
const char = (k: Koffi, n: number) => k.array('char', n);

const drvinfo = declared((k) => k.struct('ethtool_drvinfo', {
  cmd: u32, driver: char(k, 32), version: char(k, 32), fw_version: char(k, 32), bus_info: char(k, 32), erom_version: char(k, 32), reserved2: char(k, 12),
  n_priv_flags: u32, n_stats: u32, testinfo_len: u32, eedump_len: u32, regdump_len: u32,
}));
/** struct ethtool_perm_addr with room for MAX_ADDR_LEN bytes of data. */
const permAddr = declared((k) => k.struct('ethtool_perm_addr', { cmd: u32, size: u32, data: k.array(u8, MAX_ADDR_LEN, 'Array') }));
const wolinfo = declared((k) => k.struct('ethtool_wolinfo', { cmd: u32, supported: u32, wolopts: u32, sopass: k.array(u8, 6) }));
/** struct ethtool_sset_info asking for one string set: one u32 of data. */
const ssetInfo = declared((k) => k.struct('ethtool_sset_info', { cmd: u32, reserved: u32, sset_mask: 'uint64_t', data: k.array(u32, 1, 'Array') }));
/** struct ethtool_gstrings without its data (len strings of ETH_GSTRING_LEN bytes). */
const gstrings = declared((k) => k.struct('ethtool_gstrings', { cmd: u32, string_set: u32, len: u32 }));
/** The head of struct ethtool_gfeatures and ethtool_sfeatures: cmd and the number of blocks that follow. */
const featuresHead = declared((k) => k.struct('ethtool_features_head', { cmd: u32, size: u32 }));
const getFeaturesBlock = declared((k) => k.struct('ethtool_get_features_block', { available: u32, requested: u32, active: u32, never_changed: u32 }));
const setFeaturesBlock = declared((k) => k.struct('ethtool_set_features_block', { valid: u32, requested: u32 }));
const channels = declared((k) => k.struct('ethtool_channels', {
  cmd: u32, max_rx: u32, max_tx: u32, max_other: u32, max_combined: u32, rx_count: u32, tx_count: u32, other_count: u32, combined_count: u32,
}));
const ringparam = declared((k) => k.struct('ethtool_ringparam', {
  cmd: u32, rx_max_pending: u32, rx_mini_max_pending: u32, rx_jumbo_max_pending: u32, tx_max_pending: u32,
  rx_pending: u32, rx_mini_pending: u32, rx_jumbo_pending: u32, tx_pending: u32,
}));
const pauseparam = declared((k) => k.struct('ethtool_pauseparam', { cmd: u32, autoneg: u32, rx_pause: u32, tx_pause: u32 }));
/** struct ethtool_cmd: the legacy ETHTOOL_[GS]SET. */
const legacyCmd = declared((k) => k.struct('ethtool_cmd', {
  cmd: u32, supported: u32, advertising: u32, speed: 'uint16_t', duplex: u8, port: u8, phy_address: u8, transceiver: u8, autoneg: u8, mdio_support: u8,
  maxtxpkt: u32, maxrxpkt: u32, speed_hi: 'uint16_t', eth_tp_mdix: u8, eth_tp_mdix_ctrl: u8, lp_advertising: u32, reserved: k.array(u32, 2),
}));
/** struct ethtool_link_settings without its link-mode masks (3 × link_mode_masks_nwords u32 follow). */
const linkSettings = declared((k) => k.struct('ethtool_link_settings', {
  cmd: u32, speed: u32, duplex: u8, port: u8, phy_address: u8, autoneg: u8, mdio_support: u8, eth_tp_mdix: u8, eth_tp_mdix_ctrl: u8,
  link_mode_masks_nwords: 'int8_t', transceiver: u8, master_slave_cfg: u8, master_slave_state: u8, rate_matching: u8, reserved: k.array(u32, 7),
}));

type Fields = Record<string, unknown> & { cmd: number };
type Counts = Record<string, number>;
interface GetFeaturesBlock {
  available: number;
  never_changed: number;
}
interface SetFeaturesBlock {
  valid: number;
  requested: number;
}

/** One control socket for ethtool ioctls; close() when done. Failures throw an Error carrying the errno. */
export class Ethtool {
  #fd: number | undefined;

  #socket(): number {
    return (this.#fd ??= socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC));
  }

  close(): void {
    if (this.#fd !== undefined) close(this.#fd);
    this.#fd = undefined;
  }

  /** Runs the command in the buffer (its first u32 is the command number). */
  #call(ifname: string, buf: Buffer, what: string): void {
    if (ioctlIfreq(this.#socket(), SIOCETHTOOL, ifname, buf) < 0) throw errnoError(what, errno());
  }

  /** Runs a get command of struct `type` (in a buffer of `size` bytes when it has data after the struct). */
  #get<T extends Fields>(ifname: string, type: TypeObject, fields: Fields, what: string, size = koffi().sizeof(type)): { buf: Buffer; value: T } {
    const k = koffi();
    const buf = Buffer.alloc(size);
    k.encode(buf, type, fields);
    this.#call(ifname, buf, what);
    return { buf, value: k.decode(buf, type) as T };
  }

  /** Sends `value` back with the set command `cmd`, in the buffer of its get (so whatever follows the struct stays). */
  #set(ifname: string, type: TypeObject, got: { buf: Buffer; value: Fields }, cmd: number, what: string): void {
    koffi().encode(got.buf, type, { ...got.value, cmd });
    this.#call(ifname, got.buf, what);
  }

  /** ETHTOOL_GDRVINFO: the driver's name (undefined when it reports none). */
  driver(ifname: string): string | undefined {
    const { value } = this.#get<Fields & { driver: string }>(ifname, drvinfo(), { cmd: CMD.GDRVINFO }, 'get driver information');
    return value.driver || undefined;
  }

  /** ETHTOOL_GPERMADDR: the permanent hardware address (empty when the driver has none). */
  permanentAddress(ifname: string): number[] {
    const { value } = this.#get<Fields & { size: number; data: number[] }>(ifname, permAddr(), { cmd: CMD.GPERMADDR, size: MAX_ADDR_LEN }, 'get permanent address');
    return value.size > MAX_ADDR_LEN ? [] : value.data.slice(0, value.size);
  }

  /** Wake-on-LAN: sets the options (masked by what the device supports); returns the options it asked for but lacks. */
  setWol(ifname: string, wolopts: number): number {
    const got = this.#get<Fields & { supported: number; wolopts: number }>(ifname, wolinfo(), { cmd: CMD.GWOL }, 'get Wake-on-LAN');
    const missing = wolopts & ~got.value.supported;
    const want = wolopts & got.value.supported;
    if (got.value.wolopts === want) return missing;
    got.value.wolopts = want;
    this.#set(ifname, wolinfo(), got, CMD.SWOL, 'set Wake-on-LAN');
    return missing;
  }

  /** The feature strings (ETH_SS_FEATURES). */
  #featureNames(ifname: string): string[] {
    const info = this.#get<Fields & { sset_mask: bigint | number; data: number[] }>(ifname, ssetInfo(), { cmd: CMD.GSSET_INFO, sset_mask: 1n << BigInt(ETH_SS_FEATURES) }, 'get feature count');
    const len = BigInt(info.value.sset_mask) === 0n ? 0 : info.value.data[0]!;
    if (len === 0) throw errnoError('get feature count', EOPNOTSUPP);
    const head = koffi().sizeof(gstrings());
    const { buf } = this.#get(ifname, gstrings(), { cmd: CMD.GSTRINGS, string_set: ETH_SS_FEATURES, len }, 'get feature names', head + len * ETH_GSTRING_LEN);
    const names: string[] = [];
    for (let i = 0; i < len; i++) {
      const raw = buf.subarray(head + i * ETH_GSTRING_LEN, head + (i + 1) * ETH_GSTRING_LEN);
      const z = raw.indexOf(0);
      names.push(raw.subarray(0, z < 0 ? ETH_GSTRING_LEN : z).toString('latin1'));
    }
    return names;
  }

  /**
   * Sets offload features (name, or prefix ending in '-', → on/off). Returns, per requested feature, why it was
   * not set: 'unknown' (the device has no such feature) or 'fixed' (it cannot be changed); the others were sent.
   */
  setFeatures(ifname: string, wanted: ReadonlyMap<string, boolean>): Map<string, 'unknown' | 'fixed'> {
    const problems = new Map<string, 'unknown' | 'fixed'>();
    if (wanted.size === 0) return problems;
    const names = this.#featureNames(ifname);
    const blocks = Math.ceil(names.length / 32);
    const k = koffi();
    const head = k.sizeof(featuresHead());
    const { buf } = this.#get(ifname, featuresHead(), { cmd: CMD.GFEATURES, size: blocks }, 'get features', head + blocks * k.sizeof(getFeaturesBlock()));
    const got = k.decode(buf, head, k.array(getFeaturesBlock(), blocks)) as GetFeaturesBlock[];
    const set: SetFeaturesBlock[] = Array.from({ length: blocks }, () => ({ valid: 0, requested: 0 }));
    const bit = (i: number) => 1 << (i & 31);
    const changeable = (i: number) => (got[i >> 5]!.available & bit(i)) !== 0 && (got[i >> 5]!.never_changed & bit(i)) === 0;
    const mark = (i: number, on: boolean) => {
      const b = set[i >> 5]!;
      b.valid = (b.valid | bit(i)) >>> 0;
      b.requested = (on ? b.requested | bit(i) : b.requested & ~bit(i)) >>> 0;
    };
    // exact names first, then prefixes (which leave alone what an exact name set)
    const ordered = [...wanted].sort(([a], [b]) => Number(a.endsWith('-')) - Number(b.endsWith('-')));
    for (const [feature, on] of ordered) {
      const prefix = feature.endsWith('-');
      let found = false;
      let fixed = false;
      names.forEach((n, i) => {
        if (prefix ? !n.startsWith(feature) : n !== feature) return;
        if (!changeable(i)) {
          fixed = true;
          return;
        }
        if (prefix && (set[i >> 5]!.valid & bit(i)) !== 0) return;
        mark(i, on);
        found = true;
      });
      if (!found) problems.set(feature, fixed ? 'fixed' : 'unknown');
    }
    const s = Buffer.alloc(head + blocks * k.sizeof(setFeaturesBlock()));
    k.encode(s, featuresHead(), { cmd: CMD.SFEATURES, size: blocks });
    k.encode(s, head, k.array(setFeaturesBlock(), blocks), set);
    this.#call(ifname, s, 'set features');
    return problems;
  }

  /** Sets channel counts ('max' or 0 = the device's maximum); returns whether anything changed. */
  setChannels(ifname: string, ch: { rx?: CountOrMax; tx?: CountOrMax; other?: CountOrMax; combined?: CountOrMax }): boolean {
    const got = this.#get<Fields & Counts>(ifname, channels(), { cmd: CMD.GCHANNELS }, 'get channels');
    const changed = updateCounts(got.value, [
      [ch.rx, 'max_rx', 'rx_count'],
      [ch.tx, 'max_tx', 'tx_count'],
      [ch.other, 'max_other', 'other_count'],
      [ch.combined, 'max_combined', 'combined_count'],
    ]);
    if (changed) this.#set(ifname, channels(), got, CMD.SCHANNELS, 'set channels');
    return changed;
  }

  /** Sets ring buffer sizes ('max' = the device's maximum); returns whether anything changed. */
  setRings(ifname: string, r: { rx?: CountOrMax; rxMini?: CountOrMax; rxJumbo?: CountOrMax; tx?: CountOrMax }): boolean {
    const got = this.#get<Fields & Counts>(ifname, ringparam(), { cmd: CMD.GRINGPARAM }, 'get ring parameters');
    const changed = updateCounts(got.value, [
      [r.rx, 'rx_max_pending', 'rx_pending'],
      [r.rxMini, 'rx_mini_max_pending', 'rx_mini_pending'],
      [r.rxJumbo, 'rx_jumbo_max_pending', 'rx_jumbo_pending'],
      [r.tx, 'tx_max_pending', 'tx_pending'],
    ]);
    if (changed) this.#set(ifname, ringparam(), got, CMD.SRINGPARAM, 'set ring parameters');
    return changed;
  }

  /** Sets pause frame (flow control) settings; returns whether anything changed. */
  setFlowControl(ifname: string, rx: boolean | undefined, tx: boolean | undefined, autoneg: boolean | undefined): boolean {
    const got = this.#get<Fields & Counts>(ifname, pauseparam(), { cmd: CMD.GPAUSEPARAM }, 'get flow control');
    const changed = updateFields(got.value, { autoneg: flag(autoneg), rx_pause: flag(rx), tx_pause: flag(tx) });
    if (changed) this.#set(ifname, pauseparam(), got, CMD.SPAUSEPARAM, 'set flow control');
    return changed;
  }

  /**
   * Speed (Mb/s), duplex, port and autonegotiation through ETHTOOL_[GS]LINKSETTINGS (the legacy [GS]SET when the
   * driver lacks them). As udev: speed, duplex or port turn autonegotiation off unless it is asked for.
   */
  setLinkSettings(ifname: string, s: { autoneg?: boolean; speedMbps?: number; duplex?: 'full' | 'half'; port?: number }): boolean {
    let { autoneg } = s;
    let { speedMbps, duplex, port } = s;
    if (speedMbps !== undefined || duplex !== undefined || port !== undefined) {
      if (autoneg === true) [speedMbps, duplex, port] = [undefined, undefined, undefined];
      else autoneg = false;
    }
    const want = { duplex: duplex === undefined ? undefined : duplex === 'full' ? 1 : 0, port, autoneg: flag(autoneg) };
    const got = this.#linkSettings(ifname);
    if (got === undefined) {
      // the legacy ETHTOOL_GSET: the speed is split in two u16
      const legacy = this.#get<Fields & Counts>(ifname, legacyCmd(), { cmd: CMD.GSET }, 'get link settings');
      const v = legacy.value;
      let changed = updateFields(v, want);
      if (speedMbps !== undefined && v.speed! + (v.speed_hi! << 16) !== speedMbps) {
        v.speed = speedMbps & 0xffff;
        v.speed_hi = speedMbps >>> 16;
        changed = true;
      }
      if (changed) this.#set(ifname, legacyCmd(), legacy, CMD.SSET, 'set link settings');
      return changed;
    }
    const changed = updateFields(got.value, { speed: speedMbps, ...want });
    if (changed) this.#set(ifname, linkSettings(), got, CMD.SLINKSETTINGS, 'set link settings');
    return changed;
  }

  /**
   * ETHTOOL_GLINKSETTINGS with its handshake (asked with no mask words, the kernel answers with -nwords; then asked
   * with that many): undefined when the driver supports only the legacy ETHTOOL_GSET.
   */
  #linkSettings(ifname: string): { buf: Buffer; value: Fields & Counts } | undefined {
    const size = koffi().sizeof(linkSettings()) + 3 * 4 * LINK_MODE_MASKS_NWORDS_MAX;
    try {
      const hs = this.#get<Fields & Counts>(ifname, linkSettings(), { cmd: CMD.GLINKSETTINGS }, 'get link settings', size);
      const nwords = hs.value.link_mode_masks_nwords!;
      if (nwords >= 0 || hs.value.cmd !== CMD.GLINKSETTINGS) return undefined;
      return this.#get(ifname, linkSettings(), { cmd: CMD.GLINKSETTINGS, link_mode_masks_nwords: -nwords }, 'get link settings', size);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).errno === EOPNOTSUPP) return undefined;
      throw e;
    }
  }
}

/** A boolean setting as the u32/u8 the kernel keeps it in (undefined: not asked for). */
const flag = (v: boolean | undefined) => (v === undefined ? undefined : Number(v));

/** Sets the fields asked for (not undefined) that differ; returns whether any did. */
function updateFields(value: Counts, want: Record<string, number | undefined>): boolean {
  let changed = false;
  for (const [k, v] of Object.entries(want)) {
    if (v === undefined || value[k] === v) continue;
    value[k] = v;
    changed = true;
  }
  return changed;
}

/** UPDATE_WITH_MAX over [value, its maximum's field, its field]; 'max' or 0 means the maximum. */
function updateCounts(value: Counts, fields: Array<[CountOrMax | undefined, string, string]>): boolean {
  let changed = false;
  for (const [want, maxField, field] of fields) {
    if (want === undefined) continue;
    const max = value[maxField]!;
    let v = want === 'max' ? max : want;
    if (v === 0 || v > max) v = max;
    if (value[field] === v) continue;
    value[field] = v;
    changed = true;
  }
  return changed;
}
