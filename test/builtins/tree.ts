// Builds small fake sysfs trees for builtin tests: device directories with uevent files and attributes,
// relative "subsystem" links, and the /sys/bus/*/devices and /sys/class/* links that sd-device's
// subsystem+sysname look-up follows.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import type { Roots } from '../../src/device/roots.js';

export interface FakeDevice {
  /** /devices/... */
  devpath: string;
  /** Subsystem name; omitted for a device without one. */
  subsystem?: string;
  /** "bus" (default for the usual buses) or "class". */
  kind?: 'bus' | 'class';
  devtype?: string;
  /** Extra uevent lines (KEY=VALUE) besides DEVTYPE. */
  uevent?: Record<string, string>;
  /** Attribute files (relative names; a string is written with a trailing newline, a Buffer as it is). */
  attrs?: Record<string, string | Buffer>;
  /** Driver name: adds a "driver" link to /sys/bus/<subsystem>/drivers/<name>. */
  driver?: string;
}

const BUSES = new Set(['pci', 'usb', 'scsi', 'platform', 'serio', 'virtio', 'acpi', 'xen', 'ccw', 'ccwgroup', 'ap', 'iucv', 'spi', 'bcma', 'cciss', 'scm', 'vmbus', 'css', 'firewire', 'pnp', 'hid', 'i2c']);

function link(target: string, at: string): void {
  mkdirSync(dirname(at), { recursive: true });
  if (!existsSync(at)) symlinkSync(relative(dirname(at), target), at);
}

/** Writes the devices into <base>/sys and returns the roots (dev and run are empty directories). */
export function buildSysfs(base: string, devices: FakeDevice[]): Roots {
  const sys = join(base, 'sys');
  for (const d of devices) {
    const dir = join(sys, d.devpath);
    mkdirSync(dir, { recursive: true });
    const lines: string[] = [];
    if (d.devtype) lines.push(`DEVTYPE=${d.devtype}`);
    for (const [k, v] of Object.entries(d.uevent ?? {})) lines.push(`${k}=${v}`);
    writeFileSync(join(dir, 'uevent'), lines.map((l) => l + '\n').join(''));
    for (const [k, v] of Object.entries(d.attrs ?? {})) {
      mkdirSync(dirname(join(dir, k)), { recursive: true });
      writeFileSync(join(dir, k), typeof v === 'string' ? v + '\n' : v);
    }
    if (d.subsystem) {
      const kind = d.kind ?? (BUSES.has(d.subsystem) ? 'bus' : 'class');
      const name = basename(d.devpath);
      if (kind === 'bus') {
        const bus = join(sys, 'bus', d.subsystem);
        mkdirSync(join(bus, 'devices'), { recursive: true });
        link(bus, join(dir, 'subsystem'));
        link(dir, join(bus, 'devices', name));
        if (d.driver) {
          mkdirSync(join(bus, 'drivers', d.driver), { recursive: true });
          link(join(bus, 'drivers', d.driver), join(dir, 'driver'));
        }
      } else {
        const cls = join(sys, 'class', d.subsystem);
        mkdirSync(cls, { recursive: true });
        link(cls, join(dir, 'subsystem'));
        link(dir, join(cls, name));
      }
    }
  }
  for (const sub of ['dev', 'run']) mkdirSync(join(base, sub), { recursive: true });
  return { sysfs: sys, dev: join(base, 'dev'), run: join(base, 'run') };
}

/** buildSysfs in a fresh temp directory; cleanup() removes it. */
export function tempSysfs(devices: FakeDevice[]): { roots: Roots; cleanup: () => void } {
  const base = mkdtempSync(join(tmpdir(), 'dm-builtin-tree-'));
  return { roots: buildSysfs(base, devices), cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

/** Shorthands for the SCSI chain host/target/device. */
export function scsiChain(hostPath: string, h: number, c: number, t: number, l: number): FakeDevice[] {
  const target = `${hostPath}/target${h}:${c}:${t}`;
  return [
    { devpath: hostPath, subsystem: 'scsi', devtype: 'scsi_host' },
    { devpath: target, subsystem: 'scsi', devtype: 'scsi_target' },
    { devpath: `${target}/${h}:${c}:${t}:${l}`, subsystem: 'scsi', devtype: 'scsi_device' },
  ];
}

export function disk(parent: string, name: string, extra: Partial<FakeDevice> = {}): FakeDevice {
  return { devpath: `${parent}/block/${name}`, subsystem: 'block', devtype: 'disk', uevent: { DEVNAME: name.replace(/!/g, '/') }, ...extra };
}
