import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync, symlinkSync, readFileSync, statSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { Device, DeviceError } from '../../src/device/device.js';
import { makeDevT, splitDevT } from '../../src/sys/devnum.js';
import { scratchDir } from '../helpers/scratch.js';

const real = { sysfs: '/sys', dev: '/dev', run: scratchDir('dm-run-') };

describe('Device on the real sysfs', () => {
  it('creates from syspath, devpath, devnum, devname, subsystem/sysname, id', () => {
    const a = Device.fromSyspath(real, '/sys/class/mem/null');
    expect(a.devpath).toBe('/devices/virtual/mem/null');
    expect(a.subsystem).toBe('mem');
    expect(a.sysname).toBe('null');
    expect(a.devnum).toEqual({ major: 1, minor: 3 });
    expect(a.devname).toBe('/dev/null');
    expect(a.id).toBe('c1:3');
    expect(Device.fromDevpath(real, '/devices/virtual/mem/null').syspath).toBe('/sys/devices/virtual/mem/null');
    expect(Device.fromDevnum(real, 'c', 1, 3).devpath).toBe(a.devpath);
    expect(Device.fromDevname(real, '/dev/null').devpath).toBe(a.devpath);
    expect(Device.fromSubsystemSysname(real, 'mem', 'null').devpath).toBe(a.devpath);
    expect(Device.fromDeviceId(real, 'c1:3').devpath).toBe(a.devpath);
  });

  it('network interfaces have ifindex and n<ifindex> ids', () => {
    const lo = Device.fromSubsystemSysname(real, 'net', 'lo');
    expect(lo.ifindex).toBe(1);
    expect(lo.id).toBe('n1');
    expect(Device.fromDeviceId(real, 'n1').devpath).toBe(lo.devpath);
    expect(lo.sysattr('ifindex')).toBe('1');
    expect(lo.sysattr('address')).toBe('00:00:00:00:00:00');
    expect(lo.sysattr('subsystem')).toBe('net');
  });

  it('walks parents and finds ancestors by subsystem', () => {
    const tty = Device.fromSubsystemSysname(real, 'tty', 'ttyS0');
    const parent = tty.parent();
    expect(parent).toBeDefined();
    expect(tty.devpath.startsWith(parent!.devpath + '/')).toBe(true);
    const all = [...tty.selfAndAncestors()];
    expect(all[0]).toBe(tty);
  });

  it('sysnum is the trailing number, none for all-digit names', () => {
    expect(Device.fromSubsystemSysname(real, 'tty', 'ttyS0').sysnum).toBe('0');
    expect(Device.fromSubsystemSysname(real, 'mem', 'null').sysnum).toBeUndefined();
  });

  it('subsystems, drivers and modules are devices too', () => {
    const bus = Device.fromSubsystemSysname(real, 'subsystem', 'platform');
    expect(bus.subsystem).toBe('subsystem');
    expect(bus.id).toBe('+subsystem:platform');
  });

  it('rejects bad input with DeviceError', () => {
    expect(() => Device.fromSyspath(real, '/sys/devices/does-not-exist')).toThrow(DeviceError);
    expect(() => Device.fromSyspath(real, '/etc/passwd')).toThrow(/not under the sysfs root/);
    expect(() => Device.fromSyspath(real, '/sys/devices/../../etc')).toThrow(DeviceError);
    expect(() => Device.fromDevnum(real, 'b', 4095, 99999)).toThrow(/no block device/);
    expect(() => Device.fromDevname(real, '/etc/passwd')).toThrow(DeviceError);
    expect(() => Device.fromDeviceId(real, 'zz')).toThrow(/invalid device id/);
    expect(() => Device.fromUevent(real, { ACTION: 'add' })).toThrow(/DEVPATH/);
  });
});

describe('Device on a fake sysfs tree', () => {
  function tree() {
    const root = scratchDir('dm-sys-');
    const sys = join(root, 'sys');
    const dev = join(root, 'dev');
    mkdirSync(dev);
    const d = join(sys, 'devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block/sda');
    mkdirSync(join(d, 'sda1'), { recursive: true });
    mkdirSync(join(sys, 'class/block'), { recursive: true });
    mkdirSync(join(sys, 'dev/block'), { recursive: true });
    writeFileSync(join(d, 'uevent'), 'MAJOR=8\nMINOR=0\nDEVNAME=sda\nDEVTYPE=disk\n');
    writeFileSync(join(d, 'size'), '1000  \n\n');
    writeFileSync(join(d, 'secret'), 'x');
    chmodSync(join(d, 'secret'), 0o200);
    writeFileSync(join(d, 'sda1', 'uevent'), 'MAJOR=8\nMINOR=1\nDEVNAME=sda1\nDEVTYPE=partition\nPARTN=1\n');
    symlinkSync(join(sys, 'class/block'), join(d, 'subsystem'));
    symlinkSync(join(sys, 'class/block'), join(d, 'sda1', 'subsystem'));
    symlinkSync('../../devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block/sda/sda1', join(sys, 'dev/block/8:1'));
    for (const p of ['devices/pci0000:00', 'devices/pci0000:00/0000:00:1f.2', 'devices/pci0000:00/0000:00:1f.2/host0']) writeFileSync(join(sys, p, 'uevent'), '');
    return { sysfs: sys, dev, run: join(root, 'run') };
  }

  it('reads uevent properties, trims trailing newlines only, and skips unreadable attributes', () => {
    const roots = tree();
    const part = Device.fromDevnum(roots, 'b', 8, 1);
    expect(part.sysname).toBe('sda1');
    expect(part.devtype).toBe('partition');
    expect(part.property('PARTN')).toBe('1');
    expect(part.id).toBe('b8:1');
    const disk = part.parentWithSubsystemDevtype('block', 'disk');
    expect(disk?.sysname).toBe('sda');
    expect(disk?.sysattr('size')).toBe('1000  ');
    // the target/lun directories have no uevent file: the parent walk skips them
    expect(disk?.parent()?.devpath).toBe('/devices/pci0000:00/0000:00:1f.2/host0');
    // root may read anything; the mode check models the kernel's write-only attributes
    expect(disk?.sysattr('secret')).toBeUndefined();
    expect(disk?.sysattr('nope')).toBeUndefined();
  });

  it('writes attributes', () => {
    const roots = tree();
    const disk = Device.fromDevpath(roots, '/devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block/sda');
    disk.setSysattr('size', '42\n');
    expect(readFileSync(join(disk.syspath, 'size'), 'utf8')).toBe('42\n');
    expect(disk.sysattr('size')).toBe('42');
    expect(() => disk.setSysattr('../../x', '1')).toThrow(DeviceError);
  });

  it('finds devices from node paths under a temp dev root', () => {
    const roots = tree();
    // a regular file is not a node
    writeFileSync(join(roots.dev, 'sda1'), '');
    expect(() => Device.fromDevname(roots, '/dev/sda1')).toThrow(/not a device node/);
    expect(statSync(join(roots.dev, 'sda1')).isFile()).toBe(true);
  });

  it('makes devices from uevents that need no sysfs entry', () => {
    const roots = tree();
    const d = Device.fromUevent(roots, { ACTION: 'remove', DEVPATH: '/devices/virtual/block/zram9', SUBSYSTEM: 'block', MAJOR: '251', MINOR: '9', DEVNAME: 'zram9', DEVTYPE: 'disk', SEQNUM: '77' });
    expect(d.action).toBe('remove');
    expect(d.seqnum).toBe(77);
    expect(d.id).toBe('b251:9');
    expect(d.devname).toBe('/dev/zram9');
    expect(d.exists()).toBe(false);
    expect(d.properties.get('SEQNUM')).toBe('77');
  });
});

describe('dev_t encoding', () => {
  it('round-trips large numbers', () => {
    for (const [ma, mi] of [[8, 0], [4095, 89999], [259, 1048575], [1, 3]] as const) {
      expect(splitDevT(makeDevT(ma, mi))).toEqual({ major: ma, minor: mi });
    }
  });
});
