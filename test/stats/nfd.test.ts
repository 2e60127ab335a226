// node-feature-discovery's feature file on the real daemon and kernel: zram disks marked by a rule (ENV{DEVMASTER_
// FEATURE}, and a property listed in nfd_properties) make the file appear, a second disk changes it, hot_remove
// takes their labels away and the last one removes the file; a restarted daemon rebuilds it from the database.
// Only disks this test sizes with its own disksize match the rule, so other tests' zram disks never count.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import { tempRoots, startDevmaster, zramAdd, zramRemove, until, BroadcastListener, type TempRoots, type RunningDevmaster, stopAll } from '../daemon/helpers.js';

const PREFIX = 'feature.node.kubernetes.io';

describe('node-feature-discovery features from device facts', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  let dir: string;
  let file: string;
  let port: number;
  const zrams: number[] = [];
  const size = String(4096 * (7000 + (process.pid % 1000)));

  const start = async () => {
    dm = await startDevmaster(r, ['--nfd-features-dir', dir, '--nfd-property', 'DM_NFD_DISK', '--nfd-expiry', '3600']);
    port = ((await controlRequest(r.run, { command: 'status' })).broadcaster as { port: number }).port;
  };
  const labels = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'));

  /** A zram disk of this test's size, announced with a "change" the daemon processed. */
  async function markedZram(): Promise<number> {
    const n = zramAdd();
    zrams.push(n);
    writeFileSync(`/sys/block/zram${n}/disksize`, size);
    listener.clear();
    writeFileSync(`/sys/block/zram${n}/uevent`, 'change');
    await listener.waitFor((b) => b.senderPort === port && b.properties.get('DEVNAME') === `/dev/zram${n}` && b.properties.get('ACTION') === 'change', 15_000, `zram${n} change`);
    return n;
  }

  async function remove(n: number): Promise<void> {
    listener.clear();
    zramRemove(n);
    await listener.waitFor((b) => b.senderPort === port && b.properties.get('DEVNAME') === `/dev/zram${n}` && b.properties.get('ACTION') === 'remove', 15_000, `zram${n} remove`);
  }

  beforeAll(async () => {
    r = tempRoots('dm-nfd-');
    dir = join(r.base, 'features.d');
    file = join(dir, 'devmaster');
    writeFileSync(
      join(r.rules, '50-nfd.rules'),
      `SUBSYSTEM=="block", KERNEL=="zram*", ATTR{disksize}=="${size}", ENV{DEVMASTER_FEATURE}="dmtest-%k example.com/dmtest=yes", ENV{DM_NFD_DISK}="zram"\n`,
    );
    listener = await BroadcastListener.open();
    await start();
  });

  afterAll(async () => {
    expect(await stopAll(zrams, dm, listener, r)).toBe(0);
  });

  let a = -1;
  let b = -1;

  it('appears when a device is marked, with NFD directives and label syntax', async () => {
    expect(existsSync(file)).toBe(false);
    a = await markedZram();
    await until(() => existsSync(file), 5000, 'the feature file');
    expect(labels()).toEqual([`example.com/dmtest=yes`, `${PREFIX}/devmaster-dm_nfd_disk.zram=1`, `${PREFIX}/devmaster-dmtest-zram${a}`]);
    const expiry = /^# \+expiry-time=(\S+)$/m.exec(readFileSync(file, 'utf8'))![1]!;
    expect(expiry).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(expiry) - Date.now()).toBeGreaterThan(3500_000);
    const st = (await controlRequest(r.run, { command: 'status' })).nfd as { path: string; labels: number };
    expect(st).toMatchObject({ path: file, labels: 3 });
  });

  it('changes when a second device appears, and when one is removed', async () => {
    b = await markedZram();
    await until(() => labels().length === 4, 5000, 'the second device in the file');
    expect(labels()).toEqual([`example.com/dmtest=yes`, `${PREFIX}/devmaster-dm_nfd_disk.zram=2`, ...[`${PREFIX}/devmaster-dmtest-zram${a}`, `${PREFIX}/devmaster-dmtest-zram${b}`].sort()]);
    await remove(a);
    zrams.splice(zrams.indexOf(a), 1);
    await until(() => labels().length === 3, 5000, 'the removal in the file');
    expect(labels()).toEqual([`example.com/dmtest=yes`, `${PREFIX}/devmaster-dm_nfd_disk.zram=1`, `${PREFIX}/devmaster-dmtest-zram${b}`]);
  });

  it('is rebuilt from the database by a restarted daemon', async () => {
    expect(await dm.stop()).toBe(0);
    expect(existsSync(file)).toBe(true); // the devices are still there: the labels stay
    unlinkSync(file);
    await start();
    await until(() => existsSync(file), 5000, 'the rebuilt file');
    expect(labels()).toEqual([`example.com/dmtest=yes`, `${PREFIX}/devmaster-dm_nfd_disk.zram=1`, `${PREFIX}/devmaster-dmtest-zram${b}`]);
  });

  it('disappears when the last marked device is removed', async () => {
    await remove(b);
    zrams.splice(zrams.indexOf(b), 1);
    await until(() => !existsSync(file), 5000, 'the file to go');
  });
});
