import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  decode,
  encode,
  headerMayMatch,
  isLibudevMessage,
  LIBUDEV_HEADER_SIZE,
  LIBUDEV_MAGIC,
  LibudevFormatError,
  murmurhash2,
  splitTags,
  tagBloom,
  tagsBloom,
  type LibudevMessage,
} from '../../src/netlink/libudev-format.js';
import { parseUevent, UeventError, type Uevent } from '../../src/netlink/uevent.js';
import { REPO } from '../helpers/reference.js';

function msg(buf: Buffer): LibudevMessage {
  const r = decode(buf);
  if (r instanceof Error) throw r;
  return r;
}

const processed: [string, string][] = [
  ['ACTION', 'add'],
  ['DEVPATH', '/devices/virtual/block/zram7'],
  ['SUBSYSTEM', 'block'],
  ['DEVNAME', '/dev/zram7'],
  ['DEVTYPE', 'disk'],
  ['DISKSEQ', '9'],
  ['SEQNUM', '4711'],
  ['USEC_INITIALIZED', '123456789'],
  ['MAJOR', '253'],
  ['MINOR', '7'],
  ['DEVLINKS', '/dev/disk/by-id/a /dev/disk/by-path/b'],
  ['TAGS', ':systemd:seat:'],
  ['CURRENT_TAGS', ':systemd:'],
];

describe('murmurhash2', () => {
  it('matches SMHasher\'s verification value for MurmurHash2 (0x27864C1E)', () => {
    // Keys {}, {0}, {0,1}, ... hashed with seed 256-i; the 256 results (little endian) hashed with seed 0.
    const key = Buffer.alloc(256);
    const hashes = Buffer.alloc(256 * 4);
    for (let i = 0; i < 256; i++) {
      key[i] = i;
      hashes.writeUInt32LE(murmurhash2(key.subarray(0, i), 256 - i), i * 4);
    }
    expect(murmurhash2(hashes, 0)).toBe(0x27864c1e);
  });

  it('hashes strings as their UTF-8 bytes, seed 0 by default, unsigned', () => {
    expect(murmurhash2('')).toBe(0);
    expect(murmurhash2('block')).toBe(murmurhash2(Buffer.from('block')));
    expect(murmurhash2('block')).not.toBe(murmurhash2('block', 1));
    for (const s of ['a', 'ab', 'abc', 'abcd', 'abcde', 'usb_device', 'systemd']) {
      const h = murmurhash2(s);
      expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
    }
  });
});

describe('tag bloom filter', () => {
  it('sets at most 4 bits per tag, taken from the hash', () => {
    for (const t of ['systemd', 'seat', 'uaccess', 'x']) {
      const b = tagBloom(t);
      const bits = b.toString(2).split('').filter((c) => c === '1').length;
      expect(bits).toBeGreaterThanOrEqual(1);
      expect(bits).toBeLessThanOrEqual(4);
      const h = murmurhash2(t);
      for (const sh of [0, 6, 12, 18]) expect((b >> BigInt((h >>> sh) & 63)) & 1n).toBe(1n);
    }
    expect(tagsBloom(['systemd', 'seat'])).toBe(tagBloom('systemd') | tagBloom('seat'));
    expect(tagsBloom([])).toBe(0n);
  });

  it('splitTags reads ":a:b:" lists', () => {
    expect(splitTags(':systemd:seat:')).toEqual(['systemd', 'seat']);
    expect(splitTags('')).toEqual([]);
    expect(splitTags(undefined)).toEqual([]);
  });
});

describe('encode', () => {
  const buf = encode(processed);

  it('writes the header fields at their offsets and byte orders', () => {
    expect(buf.toString('latin1', 0, 8)).toBe('libudev\0');
    expect(buf.readUInt32BE(8)).toBe(LIBUDEV_MAGIC);
    expect([...buf.subarray(8, 12)]).toEqual([0xfe, 0xed, 0xca, 0xfe]);
    expect(buf.readUInt32LE(12)).toBe(LIBUDEV_HEADER_SIZE); // host order (x86: little endian)
    expect(buf.readUInt32LE(16)).toBe(40);
    expect(buf.readUInt32LE(20)).toBe(buf.length - 40);
    expect(buf.readUInt32BE(24)).toBe(murmurhash2('block'));
    expect(buf.readUInt32BE(28)).toBe(murmurhash2('disk'));
    const bloom = tagsBloom(['systemd', 'seat']);
    expect(buf.readUInt32BE(32)).toBe(Number(bloom >> 32n));
    expect(buf.readUInt32BE(36)).toBe(Number(bloom & 0xffffffffn));
  });

  it('writes the properties as a NUL-separated list in the given order', () => {
    expect(buf.toString('utf8', 40)).toBe(processed.map(([k, v]) => `${k}=${v}\0`).join(''));
  });

  it('uses devtype hash 0 and an empty bloom without DEVTYPE and TAGS', () => {
    const b = encode(new Map([['ACTION', 'add'], ['DEVPATH', '/devices/virtual/net/x'], ['SUBSYSTEM', 'net'], ['SEQNUM', '5']]));
    expect(b.readUInt32BE(28)).toBe(0);
    expect(b.readUInt32BE(32)).toBe(0);
    expect(b.readUInt32BE(36)).toBe(0);
  });

  it('lets meta override subsystem, devtype and tags', () => {
    const b = encode(processed, { subsystem: 'usb', devtype: 'usb_device', tags: ['uaccess'] });
    expect(b.readUInt32BE(24)).toBe(murmurhash2('usb'));
    expect(b.readUInt32BE(28)).toBe(murmurhash2('usb_device'));
    expect((BigInt(b.readUInt32BE(32)) << 32n) | BigInt(b.readUInt32BE(36))).toBe(tagBloom('uaccess'));
  });

  it('refuses what cannot be represented', () => {
    expect(() => encode([['ACTION', 'add']])).toThrow(LibudevFormatError);
    expect(() => encode([...processed, ['BAD=KEY', 'x']])).toThrow(/invalid property name/);
    expect(() => encode([...processed, ['', 'x']])).toThrow(/invalid property name/);
    expect(() => encode([...processed, ['K', 'a\0b']])).toThrow(/NUL/);
  });
});

describe('decode', () => {
  it('round-trips an encoded event', () => {
    const m = msg(encode(processed));
    expect([...m.properties]).toEqual(processed);
    expect(m.action).toBe('add');
    expect(m.seqnum).toBe(4711);
    expect(m.subsystemHash).toBe(murmurhash2('block'));
    expect(m.devtypeHash).toBe(murmurhash2('disk'));
    expect(m.tagBloom).toBe(tagsBloom(['systemd', 'seat']));
    expect(m.headerSize).toBe(40);
  });

  it('round-trips every captured kernel uevent re-broadcast as a processed event', () => {
    for (const f of ['add-zram.bin', 'remove-bdi.bin', 'add-ifb.bin', 'change-zram.bin']) {
      const ev = parseUevent(readFileSync(join(REPO, 'fixtures', 'uevents', f))) as Uevent;
      expect(ev).not.toBeInstanceOf(UeventError);
      const m = msg(encode(ev.properties));
      expect(m.properties).toEqual(ev.properties);
      expect(m.devpath).toBe(ev.devpath);
    }
  });

  it('honours properties_off from a sender with a longer header', () => {
    const b = encode(processed);
    const longer = Buffer.concat([b.subarray(0, 40), Buffer.alloc(8), b.subarray(40)]);
    longer.writeUInt32LE(48, 12);
    longer.writeUInt32LE(48, 16);
    expect(msg(longer).properties.get('SEQNUM')).toBe('4711');
  });

  const good = encode(processed);
  const mutate = (f: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  const cases: [string, Buffer, string][] = [
    ['too short', good.subarray(0, 39), 'TOO_SHORT'],
    ['kernel message', Buffer.from('add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=7\0'), 'NOT_LIBUDEV'],
    ['magic in host order', mutate((b) => b.writeUInt32LE(LIBUDEV_MAGIC, 8)), 'BAD_MAGIC'],
    ['properties_off past the end', mutate((b) => b.writeUInt32LE(b.length, 16)), 'BAD_OFFSETS'],
    ['properties_off inside the prefix', mutate((b) => b.writeUInt32LE(4, 16)), 'BAD_OFFSETS'],
    ['properties_len too long', mutate((b) => b.writeUInt32LE(b.length, 20)), 'BAD_OFFSETS'],
    ['unterminated properties', (() => {
      const b = Buffer.from(good.subarray(0, good.length - 1));
      b.writeUInt32LE(b.length - 40, 20);
      return b;
    })(), 'NOT_TERMINATED'],
    ['no SEQNUM', encode(processed.filter(([k]) => k !== 'SEQNUM')), 'MISSING_KEY'],
    ['too long', Buffer.concat([good, Buffer.alloc(9000, 0x41), Buffer.from('=\0')]), 'TOO_LONG'],
  ];
  for (const [name, buf, code] of cases) {
    it(`rejects: ${name}`, () => {
      const r = decode(buf);
      expect(r).toBeInstanceOf(Error);
      expect((r as LibudevFormatError | UeventError).code).toBe(code);
    });
  }

  it('isLibudevMessage only looks at the prefix', () => {
    expect(isLibudevMessage(good)).toBe(true);
    expect(isLibudevMessage(Buffer.from('libudev'))).toBe(false);
    expect(isLibudevMessage(Buffer.from('add@/x\0'))).toBe(false);
  });
});

describe('headerMayMatch (the BPF filter sd-device installs)', () => {
  const m = msg(encode(processed));
  it('matches subsystem and devtype by hash', () => {
    expect(headerMayMatch(m, [], [])).toBe(true);
    expect(headerMayMatch(m, [{ subsystem: 'block' }], [])).toBe(true);
    expect(headerMayMatch(m, [{ subsystem: 'block', devtype: 'disk' }], [])).toBe(true);
    expect(headerMayMatch(m, [{ subsystem: 'block', devtype: 'partition' }], [])).toBe(false);
    expect(headerMayMatch(m, [{ subsystem: 'net' }, { subsystem: 'block' }], [])).toBe(true);
    expect(headerMayMatch(m, [{ subsystem: 'net' }], [])).toBe(false);
  });
  it('matches tags through the bloom filter', () => {
    expect(headerMayMatch(m, [], ['seat'])).toBe(true);
    expect(headerMayMatch(m, [], ['nosuchtag', 'systemd'])).toBe(true);
    expect(headerMayMatch(m, [], ['nosuchtag'])).toBe(false);
    expect(headerMayMatch(m, [{ subsystem: 'block' }], ['nosuchtag'])).toBe(false);
  });
});
