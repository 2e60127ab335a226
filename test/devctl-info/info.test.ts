import { describe, it, expect, afterAll, beforeAll, onTestFinished } from 'vitest';
import { chmodSync, lstatSync, readdirSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev } from '../helpers/reference.js';
import { scratchDir } from '../helpers/scratch.js';
import { FIXTURE, devctl, udevadm, fixtureCopy, stableCompare } from '../enumerate/helpers.js';
import { writeFixtureDb, normalize, ENTRIES } from './dbfixture.js';
import { udevadm257 as udevadm257Raw } from '../helpers/udevadm257.js';

// udevadm 257 is the target; 252 (enumerate/helpers' udevadm) is still compared where the two agree. They differ
// in the record (257 adds J:, the device id, and B:, a driver's bus: -q all, -e, --tree), in --attribute-walk
// (257 ends without a blank line), in --json (252 has none) and in some messages.
/** normalize() for JSON records: the links and tags come from hash sets in udev. */
function normalizeJson(text: string): string {
  return normalize(text.replace(/"(DEVLINKS|TAGS|CURRENT_TAGS)" ?: ?"([^"]*)"/g, (_, k: string, v: string) => {
    const sep = k === 'DEVLINKS' ? ' ' : ':';
    const parts = v.split(sep).filter((x) => x !== '').sort().join(sep);
    return `"${k}":"${k === 'DEVLINKS' ? parts : `:${parts}:`}"`;
  }));
}

function udevadm257(args: string[], env: { sysfs?: string; run?: string } = {}) {
  const r = udevadm257Raw(args, { ...env, env: { SYSTEMD_DEVICE_VERIFY_SYSFS: '0' } });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status ?? -1 };
}

let run: string;
/** The fixture database in a run directory of its own, removed when the test that made it ends. */
function fixtureDb(): string {
  const d = writeFixtureDb();
  onTestFinished(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
beforeAll(() => {
  referenceUdev();
  run = writeFixtureDb();
});
afterAll(() => {
  rmSync(run, { recursive: true, force: true });
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
        const norm = (t: string) => (q[0] === '--query=symlink' ? t.trim().split(' ').sort().join(' ') : normalize(t));
        // 257 always; 252 too except for -q all, where 257 added the J: (and B:) lines
        for (const ref of [udevadm257(['info', ...q, d], { sysfs: FIXTURE, run }), ...(q[0] === '--query=all' ? [] : [udevadm(['info', ...q, d], { sysfs: FIXTURE, run })])]) {
          expect(ref.status).toBe(0);
          expect(ours.status).toBe(0);
          expect(norm(ours.stdout)).toBe(norm(ref.stdout));
        }
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
  it('--export-db prints the same records (257: with J: lines)', () => {
    const ours = devctl(['info', '--sysfs', FIXTURE, '--run', run, '--export-db']);
    const ref = udevadm257(['info', '--export-db'], { sysfs: FIXTURE, run });
    expect(ours.status).toBe(0);
    expect(normalize(ours.stdout)).toBe(normalize(ref.stdout));
    for (const e of ENTRIES) for (const [k, v] of e.properties) if (!k.startsWith('.')) expect(ours.stdout).toContain(`E: ${k}=${v}`);
  });
  it('--export-db on the live system (no database; 257: with J: lines)', () => {
    const empty = scratchDir('devmaster-info-run-');
    const r = stableCompare(
      () => devctl(['info', '--run', empty, '--export-db']).stdout,
      () => udevadm257(['info', '--export-db'], { run: empty }).stdout,
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
  it('--json prints the record as udevadm 257 does (short, pretty, per device, and for --export-db)', () => {
    for (const args of [['--json=short', '/sys/class/block/sda1'], ['--json=pretty', '/sys/class/net/eth0', '/sys/bus/pci/drivers/e1000'], ['--json=short', '-e'], ['--json=off', '/sys/class/net/eth0'], ['--json=help']]) {
      const ours = devctl(['info', '--sysfs', FIXTURE, '--run', run, ...args]);
      const ref = udevadm257(['info', ...args], { sysfs: FIXTURE, run });
      expect(ours.status, args.join(' ')).toBe(ref.status);
      expect(normalizeJson(ours.stdout), args.join(' ')).toBe(normalizeJson(ref.stdout));
    }
    const o = JSON.parse(devctl(['info', '--sysfs', FIXTURE, '--run', run, '--json=short', '/sys/class/block/sda1']).stdout);
    expect(o.DEVICE_ID).toBe('b8:1');
    expect(o.ID_FS_LABEL).toBe('STICK X');
  });
  it('bad input: unknown device, outside sysfs, bad query, bad options: as udevadm 257 says it', () => {
    for (const args of [['/sys/devices/nope'], ['/etc'], ['nope'], ['nope.device'], ['-q', 'everything', '/sys/class/net/eth0'], [], ['-a', '/sys/class/net/eth0', '/sys/class/net/eth0'], ['-x', '--value', '/sys/class/net/eth0'], ['--json=bogus', '/sys/class/net/eth0'], ['-d', '/nonexistent'], ['-d', '/tmp', 'x'], ['--wait-for-initialization=x', '/sys/class/net/eth0'], ['--attr-match=size', '-e'], ['--attr-match=a/b=1', '-e'], ['--property-match=ID', '-e'], ['--name-match=nope', '-e'], ['--parent-match=/sys/nope', '-e'], ['-q', 'name', '/sys/class/net/eth0'], ['--bogus'], ['-c', '-q', 'bogus']]) {
      const ours = devctl(['info', '--sysfs', FIXTURE, '--run', join(tmpdir(), 'nonexistent-run'), ...args]);
      const ref = udevadm257(['info', ...args], { sysfs: FIXTURE, run: scratchDir('devmaster-info-run-') });
      expect(ours.stderr, args.join(' ')).toBe(ref.stderr);
      expect(ours.stdout, args.join(' ')).toBe(ref.stdout);
      expect(ours.status, args.join(' ')).toBe(ref.status);
    }
  });
  it('a corrupt database file is read as far as it is valid', () => {
    const bad = scratchDir('devmaster-info-bad-');
    mkdirSync(join(bad, 'data'));
    writeFileSync(join(bad, 'data', 'n2'), 'garbage\nE:OK=1\nX\n\u0000\u0001:zz\nE:=novalue\nI:notanumber\n');
    const d = devctl(['info', '--sysfs', FIXTURE, '--run', bad, '-q', 'property', '/sys/class/net/eth0']);
    expect(d.status).toBe(0);
    expect(d.stdout).toContain('OK=1\n');
  });
  it('--cleanup-db leaves the run directory as udevadm --cleanup-db leaves it', () => {
    // a run directory with everything cleanup_db looks at, and more depth than it goes
    const make = () => {
      const r = fixtureDb();
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
    const r = fixtureDb();
    chmodSync(join(r, 'data', 'n2'), 0o1644);
    expect(devctl(['info', '--run', r, '--cleanup-db']).status).toBe(0);
    const ours = devctl(['info', '--sysfs', FIXTURE, '--run', r, '-q', 'property', '/sys/class/net/eth0']).stdout;
    expect(ours).toContain('ID_NET_DRIVER=e1000');
    const sda = devctl(['info', '--sysfs', FIXTURE, '--run', r, '-q', 'property', '/sys/class/block/sda1']).stdout;
    expect(sda).not.toContain('ID_FS_TYPE');
  });
});

// --tree: compared with 257, whose records have J: and B: lines
describe('devctl info --tree vs udevadm info --tree', () => {
  it('the whole fixture tree, with its records, and the count line', () => {
    const ours = devctl(['info', '--sysfs', FIXTURE, '--run', run, '--tree']);
    const ref = udevadm257(['info', '--tree'], { sysfs: FIXTURE, run });
    expect(ours.status).toBe(0);
    expect(normalize(ours.stdout)).toBe(normalize(ref.stdout));
    expect(ours.stdout).toMatch(/\n\d+ items shown\.\n$/);
  });
  // a device: its ancestors, itself and everything below it
  for (const d of ['/sys/bus/pci/devices/0000:00:14.0', '/sys/class/block/sda1', '/sys/class/net/eth0', '/sys/bus/usb/devices/1-1', '/sys/class/input/event0', '/sys/class/tty/ttyS0']) {
    it(`around ${d}`, () => {
      const ours = devctl(['info', '--sysfs', FIXTURE, '--run', run, '--tree', d]);
      const ref = udevadm257(['info', '--tree', d], { sysfs: FIXTURE, run });
      expect(normalize(ours.stdout)).toBe(normalize(ref.stdout));
    });
  }
  it('the live system (no database), whole and around two devices', () => {
    const empty = scratchDir('devmaster-info-run-');
    for (const d of [[], ['/sys/class/net/lo'], ['/sys/class/mem/null']]) {
      const r = stableCompare(
        () => devctl(['info', '--run', empty, '--tree', ...d]).stdout,
        () => udevadm257(['info', '--tree', ...d], { run: empty }).stdout,
      );
      if (d.length === 0) expect(r.ours.split('\n').length).toBeGreaterThan(1000);
      expect(r.ours).toBe(r.ref);
    }
  });
});

// --attribute-walk: compared with 257, which no longer ends with a blank line (252 does; otherwise they agree)
describe('devctl info --attribute-walk vs udevadm info --attribute-walk', () => {
  for (const d of DEVICES.slice(0, 9)) {
    it(`fixture ${d}`, () => {
      const ours = devctl(['info', '--sysfs', FIXTURE, '--attribute-walk', d]);
      const ref = udevadm257(['info', '--attribute-walk', d], { sysfs: FIXTURE });
      expect(ref.status).toBe(0);
      expect(ours.stdout).toBe(ref.stdout);
      expect(ours.stdout + '\n').toBe(udevadm(['info', '--attribute-walk', d], { sysfs: FIXTURE }).stdout);
    });
  }
  it('--json: one JSON-SEQ object per device, short and pretty', () => {
    for (const mode of ['short', 'pretty']) {
      const ours = devctl(['info', '--sysfs', FIXTURE, '-a', `--json=${mode}`, '/sys/class/block/sda1']);
      const ref = udevadm257(['info', '-a', `--json=${mode}`, '/sys/class/block/sda1'], { sysfs: FIXTURE });
      expect(ref.stdout.split('\x1e').length).toBeGreaterThan(5);
      expect(ours.stdout).toBe(ref.stdout);
    }
  });
  it('an unreadable attribute shows as (not readable)', () => {
    const sys = fixtureCopy();
    chmodSync(join(sys, 'devices/pci0000:00/0000:00:03.0/net/eth0/address'), 0o200);
    const ours = devctl(['info', '--sysfs', sys, '-a', '/sys/class/net/eth0']);
    const ref = udevadm257(['info', '-a', '/sys/class/net/eth0'], { sysfs: sys });
    expect(ours.stdout).toContain('ATTR{address}=="(not readable)"');
    expect(ours.stdout).toBe(ref.stdout);
  });
  for (const d of ['/sys/class/mem/null', '/sys/class/mem/zero', '/dev/null']) {
    it(`live ${d}`, () => {
      const ours = devctl(['info', '-a', d]);
      const ref = udevadm257(['info', '-a', d]);
      expect(ours.stdout).toBe(ref.stdout);
      expect(ours.stdout).toContain('KERNEL==');
    });
  }
});
