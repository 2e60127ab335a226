// The libudev broadcast, checked by real libudev clients: Debian's udevadm (sd-device) and pyudev (libudev.so.1).
// Their subsystem/devtype/tag matches run as BPF over our header, so a wrong hash or bloom drops the event.
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { Broadcaster } from '../../src/netlink/broadcaster.js';
import { decode, type LibudevMessage } from '../../src/netlink/libudev-format.js';
import { GROUP_UDEV, UeventNetlink } from '../../src/netlink/socket.js';
import { udevadmPropertyOrder } from '../../src/devctl/monitor.js';
import { debianPython, referenceUdev } from '../helpers/reference.js';
import { collect, eventBlocks, sleep, waitFor, type Collected } from './helpers.js';

const children: Collected[] = [];
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) await c.stop();
  for (const c of closers.splice(0)) c();
});

const TAG = `dmtest${process.pid}`;

function event(name: string, seqnum: number, extra: [string, string][] = []): [string, string][] {
  return [
    ['ACTION', 'add'],
    ['DEVPATH', `/devices/virtual/block/${name}`],
    ['SUBSYSTEM', 'block'],
    ['DEVNAME', `/dev/${name}`],
    ['DEVTYPE', 'disk'],
    ['SEQNUM', String(seqnum)],
    ['USEC_INITIALIZED', '1234567'],
    ['ID_FS_TYPE', 'ext4'],
    ['MAJOR', '253'],
    ['MINOR', '99'],
    ['DEVLINKS', `/dev/disk/by-id/${name}`],
    ['TAGS', `:${TAG}:`],
    ['CURRENT_TAGS', `:${TAG}:`],
    ...extra,
  ];
}

async function broadcaster(): Promise<Broadcaster> {
  const b = await Broadcaster.open();
  closers.push(() => b.close());
  return b;
}

describe('broadcast in libudev format', () => {
  it('is decoded by our own udev-group listener with sender port and group intact', async () => {
    const rx = await UeventNetlink.open({ groups: [GROUP_UDEV] });
    closers.push(() => rx.close());
    const got: { m: LibudevMessage; port: number; groups: number }[] = [];
    rx.raw.on('message', (buf, rinfo) => {
      const m = decode(buf);
      if (!(m instanceof Error) && m.properties.get('TAGS') === `:${TAG}:`) got.push({ m, port: rinfo.port, groups: rinfo.groups });
    });
    const b = await broadcaster();
    const props = event(`dmself${process.pid}`, 101);
    const n = await b.broadcast(props);
    expect(n).toBeGreaterThan(40);
    const r = await waitFor(() => got[0], 'our broadcast');
    expect([...r.m.properties]).toEqual(props);
    expect(r.port).toBe(b.port);
    expect(r.groups).toBe(GROUP_UDEV);
    expect(b.counters).toEqual({ sent: 1, failed: 0, bytes: n });
  });

  it('holds the datagrams of a batch and sends them in order at release', async () => {
    const rx = await UeventNetlink.open({ groups: [GROUP_UDEV] });
    closers.push(() => rx.close());
    const got: string[] = [];
    rx.raw.on('message', (buf) => {
      const m = decode(buf);
      if (!(m instanceof Error) && m.properties.get('TAGS') === `:${TAG}:`) got.push(m.properties.get('SEQNUM')!);
    });
    const b = await broadcaster();
    b.hold();
    const sizes = [301, 302, 303].map((s) => b.broadcast(event(`dmheld${process.pid}`, s)));
    expect(sizes.every((n) => typeof n === 'number' && n > 40)).toBe(true);
    expect(await b.broadcast([['ACTION', 'add']])).toBe(0); // still refused at once, not held
    await sleep(200);
    expect(got).toEqual([]);
    expect(b.counters.sent).toBe(0);
    b.release();
    await waitFor(() => got.length === 3, 'the held broadcasts');
    expect(got).toEqual(['301', '302', '303']);
    expect(b.counters).toEqual({ sent: 3, failed: 1, bytes: (sizes as number[]).reduce((a, n) => a + n, 0) });
    // released: the next one goes out at once
    b.broadcast(event(`dmheld${process.pid}`, 304));
    expect(b.counters.sent).toBe(4);
  });

  it('counts events that cannot be encoded instead of throwing', async () => {
    const b = await broadcaster();
    expect(await b.broadcast([['ACTION', 'add']])).toBe(0);
    expect(b.counters.failed).toBe(1);
  });

  it("is printed by Debian's udevadm monitor --udev --property, through its BPF subsystem/devtype/tag filters", async () => {
    const { udevadm } = referenceUdev();
    const mon = collect(udevadm, ['monitor', '--udev', '--property', '--subsystem-match=block/disk', `--tag-match=${TAG}`]);
    children.push(mon);
    await waitFor(() => /UDEV - the event.*\n\n/.test(mon.stdout()), 'udevadm monitor header', 15_000);
    const b = await broadcaster();
    const name = `dmudevadm${process.pid}`;
    // Not matching: wrong devtype, then no tag, then another subsystem. Only the last one must show.
    await b.broadcast(event(`${name}p1`, 201, []).map(([k, v]) => [k, k === 'DEVTYPE' ? 'partition' : v] as [string, string]));
    await b.broadcast(event(`${name}x`, 202).filter(([k]) => k !== 'TAGS' && k !== 'CURRENT_TAGS'));
    await b.broadcast(event(`${name}n`, 203).map(([k, v]) => [k, k === 'SUBSYSTEM' ? 'net' : v] as [string, string]));
    const props = event(name, 204);
    await b.broadcast(props);
    await waitFor(() => mon.stdout().includes(`/devices/virtual/block/${name} (block)`), 'the event in udevadm output');
    await sleep(200);
    const blocks = eventBlocks(mon.stdout());
    expect(blocks).toHaveLength(1);
    const [first, ...rest] = blocks[0]!.split('\n');
    expect(first).toMatch(new RegExp(`^UDEV  \\[\\d+\\.\\d{6}\\] add      /devices/virtual/block/${name} \\(block\\)$`));
    expect(rest).toEqual(udevadmPropertyOrder(new Map(props)).map(([k, v]) => `${k}=${v}`));
  });

  it("is received by Debian's pyudev (libudev.so.1) with its properties, tags and filters", async () => {
    const py = debianPython();
    const dir = mkdtempSync(join(tmpdir(), 'dm-pyudev-'));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const script = join(dir, 'mon.py');
    writeFileSync(
      script,
      `import json, sys, pyudev
ctx = pyudev.Context()
mon = pyudev.Monitor.from_netlink(ctx, 'udev')
mon.filter_by('block', 'disk')
mon.filter_by_tag(sys.argv[1])
mon.start()
print('READY', flush=True)
dev = mon.poll(timeout=20)
if dev is None:
    print('TIMEOUT', flush=True); sys.exit(2)
print(json.dumps({'action': dev.action, 'devpath': dev.device_path, 'subsystem': dev.subsystem,
                  'devtype': dev.device_type, 'seqnum': dev.sequence_number, 'devnode': dev.device_node,
                  'tags': sorted(t for t in dev.tags if t), 'properties': dict(dev.properties),
                  'initialized': dev.is_initialized}), flush=True)
`,
    );
    const mon = collect(py, [script, TAG]);
    children.push(mon);
    await waitFor(() => mon.stdout().includes('READY'), 'pyudev monitor', 15_000);
    const b = await broadcaster();
    const name = `dmpyudev${process.pid}`;
    await b.broadcast(event(`${name}x`, 301).filter(([k]) => k !== 'TAGS' && k !== 'CURRENT_TAGS')); // filtered out
    const props = event(name, 302);
    await b.broadcast(props);
    const line = await waitFor(() => mon.stdout().split('\n').find((l) => l.startsWith('{')), 'pyudev output');
    const got = JSON.parse(line);
    expect(got.devpath).toBe(`/devices/virtual/block/${name}`);
    expect(got.action).toBe('add');
    expect(got.subsystem).toBe('block');
    expect(got.devtype).toBe('disk');
    expect(got.seqnum).toBe(302);
    expect(got.devnode).toBe(`/dev/${name}`);
    expect(got.tags).toEqual([TAG]);
    expect(got.initialized).toBe(true);
    expect(got.properties).toEqual(Object.fromEntries(props));
  });
});
