// Healing after lost events (src/daemon/resync.ts), on the real kernel with the devmaster executable on temp
// roots: the daemon is killed with SIGKILL, a zram disk is added and another removed while none runs; the
// restarted daemon processes the new disk ("add": node, link, database) and removes the gone one (its database
// and link go, and libudev clients get its "remove"). A clean stop after which the kernel sent nothing leads to
// no resync at all. The planning itself is checked on the fixture tree.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import { DeviceRegistry, planResync, readRunState, resyncReason } from '../../src/daemon/resync.js';
import { kernelSeqnum } from '../../src/daemon/coldplug.js';
import { BroadcastListener, startDevmaster, tempRoots, testConfig, until, zramAdd, zramRemove, type Broadcast, type RunningDevmaster, type TempRoots } from './helpers.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { captureLogger } from '../helpers/log-capture.js';
import { execFileSync } from 'node:child_process';

const FIXTURE = join(import.meta.dirname, '..', '..', 'fixtures', 'sysfs', 'basic', 'sys');

describe('resync planning', () => {
  it('needs a resync after a crash or when the kernel moved on while no daemon ran, not otherwise', () => {
    expect(resyncReason(undefined, 10)).toBeUndefined(); // a fresh run root: boot does its own coldplug
    expect(resyncReason({ pid: 1, clean: true, seqnum: 10 }, 10)).toBeUndefined();
    expect(resyncReason({ pid: 1, clean: false }, 10)).toMatch(/did not stop cleanly/);
    expect(resyncReason({ pid: 1, clean: true, seqnum: 7 }, 10)).toMatch(/sent 3 event\(s\) while no daemon ran/);
  });

  it('plans "add" for devices never processed, "change" for known ones, "remove" for gone ones', () => {
    const run = mkdtempSync(join(tmpdir(), 'dm-resync-plan-'));
    try {
      const roots = { sysfs: FIXTURE, dev: join(run, 'dev'), run };
      const reg = new DeviceRegistry(run);
      reg.record('b8:0', new Map([['DEVPATH', '/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda'], ['SUBSYSTEM', 'block']]));
      // a disk that is gone, and one whose device number now belongs to another device (sda1 is b8:1)
      reg.record('b8:16', new Map([['DEVPATH', '/devices/virtual/block/gone'], ['SUBSYSTEM', 'block'], ['DEVNAME', '/dev/gone'], ['MAJOR', '8'], ['MINOR', '16']]));
      reg.record('b8:1', new Map([['DEVPATH', '/devices/virtual/block/old'], ['SUBSYSTEM', 'block'], ['MAJOR', '8'], ['MINOR', '1']]));
      mkdirSync(join(run, 'data'));
      writeFileSync(join(run, 'data', 'c4:64'), 'E:X=1\n'); // ttyS0: processed by an earlier daemon, never recorded
      writeFileSync(join(run, 'data', 'b7:7'), 'S:disk/by-id/orphan\nG:systemd\n'); // gone, no identity
      reg.flush();

      const plan = planResync(roots, new DeviceRegistry(run)); // read back from disk
      const names = (ps: string[]) => ps.map((p) => p.split('/').pop());
      expect(names(plan.change)).toEqual(expect.arrayContaining(['sda', 'ttyS0']));
      expect(names(plan.add)).toEqual(expect.arrayContaining(['sda1', 'sda2']));
      expect(names(plan.change)).not.toContain('sda1');
      expect(plan.remove.map((e) => [e.action, e.devpath, e.properties.get('DEVNAME') ?? ''])).toEqual([
        ['remove', '/devices/virtual/block/old', ''],
        ['remove', '/devices/virtual/block/gone', '/dev/gone'],
      ]);
      expect(plan.orphans).toEqual(['b7:7']);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  });
});

describe('DeviceRegistry on disk', () => {
  it('is one file rewritten whole; reads the one-file-per-device layout of an earlier devMaster and removes it', () => {
    const run = mkdtempSync(join(tmpdir(), 'dm-registry-'));
    try {
      const legacy = join(run, 'devmaster', 'devices');
      mkdirSync(legacy, { recursive: true });
      writeFileSync(join(legacy, encodeURIComponent('+pci:0000:00:01.0')), 'DEVPATH=/devices/pci0000:00/0000:00:01.0\nSUBSYSTEM=pci\n');
      const reg = new DeviceRegistry(run);
      expect(reg.identity('+pci:0000:00:01.0')?.get('SUBSYSTEM')).toBe('pci');
      reg.record('c1:3', new Map([['DEVPATH', '/devices/virtual/mem/null'], ['SUBSYSTEM', 'mem'], ['DEVNAME', '/dev/null']]));
      reg.forget('+pci:0000:00:01.0');
      reg.flush();
      expect(existsSync(legacy)).toBe(false);
      expect(JSON.parse(readFileSync(join(run, 'devmaster', 'devices.json'), 'utf8'))).toEqual({ 'c1:3': 'DEVPATH=/devices/virtual/mem/null\nSUBSYSTEM=mem\nDEVNAME=/dev/null\n' });
      expect(new DeviceRegistry(run).ids()).toEqual(['c1:3']);
      // a file cut short is as if there were none
      writeFileSync(join(run, 'devmaster', 'devices.json'), '{"c1:3": "DEVPA');
      expect(new DeviceRegistry(run).size).toBe(0);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  });

  it('is written again only when an identity changed', () => {
    const run = mkdtempSync(join(tmpdir(), 'dm-registry-'));
    try {
      const file = join(run, 'devmaster', 'devices.json');
      const reg = new DeviceRegistry(run);
      const props = (devname?: string) => new Map([['DEVPATH', '/devices/virtual/mem/null'], ['SUBSYSTEM', 'mem'], ...(devname === undefined ? [] : [['DEVNAME', devname] as [string, string]]), ['SEQNUM', '7']]);
      reg.record('c1:3', props('/dev/null'));
      reg.flush();
      const written = (): string | undefined => (existsSync(file) ? readFileSync(file, 'utf8') : undefined);
      // the same identity (other properties changed): nothing to write
      rmSync(file);
      reg.record('c1:3', new Map([...props('/dev/null'), ['SEQNUM', '8'], ['ACTION', 'change']]));
      reg.flush();
      expect(written()).toBeUndefined();
      // a value that the recorded one begins with, a key gone, a key added: each is a change
      for (const [devname, text] of [
        ['/dev/nul', 'DEVPATH=/devices/virtual/mem/null\nSUBSYSTEM=mem\nDEVNAME=/dev/nul\n'],
        [undefined, 'DEVPATH=/devices/virtual/mem/null\nSUBSYSTEM=mem\n'],
        ['/dev/null', 'DEVPATH=/devices/virtual/mem/null\nSUBSYSTEM=mem\nDEVNAME=/dev/null\n'],
      ] as const) {
        rmSync(file, { force: true });
        reg.record('c1:3', props(devname));
        reg.flush();
        expect(JSON.parse(written() ?? '{}')).toEqual({ 'c1:3': text });
      }
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  });
});

describe('resync in the daemon (zram, SIGKILL)', () => {
  let r: TempRoots;
  let dm: RunningDevmaster | undefined;
  let listener: BroadcastListener;
  const zrams: number[] = [];

  const status = async () =>
    (await controlRequest(r.run, { command: 'status' }, 5000)) as { broadcaster: { port: number }; resync: { runs: number; removed: number; triggeredAdd: number; lastReason: string; devicesRecorded: number } };

  beforeAll(async () => {
    r = tempRoots('dm-resync-');
    writeFileSync(join(r.rules, '60-resync.rules'), 'SUBSYSTEM=="block", KERNEL=="zram*", ACTION!="remove", SYMLINK+="dmresync/%k", ENV{DM_RESYNC}="$env{ACTION}"\n');
    listener = await BroadcastListener.open();
  });

  afterAll(async () => {
    for (const n of zrams) if (existsSync(`/sys/block/zram${n}`)) zramRemove(n);
    const code = await dm?.stop();
    listener?.close();
    expect(code === 0 || code === null).toBe(true);
    r?.cleanup();
  });

  const dbOf = (name: string) => join(r.run, 'data', `b${readFileSync(`/sys/block/${name}/dev`, 'utf8').trim()}`);

  it('after SIGKILL: the disk added meanwhile is processed, the one removed meanwhile is removed and broadcast', async () => {
    dm = await startDevmaster(r);
    let port = (await status()).broadcaster.port;
    listener.clear();
    const a = zramAdd();
    zrams.push(a);
    const nameA = `zram${a}`;
    await listener.waitFor((b) => b.senderPort === port && b.properties.get('DEVNAME') === `/dev/${nameA}` && b.properties.get('ACTION') === 'add', 15_000, `${nameA} add`);
    await dm.settle();
    const dbA = dbOf(nameA);
    const devpathA = `/devices/virtual/block/${nameA}`;
    expect(readFileSync(dbA, 'utf8')).toContain('E:DM_RESYNC=add\n');
    expect(readlinkSync(join(r.dev, 'dmresync', nameA))).toBe(`../${nameA}`);
    const idA = `b${readFileSync(`/sys/block/${nameA}/dev`, 'utf8').trim()}`;
    const registry = join(r.run, 'devmaster', 'devices.json');
    await until(() => existsSync(registry) && idA in JSON.parse(readFileSync(registry, 'utf8')), 5000, `the identity of ${nameA} on disk`);

    dm.proc.kill('SIGKILL');
    await dm.stop();
    expect(readRunState(r.run)?.clean).toBe(false);

    // while no daemon runs
    const b = zramAdd();
    zrams.push(b);
    const nameB = `zram${b}`;
    zramRemove(a);

    listener.clear();
    dm = await startDevmaster(r);
    // the control socket answers before start-up is over: the resync begins at its end, with the ready line
    await until(() => dm!.log().includes('devmaster ready'), 15_000, 'the ready line');
    const st = await status();
    port = st.broadcaster.port;
    expect(st.resync.lastReason).toMatch(/did not stop cleanly/);
    const removal = await listener
      .waitFor((x: Broadcast) => x.senderPort === port && x.properties.get('DEVPATH') === devpathA && x.properties.get('ACTION') === 'remove', 15_000, `${nameA} remove`)
      .catch((e: Error) => {
        throw new Error(`${e.message}\n${dm!.log()}`);
      });
    expect(removal.properties.get('DEVNAME')).toBe(`/dev/${nameA}`);
    await listener.waitFor((x) => x.senderPort === port && x.properties.get('DEVNAME') === `/dev/${nameB}` && x.properties.get('ACTION') === 'add', 15_000, `${nameB} add`);
    await dm.settle();
    expect(existsSync(dbA)).toBe(false);
    expect(existsSync(join(r.dev, 'dmresync', nameA))).toBe(false);
    expect(readFileSync(dbOf(nameB), 'utf8')).toContain('E:DM_RESYNC=add\n');
    expect(readlinkSync(join(r.dev, 'dmresync', nameB))).toBe(`../${nameB}`);
    const after = (await status()).resync;
    expect(after.runs).toBe(1);
    expect(after.removed).toBeGreaterThanOrEqual(1);
    expect(after.triggeredAdd).toBeGreaterThanOrEqual(1);
  });

  it('after a clean stop with no kernel event meanwhile, the next daemon does not resync', async () => {
    await dm!.stop();
    const state = readRunState(r.run);
    expect(state?.clean).toBe(true);
    if (state?.seqnum !== kernelSeqnum({ sysfs: '/sys', dev: r.dev, run: r.run })) throw new Error('another process made a uevent between the stop and this check; run again');
    dm = await startDevmaster(r);
    await until(() => dm!.log().includes('devmaster ready'), 15_000, 'the ready line');
    expect((await status()).resync.runs).toBe(0);
  });
});

describe('resync after a receive-queue overflow (in-process daemon, 64 KiB socket buffer)', () => {
  it('events lost to an overflow are healed: the device gets an event newer than any it lost', async () => {
    const r = tempRoots('dm-overflow-');
    writeFileSync(join(r.rules, '60-seq.rules'), 'SUBSYSTEM=="block", KERNEL=="zram*", ENV{DM_SEQ}="$env{SEQNUM}"\n');
    const { logger, lines: logs } = captureLogger();
    const daemon = await Daemon.start({ config: testConfig(r), watch: false, recvBufferSize: 64 << 10, logger });
    const n = zramAdd();
    try {
      const name = `zram${n}`;
      const db = join(r.run, 'data', `b${readFileSync(`/sys/block/${name}/dev`, 'utf8').trim()}`);
      await until(() => existsSync(db), 10_000, `${name} processed`);
      // 400 change uevents while this process's event loop is blocked: the socket's queue overflows
      execFileSync('sh', ['-c', `for i in $(seq 400); do echo change > /sys/block/${name}/uevent; done`]);
      const last = kernelSeqnum({ sysfs: '/sys', dev: r.dev, run: r.run })!;
      await until(() => daemon.resyncer.stats.runs > 0, 20_000, 'the resync after the overflow');
      expect(daemon.resyncer.stats.lastReason).toMatch(/overflowed/);
      expect((daemon.status().netlink as { overflows: number }).overflows).toBeGreaterThanOrEqual(1);
      await until(() => daemon.resyncer.stats.triggeredAdd + daemon.resyncer.stats.triggeredChange > 50, 20_000, 'the rescan triggers');
      await until(() => Number(/^E:DM_SEQ=(\d+)$/m.exec(readFileSync(db, 'utf8'))?.[1]) > last, 20_000, 'an event newer than the lost ones');
      expect(logs.some((l) => l.level === 40 && /resynchronizing with sysfs: the kernel uevent receive queue overflowed/.test(l.msg))).toBe(true);
    } finally {
      await daemon.stop();
      zramRemove(n);
      r.cleanup();
    }
  });
});
