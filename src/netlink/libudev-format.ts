// libudev's netlink wire format: what udevd multicasts on NETLINK_KOBJECT_UEVENT group 2 ("udev") after rule
// processing, and what libudev / sd-device monitors (udevadm monitor, pyudev, ...) expect to receive.
//
//   offset size  field                   byte order
//        0    8  prefix "libudev\0"
//        8    4  magic 0xfeedcafe         network (big endian)   -- the BPF filters load it as-is
//       12    4  header_size (40)         host
//       16    4  properties_off (40)      host
//       20    4  properties_len           host
//       24    4  filter_subsystem_hash    network; MurmurHash2(subsystem, seed 0)
//       28    4  filter_devtype_hash      network; MurmurHash2(devtype, seed 0), 0 without DEVTYPE
//       32    4  filter_tag_bloom_hi      network; upper 32 bits of the 64-bit tag bloom filter
//       36    4  filter_tag_bloom_lo      network; lower 32 bits
//       40       properties: "KEY=VALUE\0" strings (ACTION, DEVPATH, SUBSYSTEM, SEQNUM, ..., DEVLINKS, TAGS, ...)
//
// The tag bloom filter ORs, for every tag, 4 bits taken from the tag's MurmurHash2: bits (h & 63),
// (h >> 6 & 63), (h >> 12 & 63), (h >> 18 & 63). Receivers match a tag when all its bits are set.
import { endianness } from 'node:os';
import { checkRequiredKeys, parseNulProperties, UeventError, type Uevent } from './uevent.js';

export const LIBUDEV_PREFIX = 'libudev';
export const LIBUDEV_MAGIC = 0xfeedcafe;
export const LIBUDEV_HEADER_SIZE = 40;
/** sd-device's receive buffer: longer messages are truncated and dropped by receivers. */
export const LIBUDEV_MAX_MESSAGE = 8192;

const HOST_LE = endianness() === 'LE';

/** MurmurHash2 (Austin Appleby), 32-bit, as systemd's src/basic/MurmurHash2.c (blocks read in host order). */
export function murmurhash2(input: string | Uint8Array, seed = 0): number {
  const data = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const m = 0x5bd1e995;
  let len = data.length;
  let h = (seed ^ len) >>> 0;
  let i = 0;
  while (len >= 4) {
    let k = HOST_LE ? data.readUInt32LE(i) : data.readUInt32BE(i);
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
    i += 4;
    len -= 4;
  }
  // The tail: 1 to 3 bytes (the C version's fall-through switch).
  if (len > 0) {
    if (len === 3) h ^= data[i + 2]! << 16;
    if (len >= 2) h ^= data[i + 1]! << 8;
    h ^= data[i]!;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h >>> 0;
}

/** The 64-bit bloom filter bits of one tag (systemd's string_bloom64). */
export function tagBloom(tag: string): bigint {
  const h = murmurhash2(tag);
  return (1n << BigInt(h & 63)) | (1n << BigInt((h >>> 6) & 63)) | (1n << BigInt((h >>> 12) & 63)) | (1n << BigInt((h >>> 18) & 63));
}

/** Bloom filter of a set of tags. */
export function tagsBloom(tags: Iterable<string>): bigint {
  let bits = 0n;
  for (const t of tags) bits |= tagBloom(t);
  return bits;
}

/** Splits a TAGS / CURRENT_TAGS value (":a:b:") into tag names. */
export function splitTags(value: string | undefined): string[] {
  return value ? value.split(':').filter((t) => t !== '') : [];
}

export interface EncodeMeta {
  /** Defaults to the SUBSYSTEM property. */
  subsystem?: string;
  /** Defaults to the DEVTYPE property; no devtype gives hash 0. */
  devtype?: string;
  /** Defaults to the TAGS property (sd-device hashes all tags, not only CURRENT_TAGS). */
  tags?: Iterable<string>;
}

export class LibudevFormatError extends Error {
  constructor(
    readonly code: 'TOO_SHORT' | 'TOO_LONG' | 'NOT_LIBUDEV' | 'BAD_MAGIC' | 'BAD_OFFSETS' | 'BAD_PROPERTIES' | 'NO_SUBSYSTEM' | 'BAD_PROPERTY',
    message: string,
  ) {
    super(message);
    this.name = 'LibudevFormatError';
  }
}

/**
 * Encodes a processed event the way udevd broadcasts it. `props` is the property list in the order to send
 * (it should carry at least ACTION, DEVPATH, SUBSYSTEM and SEQNUM, or libudev receivers will reject it).
 * Throws LibudevFormatError on keys/values that cannot be represented (NUL, '=' in a key, empty key) or
 * when there is no subsystem (udevd does not send those either).
 */
export function encode(props: Map<string, string> | Iterable<readonly [string, string]>, meta: EncodeMeta = {}): Buffer {
  const byKey = props instanceof Map ? props : new Map(props);
  let text = '';
  // forEach: no allocation per entry in V8's interpreter (the daemon runs without the optimizing compiler)
  byKey.forEach((v, k) => {
    if (k === '' || k.includes('=') || k.includes('\0')) throw new LibudevFormatError('BAD_PROPERTY', `invalid property name ${JSON.stringify(k)}`);
    if (v.includes('\0')) throw new LibudevFormatError('BAD_PROPERTY', `property ${k} contains a NUL byte`);
    text += k + '=' + v + '\0';
  });
  const subsystem = meta.subsystem ?? byKey.get('SUBSYSTEM');
  if (!subsystem) throw new LibudevFormatError('NO_SUBSYSTEM', 'event has no SUBSYSTEM');
  const devtype = meta.devtype ?? byKey.get('DEVTYPE');
  let bloomHi = 0;
  let bloomLo = 0;
  for (const t of meta.tags ?? splitTags(byKey.get('TAGS'))) {
    const bits = tagBits(t);
    bloomHi |= bits[0]!;
    bloomLo |= bits[1]!;
  }
  const bodyLen = Buffer.byteLength(text, 'utf8');
  // every byte of it is written below: no zero fill (and a small one comes from Buffer's shared pool)
  const out = Buffer.allocUnsafe(LIBUDEV_HEADER_SIZE + bodyLen);
  out.write(text, LIBUDEV_HEADER_SIZE, 'utf8');

  const h = out;
  for (let i = 0; i < LIBUDEV_PREFIX.length; i++) h[i] = LIBUDEV_PREFIX.charCodeAt(i);
  h[LIBUDEV_PREFIX.length] = 0;
  // byte by byte: Buffer's writeUInt32* validate their arguments through wrappers that allocate on every call
  be32(h, 8, LIBUDEV_MAGIC);
  host32(h, 12, LIBUDEV_HEADER_SIZE);
  host32(h, 16, LIBUDEV_HEADER_SIZE);
  host32(h, 20, bodyLen);
  be32(h, 24, hashOf(subsystem));
  be32(h, 28, devtype ? hashOf(devtype) : 0);
  be32(h, 32, bloomHi);
  be32(h, 36, bloomLo);
  return out;
}

function be32(b: Buffer, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

function host32(b: Buffer, off: number, v: number): void {
  if (!HOST_LE) return be32(b, off, v);
  b[off] = v & 0xff;
  b[off + 1] = (v >>> 8) & 0xff;
  b[off + 2] = (v >>> 16) & 0xff;
  b[off + 3] = v >>> 24;
}

/** Subsystems, devtypes and tags are a few dozen strings, hashed for every broadcast: each is hashed once. */
const hashes = new Map<string, number>();
const blooms = new Map<string, Uint32Array>();
const MAX_CACHED = 4096;

function hashOf(s: string): number {
  let h = hashes.get(s);
  if (h === undefined) {
    if (hashes.size >= MAX_CACHED) hashes.clear();
    hashes.set(s, (h = murmurhash2(s)));
  }
  return h;
}

/** A tag's bloom bits as [upper 32, lower 32] (tagBloom without BigInt). */
function tagBits(tag: string): Uint32Array {
  let b = blooms.get(tag);
  if (b === undefined) {
    const bits = tagBloom(tag);
    b = Uint32Array.of(Number(bits >> 32n), Number(bits & 0xffffffffn));
    if (blooms.size >= MAX_CACHED) blooms.clear();
    blooms.set(tag, b);
  }
  return b;
}

export interface LibudevMessage extends Uevent {
  headerSize: number;
  propertiesOff: number;
  propertiesLen: number;
  subsystemHash: number;
  devtypeHash: number;
  tagBloom: bigint;
}

/** True if the buffer starts with the "libudev\0" prefix (whatever follows). */
export function isLibudevMessage(buf: Buffer): boolean {
  return buf.length >= 8 && buf.toString('latin1', 0, 8) === 'libudev\0';
}

/**
 * Decodes and validates a libudev broadcast: prefix, magic (network order), offsets, properties and the keys
 * every event must carry (ACTION, DEVPATH, SUBSYSTEM, SEQNUM — what sd-device's device_verify() demands).
 * Returns a LibudevFormatError (or UeventError for bad properties) instead of throwing.
 */
export function decode(buf: Buffer): LibudevMessage | LibudevFormatError | UeventError {
  // sd-device rejects anything under 32 bytes; our fixed header needs 40 before reading the filter fields.
  if (buf.length < LIBUDEV_HEADER_SIZE) return new LibudevFormatError('TOO_SHORT', `message of ${buf.length} bytes is shorter than the ${LIBUDEV_HEADER_SIZE}-byte header`);
  if (buf.length > LIBUDEV_MAX_MESSAGE) return new LibudevFormatError('TOO_LONG', `message of ${buf.length} bytes exceeds ${LIBUDEV_MAX_MESSAGE}`);
  if (!isLibudevMessage(buf)) return new LibudevFormatError('NOT_LIBUDEV', 'missing "libudev" prefix');
  const magic = buf.readUInt32BE(8);
  if (magic !== LIBUDEV_MAGIC) return new LibudevFormatError('BAD_MAGIC', `bad magic 0x${magic.toString(16)} (expected 0x${LIBUDEV_MAGIC.toString(16)})`);
  const host = (off: number) => (HOST_LE ? buf.readUInt32LE(off) : buf.readUInt32BE(off));
  const headerSize = host(12);
  const propertiesOff = host(16);
  const propertiesLen = host(20);
  if (propertiesOff < 12 || propertiesOff >= buf.length) return new LibudevFormatError('BAD_OFFSETS', `properties_off ${propertiesOff} outside the ${buf.length}-byte message`);
  // Receivers read from properties_off to the end of the datagram; a properties_len that does not fit is a lie.
  if (propertiesOff + propertiesLen > buf.length) return new LibudevFormatError('BAD_OFFSETS', `properties_off ${propertiesOff} + properties_len ${propertiesLen} exceed ${buf.length} bytes`);
  const props = parseNulProperties(buf, propertiesOff, buf.length);
  if (props instanceof UeventError) return props;
  const req = checkRequiredKeys(props);
  if (req instanceof UeventError) return req;
  return {
    ...req,
    properties: props,
    headerSize,
    propertiesOff,
    propertiesLen,
    subsystemHash: buf.readUInt32BE(24),
    devtypeHash: buf.readUInt32BE(28),
    tagBloom: (BigInt(buf.readUInt32BE(32)) << 32n) | BigInt(buf.readUInt32BE(36)),
  };
}

/** A subsystem[/devtype] match as given to `monitor -s`. */
export interface SubsystemMatch {
  subsystem: string;
  devtype?: string;
}

/** The header-only filter that sd-device compiles to BPF: true when the message may match. */
export function headerMayMatch(msg: Pick<LibudevMessage, 'subsystemHash' | 'devtypeHash' | 'tagBloom'>, subsystems: SubsystemMatch[], tags: string[]): boolean {
  if (tags.length > 0 && !tags.some((t) => (msg.tagBloom & tagBloom(t)) === tagBloom(t))) return false;
  if (subsystems.length > 0) {
    return subsystems.some((s) => msg.subsystemHash === murmurhash2(s.subsystem) && (s.devtype === undefined || msg.devtypeHash === murmurhash2(s.devtype)));
  }
  return true;
}
