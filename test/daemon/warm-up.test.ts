// The daemon's warm-up (src/daemon/warm-up.ts): while idle after start, the rules run once in test mode on a sample
// of the devices. It must apply nothing, run no program, stop for the first event, and leave no trace in what the
// events after it produce. (ATTR and SYSCTL writes in test mode: test/rules.)
import { describe, it, expect } from 'vitest';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { controlRequest } from '../../src/daemon/control.js';
import { warmUp, warmUpSample, WARM_BUILTINS, type WarmUpHost } from '../../src/daemon/warm-up.js';
import type { Device } from '../../src/device/device.js';
import type { Builtin } from '../../src/builtins/types.js';
import { parseUevent } from '../../src/netlink/uevent.js';
import { createLogger } from '../../src/log.js';
import { BroadcastListener, tempRoots, testConfig, type TempRoots } from './helpers.js';

const REPO = join(import.meta.dirname, '..', '..');
const FIXTURE = join(REPO, 'fixtures', 'sysfs', 'basic', 'sys');
const ROOTS = { sysfs: FIXTURE, dev: '/nonexistent', run: '/nonexistent' };
const SDA = '/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda';
/** The warm-up's events on the fixture: a "change" and an "add" of each device sampled. */
const SAMPLE_EVENTS = 2 * [...warmUpSample(ROOTS)].length;

const stubBuiltin = (name: string): Builtin => ({ name, help: '', run: async () => true }) as Builtin;

describe('warmUp()', () => {
  it('runs the first device of each subsystem and device type, a "change" then an "add" of each, with the reading builtins alone', async () => {
    const sample = [...warmUpSample(ROOTS)];
    const kinds = sample.map((p) => `${p.get('SUBSYSTEM')}/${p.get('DEVTYPE') ?? ''}`);
    expect(new Set(kinds).size).toBe(kinds.length);
    expect(kinds).toEqual(expect.arrayContaining(['block/disk', 'block/partition', 'net/', 'tty/', 'input/']));
    expect(sample.length).toBeLessThan(20); // the fixture's 20 devices, some of the same kind
    // each as the kernel's "change" of it
    const sda = sample.find((p) => p.get('DEVNAME') === 'sda')!;
    expect([...sda.keys()].slice(0, 3)).toEqual(['ACTION', 'DEVPATH', 'SUBSYSTEM']);
    expect(sda.get('DEVPATH')).toBe(SDA);
    expect(sda.get('ACTION')).toBe('change');
    const runs: { action: string | undefined; devpath: string; builtins: string[] }[] = [];
    const host: WarmUpHost = {
      roots: ROOTS,
      builtins: new Map(['hwdb', 'path_id', 'blkid', 'kmod', 'uaccess', 'net_setup_link', 'keyboard', 'btrfs', 'net_id'].map((n) => [n, stubBuiltin(n)])),
      idle: () => true,
      run: (device: Device, builtins: ReadonlyMap<string, Builtin>) => void runs.push({ action: device.action, devpath: device.devpath, builtins: [...builtins.keys()].sort() }),
    };
    const r = await warmUp(host, () => 0);
    expect(r).toEqual({ events: 2 * sample.length, interrupted: false, ms: 0 });
    expect(runs.map((x) => x.action)).toEqual([...sample.map(() => 'change'), ...sample.map(() => 'add')]);
    expect(runs.slice(sample.length).map((x) => x.devpath)).toEqual(sample.map((p) => p.get('DEVPATH')));
    expect(runs.slice(0, sample.length).map((x) => x.devpath)).toEqual(sample.map((p) => p.get('DEVPATH')));
    // the builtins that open devices or change something stay out
    expect(runs[0]!.builtins).toEqual(['hwdb', 'net_id', 'path_id']);
    for (const b of runs[0]!.builtins) expect(WARM_BUILTINS.has(b)).toBe(true);
    expect(WARM_BUILTINS.has('blkid') || WARM_BUILTINS.has('kmod') || WARM_BUILTINS.has('uaccess') || WARM_BUILTINS.has('net_setup_link') || WARM_BUILTINS.has('keyboard') || WARM_BUILTINS.has('btrfs')).toBe(false);
  });

  it('stops before the next device once the daemon is not idle, and goes on past a device that throws', async () => {
    let n = 0;
    const host: WarmUpHost = {
      roots: ROOTS,
      builtins: new Map(),
      idle: () => n < 3,
      run: () => {
        n++;
        if (n === 2) throw new Error('gone');
      },
    };
    const r = await warmUp(host, () => 0);
    expect(r.interrupted).toBe(true);
    expect(r.events).toBe(3);
    expect(n).toBe(3);
  });
});

/** Rules that would leave traces if anything of the event were applied or started. */
function writeRules(r: TempRoots): void {
  writeFileSync(
    join(r.rules, '50-warm.rules'),
    [
      `SUBSYSTEM=="block", PROGRAM=="/bin/sh -c 'touch ${r.base}/program-ran; echo x'", ENV{FROM_PROGRAM}="%c"`,
      `SUBSYSTEM=="block", IMPORT{program}="/bin/sh -c 'touch ${r.base}/import-ran; echo A=1'"`,
      `SUBSYSTEM=="block", RUN+="/bin/sh -c 'touch ${r.base}/run-ran'"`,
      'SUBSYSTEM=="block", IMPORT{builtin}="path_id"',
      'ENV{ID_PATH}=="?*", ENV{DEVTYPE}=="disk", SYMLINK+="disk/by-path/$env{ID_PATH}"',
      'SUBSYSTEM=="net", IMPORT{builtin}="net_id"',
      'KERNEL=="sda", OWNER="0", MODE="0600", TAG+="warm"',
      '',
    ].join('\n'),
  );
}

const SDA_CHANGE = parseUevent(Buffer.from(`change@${SDA}\0ACTION=change\0DEVPATH=${SDA}\0SUBSYSTEM=block\0MAJOR=8\0MINOR=0\0DEVNAME=sda\0DEVTYPE=disk\0SEQNUM=7\0`));

describe('the daemon\'s warm-up', () => {
  it('applies nothing: no record, link, tag, node change, broadcast, program or RUN', async () => {
    const r = tempRoots('dm-warm-');
    writeRules(r);
    const listener = await BroadcastListener.open();
    const daemon = await Daemon.start({ config: testConfig(r, { sysfs: FIXTURE, mknod: false }), logger: createLogger({ level: 'silent' }), watch: false });
    try {
      const res = await daemon.warmedUp;
      expect(res?.interrupted).toBe(false);
      expect(res?.events).toBe(SAMPLE_EVENTS);
      for (const f of ['program-ran', 'import-ran', 'run-ran']) expect(existsSync(join(r.base, f))).toBe(false);
      expect(readdirSync(join(r.run, 'data'))).toEqual([]);
      expect(readdirSync(join(r.run, 'tags'))).toEqual([]);
      expect(readdirSync(join(r.run, 'links'))).toEqual([]);
      expect(readdirSync(r.dev)).toEqual([]);
      expect(listener.events.filter((b) => b.senderPort === daemon.broadcastPort)).toEqual([]);
      expect(daemon.counters.processed).toBe(0);
    } finally {
      await daemon.stop();
      listener.close();
      r.cleanup();
    }
  });

  it('with the statistics on, counts in none of them', async () => {
    if (SDA_CHANGE instanceof Error) throw SDA_CHANGE;
    const r = tempRoots('dm-warm-');
    writeRules(r);
    const daemon = await Daemon.start({ config: testConfig(r, { sysfs: FIXTURE, mknod: false, stats: true }), logger: createLogger({ level: 'silent' }), watch: false });
    try {
      expect((await daemon.warmedUp)?.events).toBe(SAMPLE_EVENTS);
      const stats = async () => (await controlRequest(r.run, { command: 'stats' })) as { enabled: boolean; events: { count: number }; rules: { lines: number } };
      expect(await stats()).toMatchObject({ enabled: true, events: { count: 0 }, rules: { lines: 0 } });
      daemon.inject(SDA_CHANGE);
      await daemon.queue.whenIdle(10_000);
      const after = await stats();
      expect(after.events.count).toBe(1);
      expect(after.rules.lines).toBeGreaterThan(0);
    } finally {
      await daemon.stop();
      r.cleanup();
    }
  });

  it('does not start once an event came, and an event after it is processed as without it', async () => {
    if (SDA_CHANGE instanceof Error) throw SDA_CHANGE;
    const records: string[] = [];
    for (const warm of [true, false]) {
      const r = tempRoots('dm-warm-');
      writeRules(r);
      const daemon = await Daemon.start({ config: testConfig(r, { sysfs: FIXTURE, mknod: false, warmUp: warm }), logger: createLogger({ level: 'silent' }), watch: false });
      try {
        const res = await daemon.warmedUp;
        expect(res?.events ?? 0).toBe(warm ? SAMPLE_EVENTS : 0);
        daemon.inject(SDA_CHANGE);
        await daemon.queue.whenIdle(10_000);
        records.push(readFileSync(join(r.run, 'data', 'b8:0'), 'utf8').replace(/^I:\d+$/m, 'I:'));
        // the event ran its programs (the warm-up did not, above)
        expect(existsSync(join(r.base, 'program-ran'))).toBe(true);
      } finally {
        await daemon.stop();
        r.cleanup();
      }
    }
    expect(records[0]).toMatch(/^E:ID_PATH=pci-0000:00:14\.0-usb-0:1:1\.0-scsi-0:0:0:0$/m);
    expect(records[0]).toMatch(/^E:FROM_PROGRAM=x$/m);
    expect(records[0]).toBe(records[1]);

    // an event first: no warm-up at all
    const r = tempRoots('dm-warm-');
    writeRules(r);
    const daemon = await Daemon.start({ config: testConfig(r, { sysfs: FIXTURE, mknod: false }), logger: createLogger({ level: 'silent' }), watch: false });
    try {
      daemon.inject(SDA_CHANGE);
      expect(await daemon.warmedUp).toBeUndefined();
    } finally {
      await daemon.stop();
      r.cleanup();
    }
  });
});
