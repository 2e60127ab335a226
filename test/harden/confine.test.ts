// Every path the daemon writes stays inside its root (docs/SECURITY.md), on the real kernel with temp roots: a
// zram disk's change event runs rules that try to write outside through SYSCTL{}, ATTR{} and SYMLINK — with "..",
// absolute paths, substitutions that produce "..", and symlinks planted inside the sysfs and dev roots. Nothing
// appears outside, each refusal is logged with the rule's file:line and the device, and the event goes on (its
// later lines still apply). A uevent whose DEVNAME leaves /dev is dropped before anything is made.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { controlRequest } from '../../src/daemon/control.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { Device } from '../../src/device/device.js';
import { mangleDevname } from '../../src/device/roots.js';
import type { Uevent } from '../../src/netlink/uevent.js';
import { captureLogger } from '../helpers/log-capture.js';
import { BroadcastListener, startDevmaster, tempRoots, testConfig, until, zramAdd, zramRemove, type RunningDevmaster, type TempRoots } from '../daemon/helpers.js';

/** Runs a change event for zram `n` through the daemon and waits for its broadcast. */
async function change(dm: RunningDevmaster, run: string, listener: BroadcastListener, n: number): Promise<Map<string, string>> {
  const port = ((await controlRequest(run, { command: 'status' })) as { broadcaster: { port: number } }).broadcaster.port;
  listener.clear();
  writeFileSync(`/sys/block/zram${n}/uevent`, 'change');
  const b = await listener.waitFor((x) => x.senderPort === port && x.properties.get('DEVNAME') === `/dev/zram${n}` && x.properties.get('ACTION') === 'change', 15_000, `zram${n} change`);
  await dm.settle();
  return b.properties;
}

/** The daemon's log messages (its JSON lines' msg), one a line. */
function messages(dm: RunningDevmaster): string {
  return dm
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => (JSON.parse(l) as { msg: string }).msg)
    .join('\n');
}

/** The log lines (JSON) whose message names file:line. */
function logged(dm: RunningDevmaster, file: string, line: number): { msg: string; devpath?: string }[] {
  return dm
    .log()
    .split('\n')
    .filter((l) => l.startsWith('{') && l.includes(`${file}:${line} `))
    .map((l) => JSON.parse(l) as { msg: string; devpath?: string });
}

describe('writes confined to their roots (real sysfs, temp dev and run roots)', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  let outside: string;
  let n: number;
  let rules: string;
  let props: Map<string, string>;
  const deep = '../'.repeat(12);

  beforeAll(async () => {
    r = tempRoots('dm-confine-');
    outside = mkdtempSync(join(tmpdir(), 'dm-outside-'));
    n = zramAdd();
    const k = `zram${n}`;
    // a symlink planted in the dev root, to a directory outside it
    symlinkSync(outside, join(r.dev, 'dmplant'));
    rules = join(r.rules, '50-escape.rules');
    const lines = [
      // a program's result that climbs out: %c and $result substitute it into the names below
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", PROGRAM=="/bin/echo ${deep}${outside.slice(1)}/by-result", ENV{DM_ESC}="${deep}${outside.slice(1)}/by-env"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", SYSCTL{kernel/${deep}${outside.slice(1)}/sysctl-dotdot}="1"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", SYSCTL{kernel/%c}="1"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", SYSCTL{${outside}/sysctl-absolute}="1"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", SYSCTL{kernel/dm-created-${process.pid}}="1"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", ATTR{${deep}${outside.slice(1)}/attr-dotdot}="1"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", ATTR{$result}="1"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", ATTR{[block/${k}]${deep}${outside.slice(1)}/attr-subsys}="1"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", ATTR{dm-created-${process.pid}}="1"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", SYMLINK+="${deep}${outside.slice(1)}/link-dotdot"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", SYMLINK+="${outside}/link-absolute"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", OPTIONS+="string_escape=none", SYMLINK+="$env{DM_ESC}"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", SYMLINK+="dmplant/sub/%k"`,
      // legitimate: a sysfs symlink inside sysfs (bdi -> /sys/devices/virtual/bdi/M:m), a link in the dev root
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", ATTR{bdi/read_ahead_kb}="1024", SYMLINK+="dmok/%k"`,
      `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", ENV{DM_DONE}="yes"`,
      '',
    ];
    writeFileSync(rules, lines.join('\n'));
    listener = await BroadcastListener.open();
    dm = await startDevmaster(r);
    props = await change(dm, r.run, listener, n);
  }, 60_000);

  afterAll(async () => {
    listener?.close();
    expect(await dm?.stop()).toBe(0);
    zramRemove(n);
    r?.cleanup();
    rmSync(outside, { recursive: true, force: true });
  });

  it('creates nothing outside the roots, and nothing in sysfs or /proc/sys', () => {
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(`/proc/sys/kernel/dm-created-${process.pid}`)).toBe(false);
    expect(existsSync(`/sys/block/zram${n}/dm-created-${process.pid}`)).toBe(false);
  });

  it('logs each refusal with the rule file:line and the device, and the event goes on', () => {
    const devpath = `/devices/virtual/block/zram${n}`;
    for (const line of [2, 3, 6, 7, 8, 10, 11, 12]) {
      const hits = logged(dm, rules, line);
      expect(hits.length, `line ${line}: ${dm.log().slice(-3000)}`).toBeGreaterThan(0);
      expect(hits[0]!.devpath).toBe(devpath);
    }
    expect(logged(dm, rules, 2)[0]!.msg).toMatch(/refusing to write SYSCTL\{.*\}="1": the name leaves \/proc\/sys/);
    expect(logged(dm, rules, 6)[0]!.msg).toMatch(/refusing to write "1": sysfs attribute ".*attr-dotdot" is outside \/sys/);
    expect(logged(dm, rules, 10)[0]!.msg).toMatch(/invalid symlink name .* \(it leaves \/dev\), ignoring/);
    // the sysctl and the attribute that do not exist are not made: the open fails (ENOENT), logged
    expect(logged(dm, rules, 4)[0]!.msg).toMatch(/failed to write "1" to sysctl .*ENOENT/);
    expect(logged(dm, rules, 5)[0]!.msg).toMatch(/failed to write "1" to sysctl .*ENOENT/);
    expect(logged(dm, rules, 9)[0]!.msg).toMatch(/failed to write "1" to sysfs attribute .*ENOENT/);
    // a link through a directory planted in the dev root is refused when it is placed (the rules are long done)
    const plant = dm.log().split('\n').find((l) => l.includes('/dmplant/sub/'));
    expect(plant).toMatch(/cannot create directory for '.*\/dmplant\/sub\/zram\d+': directory \\".*\/dmplant\\" resolves to \\".*dm-outside-[^"\\]*\\", outside/);
    expect((JSON.parse(plant!) as { devpath: string }).devpath).toBe(devpath);
    expect(props.get('UDEV_WORKER_FAILED')).toBeUndefined();
    expect(props.get('DM_DONE')).toBe('yes');
  });

  it('still writes what stays inside: an attribute through a sysfs symlink, a link in the dev root', () => {
    expect(readFileSync(`/sys/block/zram${n}/bdi/read_ahead_kb`, 'utf8').trim()).toBe('1024');
    expect(readlinkSync(join(r.dev, 'dmok', `zram${n}`))).toBe(`../zram${n}`);
    // as udev: a link that could not be placed stays in DEVLINKS (udev_node_update logs and goes on)
    expect(props.get('DEVLINKS')?.split(' ')).toContain(`/dev/dmok/zram${n}`);
  });
});

describe('writes confined to their roots (a sysfs root with symlinks planted in it)', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  let outside: string;
  let sysfs: string;
  let n: number;

  beforeAll(async () => {
    r = tempRoots('dm-confine2-');
    outside = mkdtempSync(join(tmpdir(), 'dm-outside-'));
    n = zramAdd();
    const k = `zram${n}`;
    // a sysfs root of our own for the kernel's zram device: its attributes are files we can check
    sysfs = join(r.base, 'sys');
    const dir = join(sysfs, 'devices', 'virtual', 'block', k);
    mkdirSync(dir, { recursive: true });
    // (read and written, not copied: copyfile on a sysfs attribute never ends)
    for (const a of ['uevent', 'dev']) writeFileSync(join(dir, a), readFileSync(`/sys/block/${k}/${a}`));
    writeFileSync(join(dir, 'dmattr'), '');
    writeFileSync(join(outside, 'target'), '');
    symlinkSync(outside, join(dir, 'evildir'));
    symlinkSync(join(outside, 'target'), join(dir, 'evilfile'));
    mkdirSync(join(sysfs, 'kernel'));
    writeFileSync(
      join(r.rules, '50-planted.rules'),
      [
        `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", ATTR{evildir/target}="through a directory link"`,
        `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", ATTR{evilfile}="through a file link"`,
        `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", ATTR{dm-new}="created?"`,
        `SUBSYSTEM=="block", KERNEL=="${k}", ACTION=="change", ATTR{dmattr}="written"`,
        '',
      ].join('\n'),
    );
    listener = await BroadcastListener.open();
    dm = await startDevmaster(r, ['--sysfs', sysfs]);
    await change(dm, r.run, listener, n);
  }, 60_000);

  afterAll(async () => {
    listener?.close();
    expect(await dm?.stop()).toBe(0);
    zramRemove(n);
    r?.cleanup();
    rmSync(outside, { recursive: true, force: true });
  });

  it('refuses attributes that resolve outside the sysfs root, and creates none', () => {
    expect(readFileSync(join(outside, 'target'), 'utf8')).toBe('');
    expect(readdirSync(outside)).toEqual(['target']);
    const dir = join(sysfs, 'devices', 'virtual', 'block', `zram${n}`);
    expect(existsSync(join(dir, 'dm-new'))).toBe(false);
    expect(readFileSync(join(dir, 'dmattr'), 'utf8')).toBe('written');
    expect(messages(dm)).toMatch(/50-planted\.rules:1 refusing to write "through a directory link": sysfs attribute ".*evildir\/target" resolves to ".*dm-outside-.*\/target", outside/);
    expect(messages(dm)).toMatch(/50-planted\.rules:2 refusing to write "through a file link": sysfs attribute ".*evilfile" resolves to/);
    expect(messages(dm)).toMatch(/50-planted\.rules:3 failed to write "created\?" to sysfs attribute .*ENOENT/);
  });
});

describe('DEVNAME from a uevent', () => {
  it('is accepted as sd-device accepts it (mangle_devname), refused when it leaves /dev', () => {
    expect(mangleDevname('sda')).toBe('/dev/sda');
    expect(mangleDevname('bus/usb/001/002')).toBe('/dev/bus/usb/001/002');
    expect(mangleDevname('/dev/input//event3')).toBe('/dev/input/event3');
    expect(mangleDevname('./null')).toBe('/dev/null');
    for (const bad of ['', '../etc/passwd', 'a/../../b', '/tmp/x', '/dev/', '/dev/..', '/devices/x', '/dev/a/..']) expect(mangleDevname(bad), bad).toBeUndefined();
    const ev = { DEVPATH: '/devices/virtual/mem/null', SUBSYSTEM: 'mem', ACTION: 'change', MAJOR: '1', MINOR: '3' };
    expect(() => Device.fromUevent({ sysfs: '/sys', dev: '/dev', run: '/run/udev' }, { ...ev, DEVNAME: '../../tmp/x' })).toThrow(/invalid DEVNAME/);
    expect(Device.fromUevent({ sysfs: '/sys', dev: '/dev', run: '/run/udev' }, { ...ev, DEVNAME: 'null' }).devname).toBe('/dev/null');
    // names no sysfs can have: a devpath component, or the id they make, longer than NAME_MAX (found by fuzz.test.ts)
    expect(() => Device.fromUevent({ sysfs: '/sys', dev: '/dev', run: '/run/udev' }, { ...ev, DEVPATH: `/devices/virtual/mem/${'n'.repeat(256)}` })).toThrow(/valid DEVPATH/);
    expect(() => Device.fromUevent({ sysfs: '/sys', dev: '/dev', run: '/run/udev' }, { ...ev, SUBSYSTEM: 'm'.repeat(250) })).toThrow(/longer than 255 bytes/);
  });

  it('a uevent whose DEVNAME leaves /dev is dropped: no node, no record, logged', async () => {
    const r = tempRoots('dm-devname-');
    const outside = mkdtempSync(join(tmpdir(), 'dm-outside-'));
    const { logger, lines } = captureLogger();
    const d = await Daemon.start({ config: testConfig(r, { mknod: true }), logger, netlink: false, watch: false });
    try {
      for (const [i, name] of [`../../../..${outside}/node`, `${outside}/node2`, `/dev/../..${outside}/node3`].entries()) {
        d.inject({
          action: 'add',
          devpath: '/devices/virtual/mem/null',
          subsystem: 'mem',
          seqnum: 10 + i,
          properties: new Map([['ACTION', 'add'], ['DEVPATH', '/devices/virtual/mem/null'], ['SUBSYSTEM', 'mem'], ['SEQNUM', String(10 + i)], ['MAJOR', '1'], ['MINOR', '3'], ['DEVNAME', name]]),
        } as Uevent);
      }
      await until(() => d.queue.isIdle && d.counters.failed === 3, 10_000, 'the three events dropped');
      expect(readdirSync(outside)).toEqual([]);
      expect(readdirSync(r.dev)).toEqual([]);
      expect(existsSync(join(r.run, 'data', 'c1:3'))).toBe(false);
      expect(lines.filter((l) => /event dropped: invalid device/.test(l.msg) && /invalid DEVNAME/.test(String(l.err)))).toHaveLength(3);
    } finally {
      await d.stop();
      r.cleanup();
      rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe('device node permissions', () => {
  it('are not applied through a symlink put where the node should be', async () => {
    const r = tempRoots('dm-nodelink-');
    const { logger, lines } = captureLogger();
    writeFileSync(join(r.rules, '50-mode.rules'), 'KERNEL=="null", MODE="0600"\n');
    const target = join(r.base, 'victim');
    writeFileSync(target, '');
    symlinkSync(target, join(r.dev, 'null'));
    const d = await Daemon.start({ config: testConfig(r, { mknod: false }), logger, netlink: false, watch: false });
    try {
      d.inject({
        action: 'change',
        devpath: '/devices/virtual/mem/null',
        subsystem: 'mem',
        seqnum: 1,
        properties: new Map([['ACTION', 'change'], ['DEVPATH', '/devices/virtual/mem/null'], ['SUBSYSTEM', 'mem'], ['SEQNUM', '1'], ['MAJOR', '1'], ['MINOR', '3'], ['DEVNAME', 'null']]),
      } as Uevent);
      expect(await d.queue.whenIdle(10_000)).toBe(true);
      expect(lstatSync(target).mode & 0o777).toBe(0o644);
      expect(lines.some((l) => /found node .*\/null with mismatching type or device number, not changing it/.test(l.msg))).toBe(true);
    } finally {
      await d.stop();
      r.cleanup();
    }
  });
});
