// devctl monitor: formatting units, then real kernel events side by side with Debian's udevadm monitor.
import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatEventJson,
  formatEventLine,
  formatEventText,
  parseSubsystemMatch,
  passesFilter,
  udevadmPropertyOrder,
} from '../../src/devctl/monitor.js';
import { Broadcaster } from '../../src/netlink/broadcaster.js';
import { parseUevent, type Uevent } from '../../src/netlink/uevent.js';
import { REPO, referenceUdev } from '../helpers/reference.js';
import { collect, devctl, eventBlocks, sleep, stripTimestamps, timestampOf, waitFor, waitForMembership, zramAdd, zramRemove, type Collected } from './helpers.js';

const fixture = (f: string) => parseUevent(readFileSync(join(REPO, 'fixtures', 'uevents', f))) as Uevent;

const children: Collected[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await c.stop();
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c();
    } catch {
      /* best effort */
    }
  }
});

function newZram(): number {
  const id = zramAdd();
  cleanups.push(() => zramRemove(id));
  return id;
}

async function broadcaster(): Promise<Broadcaster> {
  const b = await Broadcaster.open();
  cleanups.push(() => b.close());
  return b;
}

describe('monitor formatting', () => {
  it('prints udevadm\'s "%-6s[%lu.%06lu] %-8s %s (%s)" line', () => {
    const ev = fixture('add-zram.bin');
    expect(formatEventLine('kernel', 12_000_034n, ev)).toBe(`KERNEL[12.000034] add      ${ev.devpath} (block)`);
    expect(formatEventLine('udev', 5n, { action: 'remove', devpath: '/devices/x', subsystem: 'net' })).toBe('UDEV  [0.000005] remove   /devices/x (net)');
  });

  it('orders properties as sd-device rebuilds them: /dev/ DEVNAME, MAJOR/MINOR then links and tags last', () => {
    const ev = fixture('add-zram.bin');
    const order = udevadmPropertyOrder(ev.properties);
    expect(order.map(([k]) => k)).toEqual(['ACTION', 'DEVPATH', 'SUBSYSTEM', 'DEVNAME', 'DEVTYPE', 'DISKSEQ', 'SEQNUM', 'MAJOR', 'MINOR']);
    expect(Object.fromEntries(order).DEVNAME).toBe(`/dev/${ev.properties.get('DEVNAME')}`);
    const udev = new Map([['TAGS', ':a:'], ['ACTION', 'add'], ['DEVLINKS', '/dev/l'], ['MINOR', '1'], ['MAJOR', '8'], ['CURRENT_TAGS', '::'], ['X', 'y']]);
    expect(udevadmPropertyOrder(udev)).toEqual([['ACTION', 'add'], ['X', 'y'], ['MAJOR', '8'], ['MINOR', '1'], ['DEVLINKS', '/dev/l'], ['TAGS', ':a:']]);
    const text = formatEventText('kernel', 1_000_000n, ev, true);
    expect(text.endsWith('\nMINOR=' + ev.properties.get('MINOR') + '\n\n')).toBe(true);
    expect(formatEventText('kernel', 1_000_000n, ev, false).split('\n')).toHaveLength(2);
  });

  it('emits one JSON object per line with the wire properties', () => {
    const ev = fixture('add-ifb.bin');
    const line = formatEventJson('kernel', 42n, ev);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    const o = JSON.parse(line);
    expect(o).toMatchObject({ source: 'kernel', usec: 42, action: 'add', devpath: ev.devpath, subsystem: 'net', seqnum: ev.seqnum });
    expect(Object.keys(o.properties)).toEqual([...ev.properties.keys()]);
  });

  it('parses -s SUBSYSTEM[/DEVTYPE] and filters like sd-device', () => {
    expect(parseSubsystemMatch('block')).toEqual({ subsystem: 'block' });
    expect(parseSubsystemMatch('usb/usb_device')).toEqual({ subsystem: 'usb', devtype: 'usb_device' });
    expect(() => parseSubsystemMatch('/disk')).toThrow(/empty subsystem/);
    const p = fixture('add-zram.bin').properties;
    expect(passesFilter({ subsystems: [], tags: [] }, p)).toBe(true);
    expect(passesFilter({ subsystems: [{ subsystem: 'block', devtype: 'disk' }], tags: [] }, p)).toBe(true);
    expect(passesFilter({ subsystems: [{ subsystem: 'block', devtype: 'partition' }], tags: [] }, p)).toBe(false);
    expect(passesFilter({ subsystems: [{ subsystem: 'net' }, { subsystem: 'block' }], tags: [] }, p)).toBe(true);
    expect(passesFilter({ subsystems: [], tags: ['systemd'] }, p)).toBe(false);
    expect(passesFilter({ subsystems: [], tags: ['x', 'systemd'] }, new Map([...p, ['TAGS', ':systemd:']]))).toBe(true);
  });
});

describe('devctl monitor on real events', () => {
  it("prints the same lines as Debian's udevadm monitor -p for a zram hot_add/hot_remove and a broadcast", async () => {
    const { udevadm } = referenceUdev();
    const ref = collect(udevadm, ['monitor', '--property']);
    const ours = devctl(['monitor', '--property']);
    children.push(ref, ours);
    const header = /^monitor will print the received events for:\nUDEV - the event which udev sends out after rule processing\nKERNEL - the kernel uevent\n\n/;
    await waitFor(() => header.test(ref.stdout()), 'udevadm monitor header', 15_000);
    await waitFor(() => header.test(ours.stdout()), 'devctl monitor header', 30_000);

    const seqnum0 = Number(readFileSync('/sys/kernel/uevent_seqnum', 'utf8'));
    const id = newZram();
    const devpath = `/devices/virtual/block/zram${id}`;
    const b = await broadcaster();
    await b.broadcast([
      ['ACTION', 'add'],
      ['DEVPATH', devpath],
      ['SUBSYSTEM', 'block'],
      ['DEVNAME', `/dev/zram${id}`],
      ['DEVTYPE', 'disk'],
      ['SEQNUM', '987654'],
      ['USEC_INITIALIZED', '42'],
      ['MAJOR', '253'],
      ['MINOR', String(id)],
      ['TAGS', ':systemd:'],
      ['CURRENT_TAGS', ':systemd:'],
    ]);
    zramRemove(id);
    const done = (c: Collected) => c.stdout().includes(`remove   ${devpath} (block)`) && c.stdout().includes(`UDEV  [`);
    await waitFor(() => done(ref) && done(ours), 'both monitors to see the remove', 15_000);
    await sleep(300);
    await Promise.all([ours.stop(), ref.stop()]);

    // Our device's blocks: kernel events after seqnum0 up to our removal (zram ids are reused by concurrent
    // tests before and after us), and our own broadcast.
    const seq = (blk: string) => Number(/^SEQNUM=(\d+)$/m.exec(blk)?.[1] ?? 0);
    const mine = (text: string) => {
      const blocks = eventBlocks(text).filter((blk) => {
        const first = blk.split('\n')[0]!;
        return first.includes(`/zram${id} (`) || new RegExp(`/bdi/\\d+:${id} \\(`).test(first);
      });
      const removal = blocks.find((blk) => blk.startsWith('KERNEL') && blk.includes(` remove   ${devpath} (`) && seq(blk) > seqnum0);
      // (Another daemon under test may broadcast processed events for our zram too: keep only our broadcast.)
      return blocks.filter((blk) => (blk.startsWith('UDEV') ? seq(blk) === 987654 : seq(blk) > seqnum0 && seq(blk) <= seq(removal ?? '')));
    };
    const refBlocks = mine(ref.stdout());
    const ourBlocks = mine(ours.stdout());
    // kernel: bdi add, zram add, bdi remove, zram remove; udev: our broadcast
    expect(refBlocks.length).toBe(5);
    expect(ourBlocks.map(stripTimestamps)).toEqual(refBlocks.map(stripTimestamps));
    // Same clock (CLOCK_MONOTONIC): the two programs stamp each event within a second of each other.
    for (let i = 0; i < refBlocks.length; i++) expect(Math.abs(timestampOf(ourBlocks[i]!) - timestampOf(refBlocks[i]!))).toBeLessThan(1_000_000);
  });

  it('--json prints valid JSON, one event per line, filtered by subsystem', async () => {
    const mon = devctl(['monitor', '--json', '--kernel', '--subsystem-match', 'block']);
    children.push(mon);
    await waitForMembership(mon.proc.pid!, [1]);
    const id = newZram();
    const devpath = `/devices/virtual/block/zram${id}`;
    zramRemove(id);
    await waitFor(() => mon.stdout().includes(`"action":"remove","devpath":"${devpath}"`), 'the JSON remove event');
    await mon.stop();
    const lines = mon.stdout().split('\n').filter((l) => l !== '');
    const objs = lines.map((l) => JSON.parse(l));
    expect(objs.every((o) => o.source === 'kernel' && o.subsystem === 'block')).toBe(true);
    const add = objs.find((o) => o.devpath === devpath && o.action === 'add');
    expect(add).toBeDefined();
    expect(add.properties.DEVNAME).toBe(`zram${id}`);
    expect(add.properties.SEQNUM).toBe(String(add.seqnum));
    expect(Number.isInteger(add.usec) && add.usec > 0).toBe(true);
  });

  it('applies -s and -t to broadcasts; kernel uevents never carry tags', async () => {
    const tag = `dmmon${process.pid}`;
    const mon = devctl(['monitor', '-k', '-u', '-p', '-s', 'block/disk', '-t', tag]);
    children.push(mon);
    await waitFor(() => /KERNEL - the kernel uevent\n\n/.test(mon.stdout()), 'devctl monitor header', 30_000);
    const b = await broadcaster();
    const base = (name: string, extra: [string, string][]): [string, string][] => [
      ['ACTION', 'change'],
      ['DEVPATH', `/devices/virtual/block/${name}`],
      ['SUBSYSTEM', 'block'],
      ['DEVTYPE', 'disk'],
      ['SEQNUM', '77'],
      ...extra,
    ];
    const id = newZram(); // a kernel block/disk event: filtered out by the tag match
    await b.broadcast(base(`${tag}a`, [])); // no tag
    await b.broadcast(base(`${tag}b`, [['TAGS', ':other:']]));
    await b.broadcast(base(`${tag}c`, [['TAGS', `:${tag}:`]]).map(([k, v]) => [k, k === 'DEVTYPE' ? 'partition' : v] as [string, string]));
    await b.broadcast(base(`${tag}d`, [['TAGS', `:other:${tag}:`]]));
    await waitFor(() => mon.stdout().includes(`${tag}d (block)`), 'the matching broadcast');
    await sleep(300);
    await mon.stop();
    const blocks = eventBlocks(mon.stdout());
    expect(blocks.map((x) => x.split('\n')[0]!.replace(/\[.*?\]/, '[T]'))).toEqual([`UDEV  [T] change   /devices/virtual/block/${tag}d (block)`]);
    expect(blocks[0]).toContain(`TAGS=:other:${tag}:`);
    expect(mon.stdout()).not.toContain(`zram${id}`);
  });

  it('rejects bad arguments with a clear message', async () => {
    for (const [args, msg] of [
      [['monitor', '-s', '/disk'], /empty subsystem/],
      [['monitor', '--bogus'], /bogus/],
      [['monitor', '-t', 'a:b'], /invalid --tag-match/],
    ] as [string[], RegExp][]) {
      const c = devctl(args);
      const r = await c.exited;
      expect(r.code).toBe(1);
      expect(c.stderr()).toMatch(msg);
    }
  });
});
