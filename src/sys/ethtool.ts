// ethtool through the SIOCETHTOOL ioctl (C calls through koffi).
// NATIVE LAYER: every C call of this file (socket, ioctl, close, __errno_location) belongs with the other koffi
// calls (src/util/sys.ts today, the native layer src/sys/ once it exists); the rest is struct layouts and logic.
import koffi from 'koffi';
import { errnoName } from './errno.js';
/** A channel or ring count, or 'max' for what the driver allows. */
export type CountOrMax = number | 'max';

const SIOCETHTOOL = 0x8946;
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;

const CMD = {
  GSET: 0x01, SSET: 0x02, GDRVINFO: 0x03, GWOL: 0x05, SWOL: 0x06, GRINGPARAM: 0x10, SRINGPARAM: 0x11, GPAUSEPARAM: 0x12, SPAUSEPARAM: 0x13,
  GSTRINGS: 0x1b, GPERMADDR: 0x20, GSSET_INFO: 0x37, GFEATURES: 0x3a, SFEATURES: 0x3b, GCHANNELS: 0x3c, SCHANNELS: 0x3d, GLINKSETTINGS: 0x4c, SLINKSETTINGS: 0x4d,
} as const;
const ETH_SS_FEATURES = 4;
const ETH_GSTRING_LEN = 32;

interface Libc {
  socket(domain: number, type: number, proto: number): number;
  close(fd: number): number;
  ioctl(fd: number, req: number, ifr: { ifr_name: string; ifr_data: Buffer }): number;
  errno(): number;
}

let libc: Libc | undefined;

function load(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  koffi.struct('devmaster_ifreq_data', { ifr_name: 'char[16]', ifr_data: 'void *', pad: 'uint8[16]' });
  const loc = lib.func('int *__errno_location(void)');
  libc = {
    socket: lib.func('int socket(int, int, int)') as Libc['socket'],
    close: lib.func('int close(int)') as Libc['close'],
    ioctl: lib.func('int ioctl(int, unsigned long, _Inout_ devmaster_ifreq_data *ifr)') as unknown as Libc['ioctl'],
    errno: () => koffi.decode(loc(), 'int') as number,
  };
  return libc;
}

/** An ethtool call failed: the errno and its name. */
export class EthtoolError extends Error {
  constructor(
    readonly what: string,
    readonly errno: number,
  ) {
    super(`${what}: ${errnoName(errno)}`);
    this.name = 'EthtoolError';
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

/** One control socket for ethtool ioctls; close() when done. */
export class Ethtool {
  #fd: number | undefined;

  #socket(): number {
    if (this.#fd !== undefined) return this.#fd;
    const c = load();
    const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new EthtoolError('socket', c.errno());
    this.#fd = fd;
    return fd;
  }

  close(): void {
    if (this.#fd !== undefined) load().close(this.#fd);
    this.#fd = undefined;
  }

  /** Runs one command on the buffer (its first u32 is the command); throws EthtoolError. */
  #call(ifname: string, buf: Buffer, what: string): void {
    const c = load();
    const r = c.ioctl(this.#socket(), SIOCETHTOOL, { ifr_name: ifname, ifr_data: buf });
    if (r < 0) throw new EthtoolError(what, c.errno());
  }

  #cmd(size: number, cmd: number): Buffer {
    const b = Buffer.alloc(size);
    b.writeUInt32LE(cmd, 0);
    return b;
  }

  /** ETHTOOL_GDRVINFO: the driver's name (undefined when it reports none). */
  driver(ifname: string): string | undefined {
    const b = this.#cmd(196, CMD.GDRVINFO);
    this.#call(ifname, b, 'get driver information');
    const name = b.subarray(4, 36);
    const z = name.indexOf(0);
    const s = name.subarray(0, z < 0 ? 32 : z).toString('utf8');
    return s || undefined;
  }

  /** ETHTOOL_GPERMADDR: the permanent hardware address (empty when the driver has none). */
  permanentAddress(ifname: string): number[] {
    const b = this.#cmd(8 + 32, CMD.GPERMADDR);
    b.writeUInt32LE(32, 4);
    this.#call(ifname, b, 'get permanent address');
    const n = b.readUInt32LE(4);
    return n > 32 ? [] : [...b.subarray(8, 8 + n)];
  }

  /** Wake-on-LAN: sets the options (masked by what the device supports); returns the options it asked for but lacks. */
  setWol(ifname: string, wolopts: number): number {
    const b = this.#cmd(20, CMD.GWOL);
    this.#call(ifname, b, 'get Wake-on-LAN');
    const supported = b.readUInt32LE(4);
    const missing = wolopts & ~supported;
    const want = wolopts & supported;
    if (b.readUInt32LE(8) === want) return missing;
    b.writeUInt32LE(CMD.SWOL, 0);
    b.writeUInt32LE(want, 8);
    this.#call(ifname, b, 'set Wake-on-LAN');
    return missing;
  }

  /** The feature strings (ETH_SS_FEATURES). */
  #featureNames(ifname: string): string[] {
    const info = this.#cmd(20, CMD.GSSET_INFO);
    info.writeBigUInt64LE(1n << BigInt(ETH_SS_FEATURES), 8);
    this.#call(ifname, info, 'get feature count');
    if (info.readBigUInt64LE(8) === 0n) throw new EthtoolError('get feature count', 95);
    const len = info.readUInt32LE(16);
    if (len === 0) throw new EthtoolError('get feature count', 95);
    const s = this.#cmd(12 + len * ETH_GSTRING_LEN, CMD.GSTRINGS);
    s.writeUInt32LE(ETH_SS_FEATURES, 4);
    s.writeUInt32LE(len, 8);
    this.#call(ifname, s, 'get feature names');
    const names: string[] = [];
    for (let i = 0; i < len; i++) {
      const raw = s.subarray(12 + i * ETH_GSTRING_LEN, 12 + (i + 1) * ETH_GSTRING_LEN);
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
    const g = this.#cmd(8 + blocks * 16, CMD.GFEATURES);
    g.writeUInt32LE(blocks, 4);
    this.#call(ifname, g, 'get features');
    const s = this.#cmd(8 + blocks * 8, CMD.SFEATURES);
    s.writeUInt32LE(blocks, 4);
    const available = (i: number) => (g.readUInt32LE(8 + (i >> 5) * 16) >>> (i & 31)) & 1;
    const neverChanged = (i: number) => (g.readUInt32LE(8 + (i >> 5) * 16 + 12) >>> (i & 31)) & 1;
    const mark = (i: number, on: boolean) => {
      const o = 8 + (i >> 5) * 8;
      const bit = 1 << (i & 31);
      s.writeUInt32LE((s.readUInt32LE(o) | bit) >>> 0, o);
      s.writeUInt32LE((on ? s.readUInt32LE(o + 4) | bit : s.readUInt32LE(o + 4) & ~bit) >>> 0, o + 4);
    };
    const isValid = (i: number) => (s.readUInt32LE(8 + (i >> 5) * 8) >>> (i & 31)) & 1;
    // exact names first, then prefixes (which leave alone what an exact name set)
    const ordered = [...wanted].sort(([a], [b]) => Number(a.endsWith('-')) - Number(b.endsWith('-')));
    for (const [feature, on] of ordered) {
      const prefix = feature.endsWith('-');
      let found = false;
      let fixed = false;
      names.forEach((n, i) => {
        if (prefix ? !n.startsWith(feature) : n !== feature) return;
        if (!available(i) || neverChanged(i)) {
          fixed = true;
          return;
        }
        if (prefix && isValid(i)) return;
        mark(i, on);
        found = true;
      });
      if (!found) problems.set(feature, fixed ? 'fixed' : 'unknown');
    }
    this.#call(ifname, s, 'set features');
    return problems;
  }

  /** Sets channel counts ('max' or 0 = the device's maximum); returns whether anything changed. */
  setChannels(ifname: string, ch: { rx?: CountOrMax; tx?: CountOrMax; other?: CountOrMax; combined?: CountOrMax }): boolean {
    const b = this.#cmd(36, CMD.GCHANNELS);
    this.#call(ifname, b, 'get channels');
    const changed = updateCounts(b, [[ch.rx, 1, 5], [ch.tx, 2, 6], [ch.other, 3, 7], [ch.combined, 4, 8]]);
    if (!changed) return false;
    b.writeUInt32LE(CMD.SCHANNELS, 0);
    this.#call(ifname, b, 'set channels');
    return true;
  }

  /** Sets ring buffer sizes ('max' = the device's maximum); returns whether anything changed. */
  setRings(ifname: string, r: { rx?: CountOrMax; rxMini?: CountOrMax; rxJumbo?: CountOrMax; tx?: CountOrMax }): boolean {
    const b = this.#cmd(36, CMD.GRINGPARAM);
    this.#call(ifname, b, 'get ring parameters');
    const changed = updateCounts(b, [[r.rx, 1, 5], [r.rxMini, 2, 6], [r.rxJumbo, 3, 7], [r.tx, 4, 8]]);
    if (!changed) return false;
    b.writeUInt32LE(CMD.SRINGPARAM, 0);
    this.#call(ifname, b, 'set ring parameters');
    return true;
  }

  /** Sets pause frame (flow control) settings; returns whether anything changed. */
  setFlowControl(ifname: string, rx: boolean | undefined, tx: boolean | undefined, autoneg: boolean | undefined): boolean {
    const b = this.#cmd(16, CMD.GPAUSEPARAM);
    this.#call(ifname, b, 'get flow control');
    let changed = false;
    for (const [v, off] of [[autoneg, 4], [rx, 8], [tx, 12]] as const) {
      if (v === undefined || b.readUInt32LE(off) === Number(v)) continue;
      b.writeUInt32LE(Number(v), off);
      changed = true;
    }
    if (!changed) return false;
    b.writeUInt32LE(CMD.SPAUSEPARAM, 0);
    this.#call(ifname, b, 'set flow control');
    return true;
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
    const dup = duplex === undefined ? undefined : duplex === 'full' ? 1 : 0;
    // handshake: the kernel answers with -nwords
    const hs = this.#cmd(48 + 3 * 4 * 128, CMD.GLINKSETTINGS);
    let legacy = false;
    try {
      this.#call(ifname, hs, 'get link settings');
      const nw = hs.readInt8(15);
      if (nw >= 0 || hs.readUInt32LE(0) !== CMD.GLINKSETTINGS) legacy = true;
      else {
        hs.writeInt8(-nw, 15);
        this.#call(ifname, hs, 'get link settings');
      }
    } catch (e) {
      if (!(e instanceof EthtoolError) || e.errno !== 95) throw e;
      legacy = true;
    }
    if (legacy) {
      const b = this.#cmd(44, CMD.GSET);
      this.#call(ifname, b, 'get link settings');
      let changed = false;
      if (speedMbps !== undefined && b.readUInt16LE(12) + (b.readUInt16LE(28) << 16) !== speedMbps) {
        b.writeUInt16LE(speedMbps & 0xffff, 12);
        b.writeUInt16LE(speedMbps >>> 16, 28);
        changed = true;
      }
      for (const [v, off] of [[dup, 14], [port, 15], [autoneg === undefined ? undefined : Number(autoneg), 18]] as const) {
        if (v === undefined || b.readUInt8(off) === v) continue;
        b.writeUInt8(v, off);
        changed = true;
      }
      if (!changed) return false;
      b.writeUInt32LE(CMD.SSET, 0);
      this.#call(ifname, b, 'set link settings');
      return true;
    }
    let changed = false;
    if (speedMbps !== undefined && hs.readUInt32LE(4) !== speedMbps) {
      hs.writeUInt32LE(speedMbps, 4);
      changed = true;
    }
    for (const [v, off] of [[dup, 8], [port, 9], [autoneg === undefined ? undefined : Number(autoneg), 11]] as const) {
      if (v === undefined || hs.readUInt8(off) === v) continue;
      hs.writeUInt8(v, off);
      changed = true;
    }
    if (!changed) return false;
    hs.writeUInt32LE(CMD.SLINKSETTINGS, 0);
    this.#call(ifname, hs, 'set link settings');
    return true;
  }
}

/** UPDATE_WITH_MAX over u32 fields [value, index of max, index of current]; 'max' or 0 means the maximum. */
function updateCounts(b: Buffer, fields: Array<[CountOrMax | undefined, number, number]>): boolean {
  let changed = false;
  for (const [want, maxIdx, curIdx] of fields) {
    if (want === undefined) continue;
    const max = b.readUInt32LE(maxIdx * 4);
    let v = want === 'max' ? max : want;
    if (v === 0 || v > max) v = max;
    if (b.readUInt32LE(curIdx * 4) === v) continue;
    b.writeUInt32LE(v, curIdx * 4);
    changed = true;
  }
  return changed;
}
