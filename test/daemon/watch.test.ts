// OPTIONS+="watch" on the real kernel: the devmaster executable on temp dev/run roots watches the nodes it made
// (with --mknod) for IN_CLOSE_WRITE and synthesizes "change"; nowatch, remove and a restart; BLKRRPART on a
// partitioned loop disk. Other tests may trigger events on every device concurrently: the assertions filter on
// our own devices and use the daemon's own counters (status.watch) for what must NOT happen.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { controlRequest } from '../../src/daemon/control.js';
import type { WatchCounters } from '../../src/daemon/watch.js';
import { Inotify, IN_CLOSE_WRITE, IN_IGNORED, parseInotifyEvents, type InotifyEvent } from '../../src/sys/inotify.js';
import { addProcessedZram, tempRoots, startDevmaster, zramRemove, until, sleep, BroadcastListener, type TempRoots, type RunningDevmaster, type Broadcast, stopAll } from './helpers.js';

type WatchStatus = WatchCounters & { watches: number };

async function status(r: TempRoots): Promise<{ watch: WatchStatus; broadcaster?: { port: number } }> {
  return (await controlRequest(r.run, { command: 'status' }, 5000)) as never;
}

/** Open the node for writing, write a sector at `offset`, close: what mkfs or dd do. */
function writeClose(node: string, offset = 0): void {
  const fd = openSync(node, 'r+');
  try {
    writeSync(fd, Buffer.alloc(512), 0, 512, offset);
  } finally {
    closeSync(fd);
  }
}

function readClose(node: string): void {
  closeSync(openSync(node, 'r'));
}

/** The watch links for device `id`: <run>/watch/<id> → wd and <run>/watch/<wd> → id; undefined when absent. */
function watchOf(r: TempRoots, id: string): number | undefined {
  let wd: string;
  try {
    wd = readlinkSync(join(r.run, 'watch', id));
  } catch {
    return undefined;
  }
  expect(wd).toMatch(/^\d+$/);
  expect(readlinkSync(join(r.run, 'watch', wd))).toBe(id);
  return Number(wd);
}

function devId(sysBlockName: string): string {
  return `b${readFileSync(`/sys/class/block/${sysBlockName}/dev`, 'utf8').trim()}`;
}

describe('Inotify (koffi, libuv-polled fd)', () => {
  it('parses a batch of inotify events, a truncated tail is left out', () => {
    const b = Buffer.alloc(16 + 16 + 8 + 16);
    b.writeInt32LE(3, 0);
    b.writeUInt32LE(IN_CLOSE_WRITE, 4);
    b.writeInt32LE(4, 16);
    b.writeUInt32LE(0x100, 20);
    b.writeUInt32LE(8, 28);
    b.write('ab\0', 32);
    b.writeInt32LE(5, 40);
    b.writeUInt32LE(99, 52); // claims 99 name bytes: truncated
    expect(parseInotifyEvents(b, b.length)).toEqual<InotifyEvent[]>([
      { wd: 3, mask: IN_CLOSE_WRITE, cookie: 0, name: '' },
      { wd: 4, mask: 0x100, cookie: 0, name: 'ab' },
    ]);
  });

  it('reports IN_CLOSE_WRITE after a write-close, nothing after a read-only close, IN_IGNORED on removal; clear errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-inotify-'));
    const seen: InotifyEvent[] = [];
    const errors: Error[] = [];
    const ino = Inotify.open((evs) => seen.push(...evs), (e) => errors.push(e));
    try {
      const f = join(dir, 'node');
      writeFileSync(f, 'x');
      const wd = ino.add(f, IN_CLOSE_WRITE);
      expect(ino.add(f, IN_CLOSE_WRITE)).toBe(wd); // same inode, same handle
      readClose(f);
      await sleep(100);
      expect(seen).toEqual([]);
      writeClose(f);
      await until(() => seen.length > 0, 2000, 'IN_CLOSE_WRITE');
      expect(seen).toEqual([{ wd, mask: IN_CLOSE_WRITE, cookie: 0, name: '' }]);
      seen.length = 0;
      expect(ino.remove(wd)).toBe(true);
      await until(() => seen.some((e) => e.mask & IN_IGNORED), 2000, 'IN_IGNORED');
      expect(ino.remove(wd)).toBe(false);
      expect(() => ino.add(join(dir, 'missing'), IN_CLOSE_WRITE)).toThrow(/^inotify_add_watch .*\/missing: ENOENT$/);
      expect(errors).toEqual([]);
    } finally {
      ino.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => ino.add(dir, IN_CLOSE_WRITE)).toThrow('inotify instance is closed');
  });
});

describe('OPTIONS+="watch" in the daemon (zram, loop)', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  let port = 0;
  const zrams: number[] = [];

  const fromUs = (pred: (b: Broadcast) => boolean) => (b: Broadcast) => b.senderPort === port && pred(b);
  const isEvent = (devname: string, action: string) => (b: Broadcast) => b.properties.get('DEVNAME') === devname && b.properties.get('ACTION') === action;

  async function start(): Promise<void> {
    dm = await startDevmaster(r);
    port = (await status(r)).broadcaster!.port;
  }

  beforeAll(async () => {
    r = tempRoots('dm-watch-');
    writeFileSync(
      join(r.rules, '60-dmwatch.rules'),
      [
        'SUBSYSTEM!="block", GOTO="dmw_end"',
        'KERNEL!="zram*|loop*", GOTO="dmw_end"',
        'OPTIONS+="watch"',
        `TEST=="${r.base}/nowatch-%k", OPTIONS+="nowatch"`,
        'LABEL="dmw_end"',
        '',
      ].join('\n'),
    );
    listener = await BroadcastListener.open();
    await start();
  });

  afterAll(async () => {
    expect(await stopAll(zrams, dm, listener, r)).toBe(0);
  });

  /** A new zram with a 4 MiB disk, processed by the daemon (node made), watched. */
  async function newZram(): Promise<{ name: string; node: string; id: string }> {
    const { name, node, id } = await addProcessedZram(listener, port, r.dev, zrams);
    writeFileSync(`/sys/block/${name}/disksize`, String(4 << 20));
    await dm.settle();
    return { name, node, id };
  }

  it('watches the node after add; a write-close synthesizes "change", after which the node is watched again', async () => {
    const { name, node, id } = await newZram();
    const wd = watchOf(r, id);
    expect(wd).toBeGreaterThan(0);
    expect(readFileSync(join(r.run, 'data', id), 'utf8')).not.toMatch(/^W:/m); // udev 252 writes no W: line
    const before = (await status(r)).watch;

    listener.clear();
    writeClose(node);
    await listener.waitFor(fromUs(isEvent(`/dev/${name}`, 'change')), 10_000, `${name} change broadcast`);
    await dm.settle();
    const after = (await status(r)).watch;
    expect(after.closeWrite).toBe(before.closeWrite + 1);
    // zram cannot be partitioned: BLKRRPART fails, "change" is written for the disk alone
    expect(after.synthesized).toBe(before.synthesized + 1);
    expect(after.rescans).toBe(before.rescans);
    // the change event ended the old watch and began a new one
    const wd2 = watchOf(r, id);
    expect(wd2).toBeGreaterThan(0);
    expect(wd2).not.toBe(wd);
    expect(existsSync(join(r.run, 'watch', String(wd)))).toBe(false);

    // and it works again
    listener.clear();
    writeClose(node);
    await listener.waitFor(fromUs(isEvent(`/dev/${name}`, 'change')), 10_000, `${name} second change broadcast`);
    await dm.settle();
    expect((await status(r)).watch.synthesized).toBe(before.synthesized + 2);
  });

  it('no "change" without a write-close: reading and closing the node is ignored', async () => {
    const { node, id } = await newZram();
    expect(watchOf(r, id)).toBeGreaterThan(0);
    const before = (await status(r)).watch;
    readClose(node);
    readClose(node);
    await sleep(500);
    await dm.settle();
    const after = (await status(r)).watch;
    expect(after.closeWrite).toBe(before.closeWrite);
    expect(after.synthesized).toBe(before.synthesized);
  });

  it('OPTIONS+="nowatch" after "watch" removes the watch; a later event without it adds it back', async () => {
    const { name, node, id } = await newZram();
    const wd = watchOf(r, id)!;
    expect(wd).toBeGreaterThan(0);
    const flag = join(r.base, `nowatch-${name}`);
    writeFileSync(flag, '');
    listener.clear();
    writeFileSync(`/sys/block/${name}/uevent`, 'change');
    await listener.waitFor(fromUs(isEvent(`/dev/${name}`, 'change')), 10_000, `${name} change broadcast`);
    await dm.settle();
    expect(watchOf(r, id)).toBeUndefined();
    expect(existsSync(join(r.run, 'watch', String(wd)))).toBe(false);
    const before = (await status(r)).watch;
    writeClose(node);
    await sleep(500);
    await dm.settle();
    expect((await status(r)).watch.closeWrite).toBe(before.closeWrite);
    expect((await status(r)).watch.synthesized).toBe(before.synthesized);

    unlinkSync(flag);
    listener.clear();
    writeFileSync(`/sys/block/${name}/uevent`, 'change');
    await listener.waitFor(fromUs(isEvent(`/dev/${name}`, 'change')), 10_000, `${name} change broadcast`);
    await dm.settle();
    expect(watchOf(r, id)).toBeGreaterThan(0);
  });

  it('hot_remove drops the watch and its links', async () => {
    const { name, id } = await newZram();
    const wd = watchOf(r, id)!;
    listener.clear();
    zramRemove(Number(name.slice(4)));
    await listener.waitFor(fromUs(isEvent(`/dev/${name}`, 'remove')), 15_000, `${name} remove broadcast`);
    await dm.settle();
    expect(existsSync(join(r.run, 'watch', id))).toBe(false);
    expect(existsSync(join(r.run, 'watch', String(wd)))).toBe(false);
  });

  it('a restarted daemon restores the watches from <run>/watch and synthesizes "change" again', async () => {
    const { name, node, id } = await newZram();
    expect(watchOf(r, id)).toBeGreaterThan(0);
    expect(await dm.stop()).toBe(0);
    // the links outlive the daemon (the kernel dropped the watches with the inotify fd)
    expect(readlinkSync(join(r.run, 'watch', id))).toMatch(/^\d+$/);
    // a saved watch of a device that no longer exists is dropped
    symlinkSync('99999', join(r.run, 'watch', 'b4095:1'));
    symlinkSync('b4095:1', join(r.run, 'watch', '99999'));
    await start();
    const st = (await status(r)).watch;
    expect(st.restored).toBeGreaterThanOrEqual(1);
    expect(watchOf(r, id)).toBeGreaterThan(0);
    expect(existsSync(join(r.run, 'watch', 'b4095:1')) || existsSync(join(r.run, 'watch', '99999'))).toBe(false);
    expect(existsSync(join(r.run, 'watch.old'))).toBe(false);
    listener.clear();
    writeClose(node);
    await listener.waitFor(fromUs(isEvent(`/dev/${name}`, 'change')), 10_000, `${name} change broadcast from the new daemon`);
    await dm.settle();
    expect((await status(r)).watch.synthesized).toBeGreaterThanOrEqual(st.synthesized + 1);
  });

  it('a partitioned loop disk: "change" for the disk and every partition while one is open; BLKRRPART when none is', async () => {
    // No partition table on the image (this kernel may have no table parsers): the partitions are added with
    // BLKPG (addpart), so a successful BLKRRPART finds no table and drops them, on any kernel.
    const img = join(r.base, 'disk.img');
    writeFileSync(img, Buffer.alloc(0));
    execFileSync('truncate', ['-s', '8M', img]);
    const loopDev = execFileSync('losetup', ['--find', '--show', '--partscan', img], { encoding: 'utf8' }).trim();
    const loop = loopDev.slice('/dev/'.length);
    try {
      execFileSync('addpart', [loopDev, '1', '2048', '4096']);
      execFileSync('addpart', [loopDev, '2', '6144', '4096']);
      const [disk, p1, p2] = [loop, `${loop}p1`, `${loop}p2`].map((n) => join(r.dev, n)) as [string, string, string];
      await until(() => existsSync(disk) && existsSync(p1) && existsSync(p2), 15_000, `nodes of ${loop} and its partitions`);
      await dm.settle();
      const id = devId(loop);
      await until(() => watchOf(r, id) !== undefined, 10_000, `watch on ${loop}`);

      // a partition is open: BLKRRPART is refused (EBUSY), "change" goes to the disk and both partitions
      const held = openSync(p1, 'r');
      let before: WatchStatus;
      let after: WatchStatus;
      try {
        before = (await status(r)).watch;
        listener.clear();
        writeClose(disk, 6 << 20);
        for (const n of [loop, `${loop}p1`, `${loop}p2`]) await listener.waitFor(fromUs(isEvent(`/dev/${n}`, 'change')), 10_000, `${n} change`);
        await dm.settle();
        after = (await status(r)).watch;
        expect(after.rescans).toBe(before.rescans);
        expect(after.synthesized).toBe(before.synthesized + 3);
        expect(listener.events.some(fromUs(isEvent(`/dev/${loop}p1`, 'remove')))).toBe(false);
      } finally {
        closeSync(held);
      }

      // nothing open: the table is re-read (the kernel drops both partitions: there is no table), and with no
      // partition left "change" is written for the disk alone
      before = (await status(r)).watch;
      listener.clear();
      writeClose(disk, 6 << 20);
      for (const n of [`${loop}p1`, `${loop}p2`]) await listener.waitFor(fromUs(isEvent(`/dev/${n}`, 'remove')), 10_000, `${n} remove`);
      await listener.waitFor(fromUs(isEvent(`/dev/${loop}`, 'change')), 10_000, `${loop} change`);
      await dm.settle();
      after = (await status(r)).watch;
      expect(after.rescans).toBe(before.rescans + 1);
      expect(after.synthesized).toBe(before.synthesized + 1);
      expect(existsSync(p1) || existsSync(p2)).toBe(false);
      expect(watchOf(r, id)).toBeGreaterThan(0);
    } finally {
      execFileSync('losetup', ['-d', loopDev]);
    }
  });
});
