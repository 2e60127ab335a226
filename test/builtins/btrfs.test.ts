// btrfs ready against Debian's `udevadm test-builtin`: a two-device RAID1 btrfs on loop devices is not ready
// until the kernel has seen both members; a non-btrfs device fails; a missing /dev/btrfs-control means not
// ready. Between steps `btrfs device scan --forget` makes the kernel forget our (unmounted) members again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pino } from 'pino';
import btrfs from '../../src/builtins/btrfs.js';
import { BTRFS_IOC_DEVICES_READY, volArgs } from '../../src/sys/ioctl.js';
import { getBuiltin } from '../../src/builtins/registry.js';
import { Device } from '../../src/device/device.js';
import type { Roots } from '../../src/device/roots.js';
import { referenceBuiltin, type BuiltinResult } from './compare.js';

const loops: string[] = [];
let work: string;
let a: { node: string; devpath: string };
let b: { node: string; devpath: string };
let plain: { node: string; devpath: string };
const roots: Roots = { sysfs: '/sys', dev: '/dev', run: '/nonexistent-run' };

function attach(size: string): { node: string; devpath: string } {
  const img = join(work, `img${loops.length}`);
  execFileSync('truncate', ['-s', size, img]);
  const node = execFileSync('losetup', ['-f', '--show', img], { encoding: 'utf8' }).trim();
  loops.push(node);
  return { node, devpath: realpathSync(`/sys/class/block/${node.slice(5)}`).slice(4) };
}

const forget = () => execFileSync('btrfs', ['device', 'scan', '--forget', a.node, b.node], { stdio: 'ignore' });

async function ours(dev: { node: string; devpath: string }, command = `btrfs ready ${dev.node}`, r: Roots = roots, test = false): Promise<BuiltinResult> {
  const bi = (await getBuiltin('btrfs'))!;
  const props = new Map<string, string>();
  const ok = await bi.run({ device: Device.fromDevpath(r, dev.devpath), action: 'add', roots: r, test, log: pino({ level: 'silent' }), setProperty: (k, v) => props.set(k, v) }, command.split(' '));
  return ok ? props : null;
}

function reference(dev: { node: string; devpath: string }, command = `btrfs ready ${dev.node}`): BuiltinResult {
  return referenceBuiltin('/sys', command, [dev.devpath]).get(dev.devpath)!;
}

const show = (r: BuiltinResult) => (r === null ? 'failed' : JSON.stringify([...r]));

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'dm-btrfs-'));
  a = attach('300M');
  b = attach('300M');
  plain = attach('16M');
  execFileSync('mkfs.btrfs', ['-q', '-f', '-d', 'raid1', '-m', 'raid1', a.node, b.node], { stdio: 'ignore' });
  execFileSync('mkfs.ext4', ['-q', '-F', plain.node]);
}, 60_000);

afterAll(() => {
  try {
    if (a && b) forget();
  } catch {
    /* not registered */
  }
  for (const l of loops.reverse()) {
    try {
      execFileSync('losetup', ['-d', l], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('btrfs ready', () => {
  it('is not ready until the kernel knows every member, as udevadm says', async () => {
    const steps = async (run: (d: typeof a) => Promise<BuiltinResult> | BuiltinResult) => {
      forget();
      return [show(await run(a)), show(await run(b)), show(await run(a))];
    };
    const want = ['[["ID_BTRFS_READY","0"]]', '[["ID_BTRFS_READY","1"]]', '[["ID_BTRFS_READY","1"]]'];
    expect(await steps(reference)).toEqual(want);
    expect(await steps((d) => ours(d))).toEqual(want);
  }, 60_000);

  it('fails on a device that is not btrfs and on bad arguments, like udevadm', async () => {
    for (const cmd of [`btrfs ready ${plain.node}`, 'btrfs ready', `btrfs check ${plain.node}`, `btrfs ready ${plain.node} extra`, 'btrfs']) {
      expect(show(await ours(plain, cmd)), cmd).toBe(show(reference(plain, cmd)));
      expect(await ours(plain, cmd), cmd).toBeNull();
    }
  }, 60_000);

  it('says "not ready" when the dev root has no btrfs-control, as udevadm with an empty /dev', async () => {
    const dev = join(work, 'dev');
    mkdirSync(dev, { recursive: true });
    expect(show(await ours(a, `btrfs ready ${a.node}`, { ...roots, dev }))).toBe('[["ID_BTRFS_READY","0"]]');
    const { udevadm } = (await import('../helpers/reference.js')).referenceUdev();
    const out = execFileSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs none /dev && "$0" test-builtin "btrfs ready ${a.node}" /sys${a.devpath} 2>/dev/null`, udevadm], { encoding: 'utf8' });
    expect(out.trim()).toBe('ID_BTRFS_READY=0');
  }, 60_000);

  it('registers nothing in test mode', async () => {
    forget();
    expect(await ours(b, `btrfs ready ${b.node}`, roots, true)).toEqual(new Map());
    // had b been registered, a would now be ready
    expect(show(await ours(a))).toBe('[["ID_BTRFS_READY","0"]]');
  });

  it('encodes the ioctl as the kernel headers do', () => {
    expect(btrfs.name).toBe('btrfs');
    expect(BTRFS_IOC_DEVICES_READY()).toBe(0x90009427);
    const args = volArgs('/dev/loop3')!;
    expect(args.length).toBe(4096);
    expect(args.readBigInt64LE(0)).toBe(0n);
    expect(args.subarray(8, 19).toString('latin1')).toBe('/dev/loop3\0');
    expect(volArgs('/'.repeat(4087))).toBeDefined();
    expect(volArgs('/'.repeat(4088))).toBeUndefined();
    expect(volArgs('/dev/a\0b')).toBeUndefined();
  });
});
