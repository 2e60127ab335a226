import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatUevent, isSaneDevpath, parseUevent, UeventError, MAX_UEVENT_SIZE, type Uevent } from '../../src/netlink/uevent.js';
import { REPO } from '../helpers/reference.js';

const FIX = join(REPO, 'fixtures', 'uevents');
const fixture = (name: string) => readFileSync(join(FIX, name));

function ok(buf: Buffer): Uevent {
  const r = parseUevent(buf);
  if (r instanceof UeventError) throw r;
  return r;
}

function bad(buf: Buffer): UeventError {
  const r = parseUevent(buf);
  expect(r).toBeInstanceOf(UeventError);
  return r as UeventError;
}

const raw = (s: string) => Buffer.from(s, 'latin1');

describe('parseUevent on captured kernel uevents', () => {
  it('parses every fixture and agrees with its header', () => {
    const files = readdirSync(FIX).filter((f) => f.endsWith('.bin'));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const f of files) {
      const buf = fixture(f);
      const ev = ok(buf);
      const header = buf.toString('utf8', 0, buf.indexOf(0));
      expect(header).toBe(`${ev.action}@${ev.devpath}`);
      expect(f.startsWith(ev.action + '-')).toBe(true);
      expect(ev.properties.get('SEQNUM')).toBe(String(ev.seqnum));
    }
  });

  it('keeps the kernel order and every key of a block add', () => {
    const ev = ok(fixture('add-zram.bin'));
    expect(ev.action).toBe('add');
    expect(ev.subsystem).toBe('block');
    expect(ev.devpath).toMatch(/^\/devices\/virtual\/block\/zram\d+$/);
    expect([...ev.properties.keys()]).toEqual(['ACTION', 'DEVPATH', 'SUBSYSTEM', 'MAJOR', 'MINOR', 'DEVNAME', 'DEVTYPE', 'DISKSEQ', 'SEQNUM']);
    expect(ev.properties.get('DEVNAME')).toMatch(/^zram\d+$/);
    expect(ev.seqnum).toBeGreaterThan(0);
  });

  it('parses net devices and synthetic change events', () => {
    const net = ok(fixture('add-ifb.bin'));
    expect(net.subsystem).toBe('net');
    expect(net.properties.get('INTERFACE')).toMatch(/^dmfx/);
    expect(Number(net.properties.get('IFINDEX'))).toBeGreaterThan(0);
    const change = ok(fixture('change-zram.bin'));
    expect(change.action).toBe('change');
    expect(change.properties.get('SYNTH_UUID')).toBe('0');
  });

  it('round-trips through formatUevent byte for byte', () => {
    for (const f of ['add-zram.bin', 'remove-ifb.bin', 'change-zram.bin']) {
      const buf = fixture(f);
      const ev = ok(buf);
      expect(formatUevent(ev.action, ev.devpath, ev.properties).equals(buf)).toBe(true);
    }
  });
});

describe('parseUevent rejects malformed buffers with a typed error', () => {
  const good = 'add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=7\0';
  it('accepts the minimal valid message', () => {
    expect(ok(raw(good)).seqnum).toBe(7);
  });

  const cases: [string, string | Buffer, UeventError['code']][] = [
    ['empty', '', 'TOO_SHORT'],
    ['tiny', 'a@/\0', 'TOO_SHORT'],
    ['no NUL at all', 'add@/devices/x ACTION=add', 'NOT_TERMINATED'],
    ['header only', 'add@/devices/x\0', 'TOO_SHORT'],
    ['libudev message', 'libudev\0\xfe\xed\xca\xfe' + '\0'.repeat(40), 'LIBUDEV'],
    ['header without @/', 'add/devices/x\0ACTION=add\0', 'BAD_HEADER'],
    ['header with empty action', '@/devices/x\0ACTION=add\0', 'BAD_HEADER'],
    ['unknown action', 'explode@/devices/x\0ACTION=explode\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=7\0', 'BAD_ACTION'],
    ['property without =', 'add@/devices/x\0ACTION=add\0JUNK\0', 'BAD_PROPERTY'],
    ['empty property', 'add@/devices/x\0ACTION=add\0\0SEQNUM=1\0', 'BAD_PROPERTY'],
    ['empty key', 'add@/devices/x\0=v\0', 'BAD_PROPERTY'],
    ['last property unterminated', 'add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=7', 'NOT_TERMINATED'],
    ['missing SEQNUM', 'add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0', 'MISSING_KEY'],
    ['missing SUBSYSTEM', 'add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SEQNUM=7\0', 'MISSING_KEY'],
    ['missing ACTION', 'add@/devices/x\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=7\0', 'MISSING_KEY'],
    ['zero SEQNUM', 'add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=0\0', 'BAD_SEQNUM'],
    ['non-numeric SEQNUM', 'add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=12a\0', 'BAD_SEQNUM'],
    ['huge SEQNUM', 'add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=99999999999999999999\0', 'BAD_SEQNUM'],
    ['action mismatch', 'add@/devices/x\0ACTION=remove\0DEVPATH=/devices/x\0SUBSYSTEM=s\0SEQNUM=7\0', 'MISMATCH'],
    ['devpath mismatch', 'add@/devices/x\0ACTION=add\0DEVPATH=/devices/y\0SUBSYSTEM=s\0SEQNUM=7\0', 'MISMATCH'],
    ['devpath escaping sysfs', 'add@/devices/../../etc\0ACTION=add\0DEVPATH=/devices/../../etc\0SUBSYSTEM=s\0SEQNUM=7\0', 'BAD_DEVPATH'],
    ['too long', Buffer.concat([raw(good), Buffer.alloc(MAX_UEVENT_SIZE, 0x41)]), 'TOO_LONG'],
  ];
  for (const [name, input, code] of cases) {
    it(name, () => {
      const e = bad(typeof input === 'string' ? raw(input) : input);
      expect(e.code).toBe(code);
      expect(e.message.length).toBeGreaterThan(5);
    });
  }

  it('never throws on random mutations of real uevents', () => {
    const seeds = readdirSync(FIX)
      .filter((f) => f.endsWith('.bin'))
      .map((f) => fixture(f));
    let state = 12345;
    const rnd = (n: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    let valid = 0;
    let invalid = 0;
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.from(seeds[rnd(seeds.length)]!);
      const mutated = rnd(3) === 0 ? b.subarray(0, rnd(b.length + 1)) : b;
      for (let k = rnd(4); k >= 0; k--) if (mutated.length) mutated[rnd(mutated.length)] = [0, 0x3d, 0x40, 0x2f, rnd(256)][rnd(5)]!;
      const r = parseUevent(mutated);
      if (r instanceof UeventError) invalid++;
      else {
        valid++;
        expect(r.seqnum).toBeGreaterThan(0);
        expect(isSaneDevpath(r.devpath)).toBe(true);
      }
    }
    expect(valid).toBeGreaterThan(0);
    expect(invalid).toBeGreaterThan(0);
  });
});

describe('isSaneDevpath', () => {
  it('accepts kernel devpaths and rejects traversal', () => {
    expect(isSaneDevpath('/devices/virtual/bdi/253:1')).toBe(true);
    expect(isSaneDevpath('/module/zram')).toBe(true);
    for (const p of ['', '/', 'devices/x', '/devices//x', '/devices/./x', '/devices/..', '/devices/x/']) expect(isSaneDevpath(p)).toBe(false);
  });
});
