// The uaccess builtin on a real zram node, next to Debian's udevd doing the same: both run this machine's
// 73-seat-late.rules (Debian's systemd package) plus a rule tagging the test's zram disk "uaccess", each with
// its own sd-login state (<run>/../systemd/seats/seat0, written by the test as logind would) and its own node.
// After each change of the seat's active user the ACLs getfacl shows must be the same and the expected ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { controlRequest } from '../../src/daemon/control.js';
import { seatActiveUid, SeatError } from '../../src/builtins/uaccess.js';
import { REPO_ROOT, startDevmaster, tempRoots, zramAdd, zramRemove, type RunningDevmaster, type TempRoots } from '../daemon/helpers.js';
import { referenceUdev } from '../helpers/reference.js';
import { devtmpfsNodes, startUdevd, type NsProcess } from '../helpers/udevd.js';

/**
 * getfacl's named-user entries, and the mask while there are any (the part uaccess writes), e.g.
 * ["user:1000:rw-", "mask::rw-"]; [] when no user has an entry.
 */
function namedAcl(node: string): string[] {
  const lines = execFileSync('getfacl', ['-n', '-p', '-c', node], { encoding: 'utf8' }).split('\n');
  const users = lines.filter((l) => /^user:\d+:/.test(l));
  return users.length ? [...users, ...lines.filter((l) => l.startsWith('mask::'))] : [];
}

/** The whole ACL as getfacl prints it, without the header. */
const fullAcl = (node: string) => execFileSync('getfacl', ['-n', '-p', '-c', node], { encoding: 'utf8' }).trim();

describe('uaccess: the seat state as sd_seat_get_active reads it', () => {
  const r = tempRoots('dm-seat-');
  const roots = { sysfs: '/sys', dev: r.dev, run: join(r.base, 'run', 'udev') };
  const seats = join(r.base, 'run', 'systemd', 'seats');
  afterAll(() => r.cleanup());

  it('reads ACTIVE_UID=, and tells a missing seat from a seat without an active user', () => {
    mkdirSync(seats, { recursive: true });
    writeFileSync(join(seats, 'seat0'), '# This is private data. Do not parse.\nIS_SEAT0=1\nACTIVE=3\nACTIVE_UID=1000\nSESSIONS=3\n');
    expect(seatActiveUid(roots, 'seat0')).toBe(1000);
    writeFileSync(join(seats, 'seat0'), 'IS_SEAT0=1\nACTIVE="c2"\nACTIVE_UID="1001"\n');
    expect(seatActiveUid(roots, 'seat0')).toBe(1001);
    writeFileSync(join(seats, 'seat0'), 'IS_SEAT0=1\n');
    expect(() => seatActiveUid(roots, 'seat0')).toThrow(expect.objectContaining({ code: 'ENODATA' }));
    expect(() => seatActiveUid(roots, 'seat7')).toThrow(expect.objectContaining({ code: 'ENXIO' }));
    expect(() => seatActiveUid(roots, '../seat0')).toThrow(SeatError);
    writeFileSync(join(seats, 'seat0'), 'ACTIVE_UID=4294967295\n');
    expect(() => seatActiveUid(roots, 'seat0')).toThrow(/invalid ACTIVE_UID/);
  });
});

describe('uaccess on a zram node, devmaster and udevd side by side', () => {
  let base: TempRoots;
  // devmaster: run root <base>/dm/run/udev, so its login root is <base>/dm/run/systemd
  let dm: RunningDevmaster | undefined;
  let dmRoots: TempRoots;
  let udevd: NsProcess | undefined;
  const refRun = () => join(base.base, 'ref', 'run');
  const refDev = () => join(base.base, 'ref', 'dev');
  let n: number | undefined;
  let name = '';

  const seatDirs = () => [join(dmRoots.base, 'run', 'systemd', 'seats'), join(refRun(), 'systemd', 'seats')];
  /** What logind would have written, in both sd-login trees (undefined: no seats directory, logind not running). */
  const seat = (content: string | null | undefined) => {
    for (const d of seatDirs()) {
      rmSync(d, { recursive: true, force: true });
      if (content === undefined) continue;
      mkdirSync(d, { recursive: true });
      if (content !== null) writeFileSync(join(d, 'seat0'), content);
    }
  };
  /** A change event for the disk, processed by both daemons. */
  const change = async () => {
    writeFileSync(`/sys/block/${name}/uevent`, 'change');
    await dm!.settle();
    const s = spawnSync('nsenter', ['-t', String(udevd!.proc.pid), '-m', referenceUdev().udevadm, 'settle', '-t', '20'], { encoding: 'utf8' });
    expect(s.status, s.stderr).toBe(0);
  };
  const nodes = () => [join(dmRoots.dev, name), join(refDev(), name)];
  const both = () => nodes().map(namedAcl);

  beforeAll(async () => {
    base = tempRoots('dm-uaccess-');
    n = zramAdd();
    name = `zram${n}`;
    const rules = base.rules;
    copyFileSync('/usr/lib/udev/rules.d/73-seat-late.rules', join(rules, '73-seat-late.rules'));
    writeFileSync(join(rules, '50-uaccess-test.rules'), `SUBSYSTEM=="block", KERNEL=="${name}", TAG+="uaccess"\n`);
    // devmaster's roots: dev, run/udev (so that run/systemd is its login root), the shared rules
    const dmBase = join(base.base, 'dm');
    dmRoots = { base: dmBase, dev: join(dmBase, 'dev'), run: join(dmBase, 'run', 'udev'), rules, cleanup: () => undefined };
    for (const d of [dmRoots.dev, dmRoots.run, refDev(), join(refRun(), 'udev')]) mkdirSync(d, { recursive: true });
    seat('IS_SEAT0=1\nACTIVE=c1\nACTIVE_UID=1000\n');
    dm = await startDevmaster(dmRoots, ['--unit-backend', 'none']);
    // the reference's /dev: the disk's node as the kernel's devtmpfs makes it (0600 root:root, as devmaster's
    // own node starts), not a copy of this machine's /dev, whose node another daemon may have changed meanwhile
    devtmpfsNodes(refDev(), [`/sys/devices/virtual/block/${name}`]);
    udevd = await startUdevd({ rules, run: refRun(), dev: refDev(), copyNodes: false }, base.base);
  });

  afterAll(async () => {
    await dm?.stop();
    await udevd?.stop();
    if (n !== undefined) zramRemove(n);
    base?.cleanup();
  });

  it('gives the active user rw through an ACL', async () => {
    await change();
    const [mine, ref] = both();
    expect(mine).toEqual(['user:1000:rw-', 'mask::rw-']);
    expect(mine).toEqual(ref);
    expect(fullAcl(nodes()[0]!)).toContain('user:1000:rw-');
  });

  it('moves the ACL to the next active user (the previous one loses it)', async () => {
    seat('IS_SEAT0=1\nACTIVE=c2\nACTIVE_UID=1001\n');
    await change();
    const [mine, ref] = both();
    expect(mine).toEqual(['user:1001:rw-', 'mask::rw-']);
    expect(mine).toEqual(ref);
  });

  it('removes it when the seat has no active user, or no state file', async () => {
    seat('IS_SEAT0=1\n');
    await change();
    expect(both()).toEqual([[], []]);
    seat('IS_SEAT0=1\nACTIVE_UID=1002\n');
    await change();
    expect(both()[0]).toEqual(['user:1002:rw-', 'mask::rw-']);
    seat(null); // seats/ exists, seat0 does not
    await change();
    const [mine, ref] = both();
    expect(mine).toEqual([]);
    expect(mine).toEqual(ref);
  });

  it('leaves the node alone when logind is not running', async () => {
    for (const node of nodes()) execFileSync('setfacl', ['-m', 'u:1234:r', node]);
    seat(undefined);
    await change();
    const [mine, ref] = both();
    expect(mine).toEqual(['user:1234:r--', 'mask::r--']);
    expect(mine).toEqual(ref);
  });

  it('changes nothing under devctl test-builtin (test mode, as udevadm 257)', () => {
    seat('IS_SEAT0=1\nACTIVE_UID=1000\n');
    const out = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'devctl.ts'), 'test-builtin', 'uaccess', `/sys/block/${name}`, '--dev', dmRoots.dev, '--run', dmRoots.run], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    expect(namedAcl(nodes()[0]!)).toEqual(['user:1234:r--', 'mask::r--']);
  });

  it('is counted as run: no "unknown builtin" warning in the daemon log', async () => {
    expect(dm!.log()).not.toMatch(/uaccess.*(unknown|not implemented)|(unknown|not implemented).*uaccess/i);
    const st = (await controlRequest(dmRoots.run, { command: 'status' })) as { rules: { errors: string[] } };
    expect(st.rules.errors).toEqual([]);
    expect(readFileSync(join(dmRoots.run, 'data', `b${readFileSync(`/sys/block/${name}/dev`, 'utf8').trim()}`), 'utf8')).toContain('G:uaccess');
  });
});
