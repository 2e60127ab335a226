import { describe, it, expect, beforeAll } from 'vitest';
import { chmodSync, lstatSync, mkdtempSync, readdirSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev } from '../helpers/reference.js';
import { FIXTURE, devctl, udevadm, fixtureCopy, stableCompare } from '../enumerate/helpers.js';
import { writeFixtureDb, normalize, ENTRIES } from './dbfixture.js';

let run: string;
beforeAll(() => {
  referenceUdev();
  run = writeFixtureDb();
});

const DEVICES = [
  '/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/sda',
  '/sys/class/block/sda1',
  '/sys/class/block/sda2',
  '/sys/class/net/eth0',
  '/sys/class/input/event0',
  '/sys/class/input/input0',
  '/sys/class/tty/ttyS0',
  '/sys/bus/pci/devices/0000:00:14.0',
  '/sys/bus/usb/devices/1-1',
  '/sys/bus/pci/drivers/e1000',
  '/sys/module/usb_storage',
];

describe('devctl info vs udevadm info (fixture sysfs, database written by devMaster)', () => {
  for (const d of DEVICES) {
    for (const q of [['--query=all'], ['--query=property'], ['--query=property', '--export'], ['--query=property', '--export-prefix=X_'], ['--query=symlink', '--root'], ['--query=path']]) {
      it(`${q.join(' ')} ${d}`, () => {
        const ours = devctl(['info', '--sysfs', FIXTURE, '--run', run, ...q, d]);
        const ref = udevadm(['info', ...q, d], { sysfs: FIXTURE, run });
        expect(ref.status).toBe(0);
        expect(ours.status).toBe(0);
        const norm = (t: string) => (q[0] === '--query=symlink' ? t.trim().split(' ').sort().join(' ') : normalize(t));
        expect(norm(ours.stdout)).toBe(norm(ref.stdout));
      });
    }
  }
  it('--query=name and its error for a device without a node', () => {
    const a = devctl(['info', '--sysfs', FIXTURE, '--run', run, '-q', 'name', '/sys/class/block/sda1']);
    const b = udevadm(['info', '-q', 'name', '/sys/class/block/sda1'], { sysfs: FIXTURE, run });
    expect(a.stdout).toBe(b.stdout);
    const c = devctl(['info', '--sysfs', FIXTURE, '--run', run, '-q', 'name', '/sys/class/net/eth0']);
    const e = udevadm(['info', '-q', 'name', '/sys/class/net/eth0'], { sysfs: FIXTURE, run });
    expect(c.status).toBe(e.status);
    expect(c.status).toBe(1);
  });
  it('--export-db prints the same records', () => {
    const ours = devctl(['info', '--sysfs', FIXTURE, '--run', run, '--export-db']);
    const ref = udevadm(['info', '--export-db'], { sysfs: FIXTURE, run });
    expect(ours.status).toBe(0);
    expect(normalize(ours.stdout)).toBe(normalize(ref.stdout));
    for (const e of ENTRIES) for (const [k, v] of e.properties) if (!k.startsWith('.')) expect(ours.stdout).toContain(`E: ${k}=${v}`);
  });
  it('--export-db on the live system (no database)', () => {
    const empty = mkdtempSync(join(tmpdir(), 'devmaster-info-run-'));
    const r = stableCompare(
      () => devctl(['info', '--run', empty, '--export-db']).stdout,
      () => udevadm(['info', '--export-db'], { run: empty }).stdout,
    );
    expect(r.ours.length).toBeGreaterThan(1000);
    expect(r.ours).toBe(r.ref);
  });
  it('finds devices by device id, unit name and SUBSYSTEM/SYSNAME', () => {
    const want = devctl(['info', '--sysfs', FIXTURE, '--run', run, '-q', 'path', '/sys/class/net/eth0']).stdout;
    expect(want).toBe('/devices/pci0000:00/0000:00:03.0/net/eth0\n');
    expect(devctl(['info', '--sysfs', FIXTURE, '--run', run, '-q', 'path', 'n2']).stdout).toBe(want);
    expect(devctl(['info', '--sysfs', FIXTURE, '--run', run, '-q', 'path', 'net/eth0']).stdout).toBe(want);
    expect(devctl(['info', '--sysfs', FIXTURE, '--run', run, '-q', 'path', 'sys-devices-pci0000:00-0000:00:03.0-net-eth0.device']).stdout).toBe(want);
    expect(devctl(['info', '--sysfs', FIXTURE, '--run', run, '-q', 'path', 'b8:1']).stdout).toContain('/sda1\n');
  });
  it('--json gives the record as JSON', () => {
    const r = devctl(['info', '--sysfs', FIXTURE, '--run', run, '--json=short', '/sys/class/block/sda1']);
    const o = JSON.parse(r.stdout);
    expect(o.PATH).toContain('/sda1');
    expect(o.PROPERTIES.ID_FS_LABEL).toBe('STICK X');
  });
  it('bad input: unknown device, outside sysfs, corrupt database, bad query', () => {
    const a = devctl(['info', '--sysfs', FIXTURE, '--run', run, '/sys/devices/nope']);
    expect(a.status).toBe(1);
    expect(a.stderr).toContain('/sys/devices/nope');
    const b = devctl(['info', '--sysfs', FIXTURE, '--run', run, '/etc']);
    expect(b.status).toBe(1);
    expect(b.stderr).toContain('/etc');
    const c = devctl(['info', '--sysfs', FIXTURE, '--run', run, '-q', 'everything', '/sys/class/net/eth0']);
    expect(c.status).toBe(1);
    expect(c.stderr).toContain('everything');
    const bad = mkdtempSync(join(tmpdir(), 'devmaster-info-bad-'));
    mkdirSync(join(bad, 'data'));
    writeFileSync(join(bad, 'data', 'n2'), 'garbage\nE:OK=1\nX\n\u0000\u0001:zz\nE:=novalue\nI:notanumber\n');
    const d = devctl(['info', '--sysfs', FIXTURE, '--run', bad, '-q', 'property', '/sys/class/net/eth0']);
    expect(d.status).toBe(0);
    expect(d.stdout).toContain('OK=1\n');
  });
  it('--cleanup-db leaves the run directory as udevadm --cleanup-db leaves it', () => {
    // a run directory with everything cleanup_db looks at, and more depth than it goes
    const make = () => {
      const r = writeFixtureDb();
      chmodSync(join(r, 'data', 'n2'), 0o1644); // persistent: stays
      mkdirSync(join(r, 'data', 'subdir', 'deeper'), { recursive: true }); // below data's depth: stays
      writeFileSync(join(r, 'data', '.hidden'), '');
      writeFileSync(join(r, 'queue'), '');
      mkdirSync(join(r, 'links', 'disk\\x2fby-id\\x2fx', 'deep'), { recursive: true }); // a directory at depth 2: stays
      writeFileSync(join(r, 'links', 'disk\\x2fby-id\\x2fx', 'b8:1'), '');
      mkdirSync(join(r, 'static_node-tags', 'uaccess'), { recursive: true });
      writeFileSync(join(r, 'static_node-tags', 'uaccess', 'snd\\x2fseq'), '');
      mkdirSync(join(r, 'watch'), { recursive: true });
      symlinkSync('b8:1', join(r, 'watch', '3'));
      mkdirSync(join(r, 'devmaster', 'devices'), { recursive: true }); // not udev's: stays
      writeFileSync(join(r, 'devmaster', 'state'), '{}');
      return r;
    };
    const listing = (dir: string): string[] => {
      const out: string[] = [];
      const walk = (d: string, rel: string) => {
        for (const n of readdirSync(d).sort()) {
          const st = lstatSync(join(d, n));
          out.push(`${rel}${n}${st.isDirectory() ? '/' : st.isSymbolicLink() ? '@' : ''}`);
          if (st.isDirectory()) walk(join(d, n), `${rel}${n}/`);
        }
      };
      walk(dir, '');
      return out;
    };
    const ours = make();
    const theirs = make();
    const before = listing(ours);
    expect(before).toEqual(listing(theirs));
    expect(devctl(['info', '--run', ours, '--cleanup-db']).status).toBe(0);
    expect(udevadm(['info', '--cleanup-db'], { run: theirs }).status).toBe(0);
    const left = listing(ours);
    expect(left).toEqual(listing(theirs));
    // something went, the persistent record and what it owns stayed
    expect(left.length).toBeLessThan(before.length - 3);
    expect(left).toEqual(expect.arrayContaining(['data/n2', 'tags/systemd/n2']));
  });

  it('--cleanup-db removes records except persistent ones, and the tag index', () => {
    const r = writeFixtureDb();
    chmodSync(join(r, 'data', 'n2'), 0o1644);
    expect(devctl(['info', '--run', r, '--cleanup-db']).status).toBe(0);
    const ours = devctl(['info', '--sysfs', FIXTURE, '--run', r, '-q', 'property', '/sys/class/net/eth0']).stdout;
    expect(ours).toContain('ID_NET_DRIVER=e1000');
    const sda = devctl(['info', '--sysfs', FIXTURE, '--run', r, '-q', 'property', '/sys/class/block/sda1']).stdout;
    expect(sda).not.toContain('ID_FS_TYPE');
  });
});

describe('devctl info --tree vs udevadm info --tree', () => {
  it('the whole fixture tree, with its records, and the count line', () => {
    const ours = devctl(['info', '--sysfs', FIXTURE, '--run', run, '--tree']);
    const ref = udevadm(['info', '--tree'], { sysfs: FIXTURE, run });
    expect(ours.status).toBe(0);
    expect(normalize(ours.stdout)).toBe(normalize(ref.stdout));
    expect(ours.stdout).toMatch(/\n\d+ items shown\.\n$/);
  });
  // a device: its ancestors, itself and everything below it
  for (const d of ['/sys/bus/pci/devices/0000:00:14.0', '/sys/class/block/sda1', '/sys/class/net/eth0', '/sys/bus/usb/devices/1-1', '/sys/class/input/event0', '/sys/class/tty/ttyS0']) {
    it(`around ${d}`, () => {
      const ours = devctl(['info', '--sysfs', FIXTURE, '--run', run, '--tree', d]);
      const ref = udevadm(['info', '--tree', d], { sysfs: FIXTURE, run });
      expect(normalize(ours.stdout)).toBe(normalize(ref.stdout));
    });
  }
  it('the live system (no database), whole and around two devices', () => {
    const empty = mkdtempSync(join(tmpdir(), 'devmaster-info-run-'));
    for (const d of [[], ['/sys/class/net/lo'], ['/sys/class/mem/null']]) {
      const r = stableCompare(
        () => devctl(['info', '--run', empty, '--tree', ...d]).stdout,
        () => udevadm(['info', '--tree', ...d], { run: empty }).stdout,
      );
      if (d.length === 0) expect(r.ours.split('\n').length).toBeGreaterThan(1000);
      expect(r.ours).toBe(r.ref);
    }
  });
});

describe('devctl info --attribute-walk vs udevadm info --attribute-walk', () => {
  for (const d of DEVICES.slice(0, 9)) {
    it(`fixture ${d}`, () => {
      const ours = devctl(['info', '--sysfs', FIXTURE, '--attribute-walk', d]);
      const ref = udevadm(['info', '--attribute-walk', d], { sysfs: FIXTURE });
      expect(ref.status).toBe(0);
      expect(ours.stdout).toBe(ref.stdout);
    });
  }
  it('an unreadable attribute shows as (not readable)', () => {
    const sys = fixtureCopy();
    chmodSync(join(sys, 'devices/pci0000:00/0000:00:03.0/net/eth0/address'), 0o200);
    const ours = devctl(['info', '--sysfs', sys, '-a', '/sys/class/net/eth0']);
    const ref = udevadm(['info', '-a', '/sys/class/net/eth0'], { sysfs: sys });
    expect(ours.stdout).toContain('ATTR{address}=="(not readable)"');
    expect(ours.stdout).toBe(ref.stdout);
  });
  for (const d of ['/sys/class/mem/null', '/sys/class/mem/zero', '/dev/null']) {
    it(`live ${d}`, () => {
      const ours = devctl(['info', '-a', d]);
      const ref = udevadm(['info', '-a', d]);
      expect(ours.stdout).toBe(ref.stdout);
      expect(ours.stdout).toContain('KERNEL==');
    });
  }
});
