// devctl wait against Debian 13's `udevadm wait` (257) on real zram disks, both talking to one devMaster running on
// temp roots (udevadm in a private mount namespace with devMaster's run root at /run/udev and dev root at /dev):
// the same exit status and messages for devices already there, missing, appearing while the daemon's queue is
// stopped, disappearing, with --initialized=no, --removed, --settle, and for bad arguments.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import { devctl, startDevctl } from '../helpers/cli.js';
import { startUdevadm257, udevadm257 } from '../helpers/udevadm257.js';
import { addProcessedZram, BroadcastListener, sleep, startDevmaster, tempRoots, zramAdd, zramRemove, type RunningDevmaster, type TempRoots, stopAll } from '../daemon/helpers.js';

let r: TempRoots;
let dm: RunningDevmaster;
let listener: BroadcastListener;
let port = 0;
const zrams: number[] = [];

beforeAll(async () => {
  r = tempRoots('dm-wait-');
  writeFileSync(join(r.rules, '60-wait.rules'), 'SUBSYSTEM=="block", KERNEL=="zram*", SYMLINK+="dmwait/$kernel", ENV{DM_WAIT}="1"\n');
  listener = await BroadcastListener.open();
  dm = await startDevmaster(r);
  port = ((await controlRequest(r.run, { command: 'status' }, 5000)) as { broadcaster: { port: number } }).broadcaster.port;
});

afterAll(async () => {
  await controlRequest(r.run, { command: 'start-exec-queue' }, 5000).catch(() => undefined);
  expect(await stopAll(zrams, dm, listener, r)).toBe(0);
});

const roots = () => ['--sysfs', '/sys', '--dev', r.dev, '--run', r.run];
const ns = () => ({ run: r.run, dev: r.dev });

/** Runs `wait ARGS` with both tools and checks they agree; returns devctl's result. */
function both(args: string[]): { stdout: string; stderr: string; status: number | null } {
  const u = udevadm257(['wait', ...args], ns());
  const d = devctl([...roots(), 'wait', ...args]);
  expect(d.stderr, args.join(' ')).toBe(u.stderr);
  expect(d.stdout, args.join(' ')).toBe(u.stdout);
  expect(d.status, args.join(' ')).toBe(u.status);
  return d;
}

describe('devctl wait = udevadm wait 257 (zram, devMaster on temp roots)', () => {
  it('returns at once for an initialized device, by node, symlink and /sys path', async () => {
    const { name } = await addProcessedZram(listener, port, r.dev, zrams);
    await dm.settle();
    for (const p of [`/dev/${name}`, `/dev/dmwait/${name}`, `/sys/block/${name}`, `/sys/class/block/${name}`, `/dev//${name}/`]) {
      expect(both([p]).status, p).toBe(0);
    }
    expect(both(['--initialized=no', '-t', '5', `/dev/${name}`, `/sys/block/${name}`]).status).toBe(0);
  });

  it('times out the same way for a device that does not come, or does not go', async () => {
    const { name } = await addProcessedZram(listener, port, r.dev, zrams);
    const a = both(['-t', '0.5', '/dev/dmwait/nosuchdisk']);
    expect(a.status).toBe(1);
    expect(a.stderr).toBe('Timed out for waiting devices being initialized.\n');
    expect(both(['--timeout=500ms', '--initialized=false', '/sys/block/nosuchdisk']).stderr).toBe('Timed out for waiting devices being added.\n');
    expect(both(['--removed', '-t', '0.3', `/dev/${name}`]).stderr).toBe('Timed out for waiting devices being removed.\n');
    expect(both(['--removed', '-t', '0.3', '/dev/dmwait/nosuchdisk']).status).toBe(0);
  });

  it('waits for a disk that appears while the queue is stopped, and returns when the daemon has processed it', async () => {
    await controlRequest(r.run, { command: 'stop-exec-queue' }, 5000);
    listener.clear();
    const n = zramAdd();
    zrams.push(n);
    const name = `zram${n}`;
    const u = startUdevadm257(['wait', '-t', '30', `/dev/dmwait/${name}`], ns());
    const d = startDevctl([...roots(), 'wait', '-t', '30', `/dev/dmwait/${name}`]);
    const settleU = startUdevadm257(['wait', '--settle', '--initialized=no', '-t', '30', '/sys/block/zram0', `/sys/block/${name}`], ns());
    await sleep(3000); // both started (devctl's start-up is the slower) and found nothing yet
    expect(u.proc.exitCode).toBeNull();
    expect(d.proc.exitCode).toBeNull();
    expect(settleU.proc.exitCode).toBeNull(); // the queue is not empty
    const started = performance.now();
    await controlRequest(r.run, { command: 'start-exec-queue' }, 5000);
    const [ur, dr, sr] = await Promise.all([u.done, d.done, settleU.done]);
    expect(ur).toEqual({ stdout: '', stderr: '', status: 0 });
    expect(dr).toEqual(ur);
    expect(sr.status).toBe(0);
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('--settle waits for the queue flag like udevadm', async () => {
    const { name } = await addProcessedZram(listener, port, r.dev, zrams);
    await dm.settle();
    await controlRequest(r.run, { command: 'stop-exec-queue' }, 5000);
    writeFileSync(`/sys/block/${name}/uevent`, 'change');
    await sleep(500); // queued, not processed
    const u = startUdevadm257(['wait', '--settle', '-t', '20', `/dev/${name}`], ns());
    const d = startDevctl([...roots(), 'wait', '--settle', '-t', '20', `/dev/${name}`]);
    await sleep(3000);
    expect(u.proc.exitCode).toBeNull();
    expect(d.proc.exitCode).toBeNull();
    await controlRequest(r.run, { command: 'start-exec-queue' }, 5000);
    const [ur, dr] = await Promise.all([u.done, d.done]);
    expect(ur.status).toBe(0);
    expect(dr).toEqual(ur);
  });

  it('--removed returns when the disk is removed', async () => {
    const { n, name } = await addProcessedZram(listener, port, r.dev, zrams);
    const u = startUdevadm257(['wait', '--removed', '-t', '30', `/sys/block/${name}`], ns());
    const d = startDevctl([...roots(), 'wait', '--removed', '-t', '30', `/sys/block/${name}`]);
    await sleep(3000);
    expect(u.proc.exitCode).toBeNull();
    expect(d.proc.exitCode).toBeNull();
    zramRemove(n);
    const [ur, dr] = await Promise.all([u.done, d.done]);
    expect(ur).toEqual({ stdout: '', stderr: '', status: 0 });
    expect(dr).toEqual(ur);
  });

  it('refuses bad arguments with the same messages', () => {
    for (const args of [[], ['-t', 'x', '/dev/null'], ['--initialized=maybe', '/dev/null'], ['/dev/../etc/x'], ['/tmp/x'], ['relative'], ['--bogus', '/dev/x'], ['-t']]) {
      expect(both(args).status, args.join(' ')).toBe(1);
    }
  });
});
