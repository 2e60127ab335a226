import { describe, it, expect, beforeAll } from 'vitest';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { enumerateDevices, pathCompare, deviceCompare, type SkipInfo } from '../../src/device/enumerate.js';
import { fnmatch } from '../../src/util/fnmatch.js';
import { readSysattr } from '../../src/device/enumerate/sysattr.js';
import { referenceUdev } from '../helpers/reference.js';
import { FIXTURE, devctl, udevadm, fixtureCopy, stableCompare } from './helpers.js';
import { scratchDir } from '../helpers/scratch.js';

const run = scratchDir('devmaster-enum-run-');
const fx = { sysfs: FIXTURE, dev: '/dev', run };

describe('fnmatch and ordering', () => {
  it('matches like fnmatch(3) with no flags', () => {
    expect(fnmatch('sd*', 'sda1')).toBe(true);
    expect(fnmatch('sd?', 'sda1')).toBe(false);
    expect(fnmatch('tty[0-3]', 'tty2')).toBe(true);
    expect(fnmatch('tty[!0-3]', 'tty2')).toBe(false);
    expect(fnmatch('*', 'a/b')).toBe(true);
    expect(fnmatch('a\\*', 'a*')).toBe(true);
    expect(fnmatch('a\\*', 'ab')).toBe(false);
    expect(fnmatch('[', '[')).toBe(true);
    expect(fnmatch('[[:digit:]]x', '5x')).toBe(true);
  });
  it('sorts by path components, md/dm last, sound control last', () => {
    expect(pathCompare('/devices/a/b', '/devices/a-1')).toBeLessThan(0);
    expect(deviceCompare('/devices/virtual/block/md0', '/devices/z')).toBeGreaterThan(0);
    expect(deviceCompare('/devices/virtual/block/dm-0', '/devices/virtual/block/loop0')).toBeGreaterThan(0);
    expect(deviceCompare('/devices/pci/sound/card0/controlC0', '/devices/pci/sound/card0/pcmC0D0p')).toBeGreaterThan(0);
  });
});

describe('enumeration of the fixture tree', () => {
  it('lists devices parents first, with bus and class entries deduplicated', () => {
    const list = enumerateDevices(fx).map((d) => d.devpath);
    expect(list).toContain('/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda/sda1');
    expect(new Set(list).size).toBe(list.length);
    const i = list.indexOf('/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda');
    const j = list.indexOf('/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda/sda1');
    expect(i).toBeGreaterThanOrEqual(0);
    expect(i).toBeLessThan(j);
  });
  it('applies subsystem, sysname, attribute, property and parent filters', () => {
    const names = (f: Parameters<typeof enumerateDevices>[2]) => enumerateDevices(fx, 'devices', f).map((d) => d.sysname);
    expect(names({ subsystems: ['block'] })).toEqual(['sda', 'sda1', 'sda2']);
    expect(names({ subsystems: ['block'], sysnames: ['*1'] })).toEqual(['sda1']);
    expect(names({ properties: [['DEVTYPE', 'partition']] })).toEqual(['sda1', 'sda2']);
    expect(names({ sysattrs: [['address', '52:54:*']] })).toEqual(['eth0']);
    expect(names({ nomatchSubsystems: ['block', 'usb', 'scsi', 'pci', 'input', 'scsi_host', 'scsi_disk', 'platform', 'serio', 'pnp', 'tty'] })).toEqual(['eth0']);
    expect(names({ parents: ['/devices/pci0000:00/0000:00:03.0'] })).toEqual(['0000:00:03.0', 'eth0']);
  });
  it('prioritized subsystems come first with their ancestors', () => {
    const list = enumerateDevices(fx, 'devices', { prioritizedSubsystems: ['net'] }).map((d) => d.sysname);
    expect(list.slice(0, 2)).toEqual(['0000:00:03.0', 'eth0']);
  });
  it('subsystems: modules, buses and drivers', () => {
    const list = enumerateDevices(fx, 'subsystems').map((d) => d.devpath);
    expect(list).toContain('/module/usb_storage');
    expect(list).toContain('/bus/pci');
    expect(list).toContain('/bus/pci/drivers');
    expect(list).toContain('/bus/pci/drivers/e1000');
  });
  it('tag matches read the tag index of the run root', () => {
    const r = scratchDir('devmaster-enum-tags-');
    mkdirSync(join(r, 'tags', 'seat'), { recursive: true });
    mkdirSync(join(r, 'data'), { recursive: true });
    writeFileSync(join(r, 'tags', 'seat', 'c13:64'), '');
    writeFileSync(join(r, 'tags', 'seat', 'c99:99'), ''); // a stale entry: skipped, not fatal
    writeFileSync(join(r, 'data', 'c13:64'), 'G:seat\nQ:seat\nV:1\n');
    const skips: SkipInfo[] = [];
    const list = enumerateDevices({ ...fx, run: r }, 'devices', { tags: ['seat'] }, (s) => skips.push(s));
    expect(list.map((d) => d.sysname)).toEqual(['event0']);
    expect(skips.some((s) => s.path.endsWith('c99:99'))).toBe(true);
  });
});

describe('bad input', () => {
  it('an unreadable attribute is a clear error code, and filters treat it as no match', () => {
    const sys = fixtureCopy();
    const attr = join(sys, 'devices/pci0000:00/0000:00:03.0/net/eth0/address');
    chmodSync(attr, 0o200);
    const r = readSysattr(join(sys, 'devices/pci0000:00/0000:00:03.0/net/eth0'), 'address');
    expect(r).toEqual({ ok: false, code: 'EPERM' });
    expect(enumerateDevices({ sysfs: sys, dev: '/dev', run }, 'devices', { sysattrs: [['address', '*']] })).toEqual([]);
  });
  it('a missing sysfs root is skipped with a report', () => {
    const skips: SkipInfo[] = [];
    expect(enumerateDevices({ sysfs: '/nonexistent/sys', dev: '/dev', run }, 'all', {}, (s) => skips.push(s))).toEqual([]);
    expect(skips.length).toBeGreaterThan(0);
  });
  it('devctl trigger names a nonexistent device and a path outside the sysfs root', () => {
    const a = devctl(['trigger', '-n', '--sysfs', FIXTURE, '/sys/devices/nope']);
    expect(a.status).toBe(1);
    expect(a.stderr).toContain("'/sys/devices/nope'");
    const b = devctl(['trigger', '-n', '--sysfs', FIXTURE, '/etc/passwd']);
    expect(b.status).toBe(1);
    expect(b.stderr).toContain("'/etc/passwd'");
    const c = devctl(['trigger', '-n', '--sysfs', FIXTURE, '--action', 'explode']);
    expect(c.status).toBe(1);
    expect(c.stderr).toContain('explode');
  });
});

describe('same list as udevadm trigger --dry-run --verbose', () => {
  beforeAll(() => {
    referenceUdev();
  });
  const cases: string[][] = [
    [],
    ['--type=subsystems'],
    ['--type=all'],
    ['-s', 'block'],
    ['-s', 'p*', '-S', 'pci_express'],
    ['-S', 'block', '-S', 'net'],
    ['-a', 'dev'],
    ['-A', 'dev'],
    ['-p', 'DEVTYPE=disk'],
    ['-y', 'tty[0-3]', '-s', 'tty'],
    ['-b', '/sys/devices/pci0000:00'],
    ['--prioritized-subsystem=block,net'],
    ['-t', 'subsystems', '-s', 'drivers'],
    ['-t', 'all', '-s', 'pci', '-S', 'drivers'],
  ];
  for (const c of cases) {
    it(`live /sys: ${c.join(' ') || '(no filters)'}`, () => {
      const r = stableCompare(
        () => devctl(['trigger', '--dry-run', '--verbose', ...c]).stdout,
        () => udevadm(['trigger', '--dry-run', '--verbose', ...c]).stdout,
      );
      expect(r.ref.split('\n').length).toBeGreaterThan(1);
      expect(r.ours).toBe(r.ref);
    });
  }
  const fixtureCases: string[][] = [
    [],
    ['--type=subsystems'],
    ['--type=all'],
    ['-s', 'block'],
    ['-b', '/sys/devices/pci0000:00/0000:00:14.0'],
    ['/sys/class/block/sda'],
    ['-a', 'size'],
    ['-a', 'removable=1'],
    ['-p', 'DEVTYPE=partition'],
    ['-y', 'sda*'],
    ['--prioritized-subsystem=net,tty'],
  ];
  for (const c of fixtureCases) {
    it(`fixture tree: ${c.join(' ') || '(no filters)'}`, () => {
      const args = c;
      const ours = devctl(['trigger', '--sysfs', FIXTURE, '--dry-run', '--verbose', ...args]);
      expect(ours.status).toBe(0);
      const ref = udevadm(['trigger', '--dry-run', '--verbose', ...args], { sysfs: FIXTURE });
      expect(ref.status).toBe(0);
      expect(ours.stdout.split(FIXTURE).join('/sys')).toBe(ref.stdout);
      expect(ref.stdout.length).toBeGreaterThan(0);
    });
  }
});
