// A storm: 10,000 "change" uevents from the real kernel (writes to the uevent files of four zram disks made for the
// test) through a devmaster executable with temp roots. Every kernel event of those disks (recorded on our own
// kernel socket) is broadcast by the daemon exactly once (its libudev broadcasts, counted by seqnum), and the
// database is consistent at the end: each disk's record and link are what its rules give, the record naming the
// last event. Unrelated uevents (other tests on the machine) are filtered out by devpath.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import { escapeLinkName } from '../../src/event/links.js';
import { UeventSocket } from '../../src/netlink/kernel-socket.js';
import { BroadcastListener, sleep, startDevmaster, tempRoots, until, zramAdd, zramRemove, type RunningDevmaster, type TempRoots } from '../daemon/helpers.js';

const EVENTS = Number(process.env.STORM_EVENTS ?? 10_000);
const DISKS = 4;

describe(`a storm of ${EVENTS} change events`, () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  let kernel: UeventSocket;
  const disks: number[] = [];
  const kernelSeqnums = new Map<string, number[]>();

  beforeAll(async () => {
    r = tempRoots('dm-storm-');
    for (let i = 0; i < DISKS; i++) disks.push(zramAdd());
    const names = disks.map((n) => `zram${n}`);
    writeFileSync(join(r.rules, '50-storm.rules'), `SUBSYSTEM=="block", KERNEL=="${names.join('|')}", ENV{DM_STORM}="$env{SEQNUM}", SYMLINK+="storm/%k", TAG+="dmstorm"\n`);
    for (const n of names) kernelSeqnums.set(`/devices/virtual/block/${n}`, []);
    kernel = await UeventSocket.open({ recvBufferSize: 64 << 20 });
    kernel.on('uevent', (ev) => {
      if (ev.action === 'change') kernelSeqnums.get(ev.devpath)?.push(ev.seqnum);
    });
    listener = await BroadcastListener.open();
    dm = await startDevmaster(r, ['--log-level', 'warn']);
  }, 60_000);

  afterAll(async () => {
    kernel?.close();
    listener?.close();
    expect(await dm?.stop()).toBe(0);
    for (const n of disks) zramRemove(n);
    r?.cleanup();
  });

  it('is broadcast once per kernel event, nothing lost, and the database is consistent at the end', async () => {
    const port = ((await controlRequest(r.run, { command: 'status' })) as { broadcaster: { port: number } }).broadcaster.port;
    listener.clear();
    const t0 = performance.now();
    for (let i = 0; i < EVENTS; i++) {
      writeFileSync(`/sys/block/zram${disks[i % DISKS]}/uevent`, 'change');
      if (i % 100 === 99) await sleep(0); // our own sockets read meanwhile
    }
    const total = () => [...kernelSeqnums.values()].reduce((a, s) => a + s.length, 0);
    await until(() => total() >= EVENTS, 30_000, `${EVENTS} kernel events seen`);
    const ours = (b: { senderPort: number; properties: Map<string, string> }) => b.senderPort === port && b.properties.get('ACTION') === 'change' && kernelSeqnums.has(b.properties.get('DEVPATH') ?? '');
    await until(() => listener.events.filter(ours).length >= EVENTS, 60_000, `${EVENTS} broadcasts`);
    await dm.settle();
    await sleep(300); // a duplicate would come now
    const seconds = (performance.now() - t0) / 1000;
    expect(kernel.counters.overflows).toBe(0);
    const broadcast = listener.events.filter(ours);
    const seen = new Map<number, number>();
    for (const b of broadcast) {
      const s = Number(b.properties.get('SEQNUM'));
      seen.set(s, (seen.get(s) ?? 0) + 1);
      expect(b.properties.get('UDEV_WORKER_FAILED')).toBeUndefined();
      expect(b.properties.get('DM_STORM')).toBe(b.properties.get('SEQNUM'));
    }
    const expected = [...kernelSeqnums.values()].flat().sort((a, b) => a - b);
    // (a coldplug elsewhere on the machine may add change events of our disks: they count as the kernel's too)
    expect(expected.length).toBeGreaterThanOrEqual(EVENTS);
    expect(broadcast.length).toBe(expected.length);
    expect([...seen.keys()].sort((a, b) => a - b)).toEqual(expected);
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    const st = (await controlRequest(r.run, { command: 'status' })) as unknown as { netlink: { overflows: number; malformed: number } };
    expect(st.netlink.overflows).toBe(0);
    // (not the queue's size: other tests' uevents reach this daemon too, and may be queued right now)
    // the database: each disk's record is its last event's, its link and tag index are in place
    for (const n of disks) {
      const seqs = kernelSeqnums.get(`/devices/virtual/block/zram${n}`)!;
      const id = `b${readFileSync(`/sys/block/zram${n}/dev`, 'utf8').trim()}`;
      const rec = readFileSync(join(r.run, 'data', id), 'utf8');
      expect(rec).toMatch(new RegExp(`^E:DM_STORM=${Math.max(...seqs)}$`, 'm'));
      expect(rec).toMatch(/^S:storm\/zram\d+$/m);
      expect(readlinkSync(join(r.dev, 'storm', `zram${n}`))).toBe(`../zram${n}`);
      expect(existsSync(join(r.run, 'tags', 'dmstorm', id))).toBe(true);
      expect(readlinkSync(join(r.run, 'links', escapeLinkName(`/dev/storm/zram${n}`), id))).toBe(`0:/dev/zram${n}`);
    }
    // a bound for the test's duration, not a measurement (the machine is shared)
    expect(seconds).toBeLessThan(120);
  }, 180_000);
});
