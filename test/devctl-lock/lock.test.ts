// devctl lock against Debian 13's `udevadm lock` (257), and against devMaster's whole-disk lock: --print on a zram
// disk, a loop device's partition and a file's backing disk; a held lock refuses or times out the other tool the
// same way (udevadm in a private mount namespace with devMaster's dev root at /dev, so both lock one node); exit
// statuses of the command; and, with devMaster running on temp roots, a `change` of a disk held by `devctl lock`
// (or by udevadm lock) waits until the command is done.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import { devctl, startDevctl } from '../helpers/cli.js';
import { startUdevadm257, udevadm257 } from '../helpers/udevadm257.js';
import { addProcessedZram, BroadcastListener, sleep, startDevmaster, tempRoots, type Broadcast, type RunningDevmaster, type TempRoots, stopAll } from '../daemon/helpers.js';

let r: TempRoots;
let dm: RunningDevmaster;
let listener: BroadcastListener;
let port = 0;
const zrams: number[] = [];

beforeAll(async () => {
  r = tempRoots('dm-lock-');
  writeFileSync(join(r.rules, '60-lock.rules'), 'SUBSYSTEM=="block", KERNEL=="zram*", ENV{DM_LOCK_SEQ}="$env{SEQNUM}"\n');
  listener = await BroadcastListener.open();
  dm = await startDevmaster(r);
  port = ((await controlRequest(r.run, { command: 'status' }, 5000)) as { broadcaster: { port: number } }).broadcaster.port;
});

afterAll(async () => {
  expect(await stopAll(zrams, dm, listener, r)).toBe(0);
});

const roots = () => ['--dev', r.dev, '--run', r.run];
const ns = () => ({ run: r.run, dev: r.dev });

describe('devctl lock = udevadm lock 257', () => {
  it('--print names the whole disk of a disk, a partition and a file, sorted and once each', async () => {
    const { name } = await addProcessedZram(listener, port, r.dev, zrams);
    const u = udevadm257(['lock', '--print', '-d', `/dev/${name}`, '--backing=/tmp', '-d', `/dev/${name}`], ns());
    const d = devctl([...roots(), 'lock', '--print', '-d', `/dev/${name}`, '--backing=/tmp', '-d', join(r.dev, name)]); // a /dev path is under --dev
    expect(u.status).toBe(0);
    expect(u.stdout.split('\n')).toContain(`/dev/${name}`);
    expect(d).toMatchObject({ stdout: u.stdout, stderr: u.stderr, status: u.status });
  });

  it('--print finds the disk of a loop device partition', () => {
    const img = join(r.base, 'disk.img');
    writeFileSync(img, Buffer.alloc(8 << 20));
    execFileSync('sfdisk', ['-q', img], { input: 'label: gpt\n,2M\n,\n' });
    const loop = execFileSync('losetup', ['--show', '-fP', img], { encoding: 'utf8' }).trim();
    try {
      const part = `${loop}p2`;
      for (let i = 0; i < 50 && !existsNode(part); i++) {
        if (i === 10) spawnSync('partx', ['-a', loop]); // the scan at attach time can lose a race with a prober
        execFileSync('sleep', ['0.1']);
      }
      expect(existsNode(part)).toBe(true);
      const u = udevadm257(['lock', '-p', '-d', part]);
      const d = devctl(['lock', '-p', '-d', part]);
      expect(u).toEqual({ stdout: `${loop}\n`, stderr: '', status: 0 });
      expect(d).toMatchObject(u);
    } finally {
      execFileSync('losetup', ['-d', loop]);
      rmSync(img);
    }
  });

  it('refuses or times out the same way while the other tool holds the lock', async () => {
    const { name } = await addProcessedZram(listener, port, r.dev, zrams);
    const node = `/dev/${name}`;
    // devctl holds, udevadm tries
    const held = startDevctl([...roots(), 'lock', '-d', node, 'sh', '-c', 'echo held; sleep 6']);
    await untilOutput(held.proc, 'held');
    const u0 = udevadm257(['lock', '-t', '0', '-d', `/dev/${name}`, 'true'], ns());
    expect(u0).toEqual({ stdout: '', stderr: `Device '/dev/${name}' is currently locked.\n`, status: 1 });
    const d0 = devctl([...roots(), 'lock', '-t', '0', '-d', node, 'true']);
    expect(d0).toMatchObject(u0);
    const ut = udevadm257(['lock', '--timeout=0.5', '-d', `/dev/${name}`, 'true'], ns());
    const dt = devctl([...roots(), 'lock', '--timeout=0.5', '-d', node, 'true']);
    for (const x of [ut, dt]) {
      expect(x.status).toBe(1);
      expect(x.stderr).toMatch(new RegExp(`^Device '/dev/${name}' is currently locked, waiting \\d+\\.\\d+ms…\\nTimeout reached\\.\\n$`));
    }
    await held.done;
    // udevadm holds, devctl tries
    const uheld = startUdevadm257(['lock', '-d', `/dev/${name}`, 'sh', '-c', 'echo held; sleep 5'], ns());
    await untilOutput(uheld.proc, 'held');
    expect(devctl([...roots(), 'lock', '-t', '0', '-d', node, 'true'])).toMatchObject(u0);
    await uheld.done;
  });

  it('passes on the command status and reports a command that cannot run', async () => {
    const { name } = await addProcessedZram(listener, port, r.dev, zrams);
    for (const cmd of [['true'], ['sh', '-c', 'echo out; echo err >&2; exit 7'], ['sh', '-c', 'kill -TERM $$'], ['/nonexistent/command'], []]) {
      const u = udevadm257(['lock', '-d', `/dev/${name}`, ...cmd], ns());
      const d = devctl([...roots(), 'lock', '-d', `/dev/${name}`, ...cmd]);
      expect(d, cmd.join(' ')).toMatchObject(u);
    }
    for (const args of [['-p'], ['-d', '/dev/null', 'true'], ['-p', '-d', '/nonexistent'], ['-p', '-d', `/dev/${name}`, 'extra'], ['-t', 'soon', '-d', `/dev/${name}`, 'true']]) {
      const u = udevadm257(['lock', ...args], ns());
      const d = devctl([...roots(), 'lock', ...args]);
      expect(d, args.join(' ')).toMatchObject(u);
      expect(u.status).toBe(1);
    }
  });
});

describe("devctl lock holds off devMaster's events of the disk", () => {
  const ours = (devname: string) => (b: Broadcast) => b.senderPort === port && b.properties.get('DEVNAME') === devname && b.properties.get('ACTION') === 'change';

  for (const tool of ['devctl', 'udevadm 257'] as const) {
    it(`a change waits while ${tool} lock runs its command, and is processed after`, async () => {
      const { name, id } = await addProcessedZram(listener, port, r.dev, zrams);
      await dm.settle();
      const holder =
        tool === 'devctl'
          ? startDevctl([...roots(), 'lock', '--device', join(r.dev, name), 'sh', '-c', 'echo held; sleep 2'])
          : startUdevadm257(['lock', '--device', `/dev/${name}`, 'sh', '-c', 'echo held; sleep 2'], ns());
      await untilOutput(holder.proc, 'held');
      const locked = performance.now();
      listener.clear();
      writeFileSync(`/sys/block/${name}/uevent`, 'change');
      await sleep(1000);
      expect(listener.events.filter(ours(`/dev/${name}`))).toEqual([]); // still waiting for the lock
      const b = await listener.waitFor(ours(`/dev/${name}`), 15_000, `${name} change broadcast`);
      expect(performance.now() - locked).toBeGreaterThan(1500);
      expect((await holder.done).status).toBe(0);
      expect(b.properties.get('UDEV_WORKER_FAILED')).toBeUndefined();
      expect(readFileSync(join(r.run, 'data', id), 'utf8')).toContain(`E:DM_LOCK_SEQ=${b.properties.get('SEQNUM')}\n`);
    });
  }
});

function existsNode(p: string): boolean {
  try {
    execFileSync('test', ['-b', p]);
    return true;
  } catch {
    return false;
  }
}

/** Resolves when the process has written `text` on stdout. */
function untilOutput(proc: import('node:child_process').ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const t = setTimeout(() => reject(new Error(`no "${text}" from the lock holder`)), 30_000);
    proc.stdout!.on('data', (c: Buffer) => {
      seen += c.toString();
      if (seen.includes(text)) {
        clearTimeout(t);
        resolve();
      }
    });
  });
}
