// udev's whole-disk lock (https://systemd.io/BLOCK_DEVICE_LOCKING): lockWholeDisk's decisions on the fixture
// tree, then the daemon on the real kernel: an event for a zram disk whose node another process holds with an
// exclusive flock waits until the lock is released; a node that cannot be opened fails the event, which is
// broadcast marked as failed (UDEV_WORKER_FAILED, UDEV_WORKER_ERRNO, UDEV_WORKER_ERRNO_NAME) with no rules run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Device } from '../../src/device/device.js';
import { lockWholeDisk, unlockWholeDisk } from '../../src/daemon/disk-lock.js';
import { flock, LOCK_EX, LOCK_NB } from '../../src/sys/file.js';
import { controlRequest } from '../../src/daemon/control.js';
import { addProcessedZram, BroadcastListener, startDevmaster, tempRoots, sleep, type Broadcast, type RunningDevmaster, type TempRoots, stopAll } from './helpers.js';

const FIXTURE = join(import.meta.dirname, '..', '..', 'fixtures', 'sysfs', 'basic', 'sys');

describe('lockWholeDisk', () => {
  let dev: string;
  beforeAll(() => {
    dev = mkdtempSync(join(tmpdir(), 'dm-disklock-'));
  });
  afterAll(() => rmSync(dev, { recursive: true, force: true }));
  const roots = () => ({ sysfs: FIXTURE, dev, run: join(dev, 'run') });
  const sda1 = () => Device.fromSubsystemSysname(roots(), 'block', 'sda1');

  it('locks the whole disk of a partition, shared, and a second shared lock is fine', () => {
    writeFileSync(join(dev, 'sda'), ''); // flock works the same on a stand-in file
    const a = lockWholeDisk(sda1(), 'change', roots());
    expect(a).toMatchObject({ kind: 'locked', devnode: join(dev, 'sda') });
    const b = lockWholeDisk(Device.fromSubsystemSysname(roots(), 'block', 'sda'), 'add', roots());
    expect(b.kind).toBe('locked');
    unlockWholeDisk(a);
    unlockWholeDisk(b);
  });

  it('is busy while another open file holds an exclusive lock, and free again after', () => {
    const fd = openSync(join(dev, 'sda'), 'r');
    expect(flock(fd, LOCK_EX | LOCK_NB)).toBe(0);
    expect(lockWholeDisk(sda1(), 'change', roots())).toEqual({ kind: 'busy', devnode: join(dev, 'sda') });
    closeSync(fd);
    const again = lockWholeDisk(sda1(), 'change', roots());
    expect(again.kind).toBe('locked');
    unlockWholeDisk(again);
  });

  it('takes no lock on remove, for other subsystems, or when the node is absent', () => {
    expect(lockWholeDisk(sda1(), 'remove', roots())).toEqual({ kind: 'none' });
    expect(lockWholeDisk(Device.fromSubsystemSysname(roots(), 'tty', 'ttyS0'), 'add', roots())).toEqual({ kind: 'none' });
    unlinkSync(join(dev, 'sda'));
    expect(lockWholeDisk(sda1(), 'add', roots())).toEqual({ kind: 'none' }); // ENOENT: device absent
  });

  it('fails with the errno when the node cannot be opened for another reason', () => {
    symlinkSync('sda', join(dev, 'sda')); // a loop: ELOOP
    expect(lockWholeDisk(sda1(), 'add', roots())).toMatchObject({ kind: 'error', errno: 40, code: 'ELOOP' });
    unlinkSync(join(dev, 'sda'));
  });
});

describe('whole-disk lock in the daemon (zram)', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  let port = 0;
  const zrams: number[] = [];
  let holder: ChildProcess | undefined;

  const ours = (devname: string, action: string) => (b: Broadcast) =>
    b.senderPort === port && b.properties.get('DEVNAME') === devname && b.properties.get('ACTION') === action;

  beforeAll(async () => {
    r = tempRoots('dm-disklock-');
    writeFileSync(join(r.rules, '60-lock.rules'), 'SUBSYSTEM=="block", KERNEL=="zram*", ENV{DM_LOCK_SEQ}="$env{SEQNUM}", OPTIONS+="watch"\n');
    listener = await BroadcastListener.open();
    dm = await startDevmaster(r);
    port = ((await controlRequest(r.run, { command: 'status' }, 5000)) as { broadcaster: { port: number } }).broadcaster.port;
  });

  afterAll(async () => {
    holder?.kill('SIGKILL');
    expect(await stopAll(zrams, dm, listener, r)).toBe(0);
  });

  async function newZram(): Promise<{ name: string; node: string; db: string }> {
    const { name, node, id } = await addProcessedZram(listener, port, r.dev, zrams);
    return { name, node, db: join(r.run, 'data', id) };
  }

  /** Holds an exclusive flock on `node` (util-linux flock) for `ms`; resolves once the lock is held. */
  function holdLock(node: string, ms: number): Promise<void> {
    holder = spawn('flock', ['-x', node, '-c', `echo locked; sleep ${ms / 1000}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    return new Promise((resolve, reject) => {
      holder!.stdout!.once('data', () => resolve());
      holder!.once('error', reject);
    });
  }

  it('holds an event back while another process locks the disk exclusively, then processes it', async () => {
    const { name, node, db } = await newZram();
    const retriedBefore = ((await controlRequest(r.run, { command: 'status' }, 5000)) as { queue: { retried: number } }).queue.retried;
    await holdLock(node, 1500);
    const locked = performance.now();
    listener.clear();
    writeFileSync(`/sys/block/${name}/uevent`, 'change');
    await sleep(700);
    expect(listener.events.filter(ours(`/dev/${name}`, 'change'))).toEqual([]); // still waiting for the lock
    const b = await listener.waitFor(ours(`/dev/${name}`, 'change'), 10_000, `${name} change broadcast`);
    expect(performance.now() - locked).toBeGreaterThan(1300);
    expect(b.properties.get('UDEV_WORKER_FAILED')).toBeUndefined();
    expect(readFileSync(db, 'utf8')).toContain(`E:DM_LOCK_SEQ=${b.properties.get('SEQNUM')}\n`);
    const retried = ((await controlRequest(r.run, { command: 'status' }, 5000)) as { queue: { retried: number } }).queue.retried;
    expect(retried).toBeGreaterThan(retriedBefore);
  });

  it('a locked disk whose node is closed after writing gets its waiting events retried at once (as udevd)', async () => {
    const { name, node } = await newZram();
    writeFileSync(`/sys/block/${name}/disksize`, String(4 << 20)); // writable now
    await dm.settle();
    const st = async () => (await controlRequest(r.run, { command: 'status' }, 5000)) as { queue: { retried: number }; counters: { lockRetriedEarly: number } };
    const before = await st();
    // what a partitioning tool does: open for writing, lock exclusively, write, close
    const fd = openSync(node, 'r+');
    expect(flock(fd, LOCK_EX | LOCK_NB)).toBe(0);
    listener.clear();
    writeFileSync(`/sys/block/${name}/uevent`, 'change');
    for (let i = 0; (await st()).queue.retried <= before.queue.retried; i++) {
      if (i > 100) throw new Error('the event never waited for the lock');
      await sleep(50);
    }
    writeSync(fd, Buffer.alloc(512), 0, 512, 0);
    closeSync(fd); // releases the lock; inotify reports the close after writing
    await listener.waitFor(ours(`/dev/${name}`, 'change'), 10_000, `${name} change broadcast`);
    expect((await st()).counters.lockRetriedEarly).toBeGreaterThan(before.counters.lockRetriedEarly);
  });

  it('fails the event when the disk node cannot be opened: no rules run, broadcast marked as failed', async () => {
    const { name, node, db } = await newZram();
    const before = readFileSync(db, 'utf8');
    unlinkSync(node);
    symlinkSync(name, node); // opening it gives ELOOP, which is not "device absent"
    listener.clear();
    writeFileSync(`/sys/block/${name}/uevent`, 'change');
    const b = await listener.waitFor(ours(`/dev/${name}`, 'change'), 10_000, `${name} change broadcast`);
    expect(b.properties.get('UDEV_WORKER_FAILED')).toBe('1');
    expect(b.properties.get('UDEV_WORKER_ERRNO')).toBe('40');
    expect(b.properties.get('UDEV_WORKER_ERRNO_NAME')).toBe('ELOOP');
    expect(b.properties.get('DM_LOCK_SEQ')).toBeUndefined(); // the rules did not run
    expect(readFileSync(db, 'utf8')).toBe(before);
    unlinkSync(node);
  });
});
