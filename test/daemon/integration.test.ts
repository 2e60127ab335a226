// devMaster on the real kernel: real sysfs, real netlink, temp dev and run roots, the real rules engine.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, readFileSync, lstatSync, readlinkSync, existsSync, statSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { controlRequest } from '../../src/daemon/control.js';
import { splitDevT } from '../../src/sys/devnum.js';
import { UeventNetlink, GROUP_KERNEL } from '../../src/netlink/socket.js';
import { referenceUdev, debianPython } from '../helpers/reference.js';
import { startDevmasterNetns, type NsDaemon } from '../net/netns.js';
import { REPO_ROOT, tempRoots, startDevmaster, zramAdd, zramRemove, until, sleep, BroadcastListener, type TempRoots, type RunningDevmaster, stopAll } from './helpers.js';

const uid = (name: string) => Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
const gid = (name: string) => Number(execFileSync('getent', ['group', name], { encoding: 'utf8' }).split(':')[2]);

describe('devmaster daemon on the real kernel', () => {
  let r: TempRoots;
  let dm: RunningDevmaster;
  let listener: BroadcastListener;
  const zrams: number[] = [];

  beforeAll(async () => {
    r = tempRoots('dm-int-');
    writeFileSync(
      join(r.rules, '50-dmtest.rules'),
      [
        'SUBSYSTEM=="block", KERNEL=="zram*", ACTION=="add|change", SYMLINK+="dmtest/%k-link", MODE="0640", OWNER="daemon", GROUP="disk", TAG+="dmtag", ENV{DM_TEST}="zram-%k"',
        '',
      ].join('\n'),
    );
    listener = await BroadcastListener.open();
    dm = await startDevmaster(r);
  });

  afterAll(async () => {
    expect(await stopAll(zrams, dm, listener, r)).toBe(0);
  });

  it('logs one ready line with the start-up time', async () => {
    // the control socket answers once the daemon is ready; the log line may reach the pipe a moment later
    await until(() => /devmaster ready in \d+ ms \(listening\)/.test(dm.log()), 5000, 'the ready line');
    expect(dm.log().match(/devmaster ready in/g)).toHaveLength(1);
  });

  it('zram hot_add: node with owner/mode, symlink, /dev/block link, database and tags; hot_remove cleans up', async () => {
    listener.clear();
    const n = zramAdd();
    zrams.push(n);
    const name = `zram${n}`;
    await listener.waitFor((b) => b.properties.get('DEVNAME') === `/dev/${name}` && b.properties.get('ACTION') === 'add', 15_000, `${name} add broadcast`);
    await dm.settle();
    const node = join(r.dev, name);
    const st = statSync(node);
    expect(st.isBlockDevice()).toBe(true);
    const [maj, min] = readFileSync(`/sys/block/${name}/dev`, 'utf8').trim().split(':').map(Number);
    expect(splitDevT(st.rdev)).toEqual({ major: maj, minor: min });
    expect(st.mode & 0o7777).toBe(0o640);
    expect(st.uid).toBe(uid('daemon'));
    expect(st.gid).toBe(gid('disk'));
    expect(readlinkSync(join(r.dev, 'dmtest', `${name}-link`))).toBe(`../${name}`);
    expect(readlinkSync(join(r.dev, 'block', `${maj}:${min}`))).toBe(`../${name}`);
    const id = `b${maj}:${min}`;
    const db = readFileSync(join(r.run, 'data', id), 'utf8');
    expect(db).toContain(`S:dmtest/${name}-link\n`);
    expect(db).toContain(`E:DM_TEST=zram-${name}\n`);
    expect(db).toContain('G:dmtag\n');
    expect(db).toContain('Q:dmtag\n');
    expect(db).toMatch(/^I:\d+$/m);
    expect(existsSync(join(r.run, 'tags', 'dmtag', id))).toBe(true);

    listener.clear();
    zramRemove(n);
    await listener.waitFor((b) => b.properties.get('DEVNAME') === `/dev/${name}` && b.properties.get('ACTION') === 'remove', 15_000, `${name} remove broadcast`);
    await dm.settle();
    expect(existsSync(node)).toBe(false);
    expect(() => lstatSync(join(r.dev, 'dmtest', `${name}-link`))).toThrow();
    expect(() => lstatSync(join(r.dev, 'block', `${maj}:${min}`))).toThrow();
    expect(existsSync(join(r.run, 'data', id))).toBe(false);
    expect(existsSync(join(r.run, 'tags', 'dmtag', id))).toBe(false);
  });

  it('two devices claiming one symlink: the higher link_priority wins, the link is handed over on removal', async () => {
    const a = zramAdd();
    zrams.push(a);
    const b = zramAdd();
    zrams.push(b);
    await dm.settle();
    const file = join(r.rules, '60-shared.rules');
    writeFileSync(
      file,
      [
        `KERNEL=="zram${a}", SYMLINK+="dmshared", OPTIONS+="link_priority=10"`,
        `KERNEL=="zram${b}", SYMLINK+="dmshared", OPTIONS+="link_priority=5"`,
        '',
      ].join('\n'),
    );
    await controlRequest(r.run, { command: 'reload' });
    // the lower priority claims last: priority, not order, decides
    writeFileSync(`/sys/block/zram${a}/uevent`, 'change');
    await dm.settle();
    writeFileSync(`/sys/block/zram${b}/uevent`, 'change');
    await dm.settle();
    const link = join(r.dev, 'dmshared');
    expect(readlinkSync(link)).toBe(`zram${a}`);
    zramRemove(a);
    await until(() => !existsSync(`/sys/block/zram${a}`), 5000);
    await dm.settle();
    expect(readlinkSync(link)).toBe(`zram${b}`);
    zramRemove(b);
    await until(() => !existsSync(`/sys/block/zram${b}`), 5000);
    await dm.settle();
    expect(() => lstatSync(link)).toThrow();
    unlinkSync(file);
    await controlRequest(r.run, { command: 'reload' });
  });

  it('udevadm monitor --udev --property (Debian) prints the processed event with its properties', async () => {
    const ref = referenceUdev();
    const mon = spawn(ref.udevadm, ['monitor', '--udev', '--property', '--subsystem-match=block'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    mon.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    try {
      await until(() => out.includes('UDEV - the event which udev sends out after rule processing'), 10_000, 'udevadm monitor header');
      await sleep(200);
      const n = zramAdd();
      zrams.push(n);
      await until(() => out.includes(`DM_TEST=zram-zram${n}`), 15_000, `udevadm monitor output for zram${n}`);
      const block = out.slice(out.lastIndexOf('UDEV  [', out.indexOf(`DM_TEST=zram-zram${n}`)));
      expect(block).toMatch(new RegExp(`^UDEV  \\[\\d+\\.\\d+\\] add +/devices/virtual/block/zram${n} \\(block\\)`));
      expect(block).toContain(`DEVNAME=/dev/zram${n}`);
      expect(block).toContain(`DEVLINKS=/dev/dmtest/zram${n}-link`);
      expect(block).toContain('TAGS=:dmtag:');
      expect(block).toMatch(/USEC_INITIALIZED=\d+/);
    } finally {
      mon.kill('SIGTERM');
    }
  });

  it("pyudev's netlink monitor (Debian python3-pyudev) receives the processed event with its properties", async () => {
    const py = debianPython();
    const script = [
      'import pyudev, sys',
      'ctx = pyudev.Context()',
      "mon = pyudev.Monitor.from_netlink(ctx, source='udev')",
      "mon.filter_by('block')",
      'mon.start()',
      "print('READY', flush=True)",
      'for dev in iter(lambda: mon.poll(20), None):',
      "    if dev.properties.get('DM_TEST'):",
      "        print(dev.action, dev.device_path, dev.properties.get('DM_TEST'), dev.properties.get('DEVLINKS'), flush=True)",
      '        break',
    ].join('\n');
    const p = spawn(py, ['-c', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    try {
      await until(() => out.includes('READY'), 10_000, `pyudev ready (${err})`);
      const n = zramAdd();
      zrams.push(n);
      await until(() => out.includes(`zram-zram${n}`), 15_000, `pyudev output for zram${n}: ${out} ${err}`);
      expect(out).toContain(`add /devices/virtual/block/zram${n} zram-zram${n} /dev/dmtest/zram${n}-link`);
    } finally {
      p.kill('SIGTERM');
    }
  });

  it('reload: an edited rule changes the next event; a broken edit is rejected and the old rule stays', async () => {
    const file = join(r.rules, '70-reload.rules');
    writeFileSync(file, 'SUBSYSTEM=="block", KERNEL=="zram*", ENV{DM_RELOAD}="one"\n');
    await controlRequest(r.run, { command: 'reload' });
    const n = zramAdd();
    zrams.push(n);
    await dm.settle();
    const id = readFileSync(`/sys/block/zram${n}/dev`, 'utf8').trim();
    const db = () => readFileSync(join(r.run, 'data', `b${id}`), 'utf8');
    expect(db()).toContain('E:DM_RELOAD=one\n');
    // edit: picked up by the watcher, no explicit reload
    const gen0 = ((await controlRequest(r.run, { command: 'status' })) as { rules: { generation: number } }).rules.generation;
    writeFileSync(file, 'SUBSYSTEM=="block", KERNEL=="zram*", ENV{DM_RELOAD}="two"\n');
    for (let i = 0; i < 100; i++) {
      const st = (await controlRequest(r.run, { command: 'status' })) as { rules: { generation: number } };
      if (st.rules.generation > gen0) break;
      await sleep(50);
    }
    writeFileSync(`/sys/block/zram${n}/uevent`, 'change');
    await dm.settle();
    expect(db()).toContain('E:DM_RELOAD=two\n');
    // broken edit: rejected whole, "two" stays in force, the error is visible through the control socket
    writeFileSync(file, 'SUBSYSTEM=="block", KERNEL=="zram*", ENV{DM_RELOAD}="three"\nKERNEL=="x", FOO{bar}="baz"\n');
    const res = await controlRequest(r.run, { command: 'reload' });
    expect((res.errors as string[]).some((e) => e.startsWith(`${file}:2:`))).toBe(true);
    writeFileSync(`/sys/block/zram${n}/uevent`, 'change');
    await dm.settle();
    expect(db()).toContain('E:DM_RELOAD=two\n');
    const st = (await controlRequest(r.run, { command: 'status' })) as { rules: { rejected: string[]; errors: string[] } };
    expect(st.rules.rejected).toContain(file);
    expect(st.rules.errors.some((e) => /^.*70-reload\.rules:2:\d+: /.test(e))).toBe(true);
    unlinkSync(file);
    await controlRequest(r.run, { command: 'reload' });
  });

  it('a forged uevent sent from user space to the kernel group is not processed', async () => {
    const forger = await UeventNetlink.open({ groups: [] });
    try {
      const before = ((await controlRequest(r.run, { command: 'status' })).netlink as { forged: number }).forged;
      await forger.send(Buffer.from('add@/devices/virtual/block/zram77\0ACTION=add\0DEVPATH=/devices/virtual/block/zram77\0SUBSYSTEM=block\0MAJOR=253\0MINOR=77\0DEVNAME=zram77\0SEQNUM=4000000000\0'), GROUP_KERNEL);
      let forged = before;
      for (let i = 0; i < 50 && forged === before; i++) {
        forged = ((await controlRequest(r.run, { command: 'status' })).netlink as { forged: number }).forged;
        await sleep(50);
      }
      expect(forged).toBe(before + 1);
      await dm.settle();
      expect(existsSync(join(r.dev, 'zram77'))).toBe(false);
      expect(existsSync(join(r.run, 'data', 'b253:77'))).toBe(false);
    } finally {
      forger.close();
    }
  });

  it('devctl control: ping, log level, children-max, stop/start exec queue; errors name the bad argument', async () => {
    const devctl = (...a: string[]) => {
      try {
        return { code: 0, out: execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/devctl.ts', ...a, '--run', r.run], { encoding: 'utf8', stdio: 'pipe', cwd: join(import.meta.dirname, '..', '..') }) };
      } catch (e) {
        const err = e as { status: number; stderr: string };
        return { code: err.status, out: err.stderr };
      }
    };
    expect(devctl('control', '--ping').code).toBe(0);
    expect(devctl('control', '-l', 'debug', '-m', '3').code).toBe(0);
    let st = (await controlRequest(r.run, { command: 'status' })) as { childrenMax: number; logLevel: string };
    expect(st).toMatchObject({ childrenMax: 3, logLevel: 'debug' });
    expect(devctl('control', '-l', 'info', '-m', '0').code).toBe(0);
    const bad = devctl('control', '-m', 'lots');
    expect(bad.code).toBe(1);
    expect(bad.out).toBe("Failed to parse maximum number of children 'lots': Invalid argument\n"); // udevadm 257's words
    const badLevel = devctl('control', '--log-level=loud');
    expect(badLevel.code).toBe(1);
    expect(badLevel.out).toBe("Failed to parse log level 'loud': Invalid argument\n");
    expect(devctl('control').code).toBe(1);
    expect(devctl('control', '-s').code).toBe(0);
    st = (await controlRequest(r.run, { command: 'status' })) as never;
    expect((st as unknown as { execQueue: string }).execQueue).toBe('stopped');
    expect(devctl('control', '-S').code).toBe(0);
    expect(devctl('settle', '-t', 'soon').out).toBe("Failed to parse timeout value 'soon': Invalid argument\n");
    expect(devctl('settle', '-E', join(r.base, 'config.toml'), '-t', '5').code).toBe(0);
  });
});

// Renaming interfaces happens only in a private network + mount namespace (test/net/netns.ts): the daemon, its
// interfaces and the listener of its broadcasts live there, nothing reaches this machine's own interfaces.
describe('interface renames (in a private network and mount namespace)', () => {
  let d: NsDaemon;
  let rules: TempRoots;
  let monitor: ChildProcess;
  let seen = '';
  // libudev broadcasts (group 2) in the namespace, one JSON object of properties a line
  const MONITOR = `
import json, socket, struct, sys
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15)
s.bind((0, 2))
print('ready', flush=True)
while True:
    b = s.recv(16384)
    if b[:8] != b'libudev\\0': continue
    off = struct.unpack_from('<I', b, 16)[0]
    props = dict(p.split('=', 1) for p in b[off:].decode('utf8', 'replace').split('\\0') if '=' in p)
    print(json.dumps(props), flush=True)
`;
  const broadcasts = () => seen.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, string>);

  beforeAll(async () => {
    rules = tempRoots('dm-int-net-');
    writeFileSync(
      join(rules.rules, '50-dmtest.rules'),
      ['SUBSYSTEM=="net", ACTION=="add", KERNEL=="dmifb*", NAME="dmren%n"', 'SUBSYSTEM=="net", ACTION=="add", KERNEL=="dmlong*", NAME="dmthisnameistoolong"', 'SUBSYSTEM=="net", ACTION=="add", KERNEL=="dmtaken*", NAME="lo"', ''].join('\n'),
    );
    d = await startDevmasterNetns({ rules: rules.rules });
    monitor = spawn('nsenter', ['-t', String(d.pid), '-n', '/usr/bin/python3', '-c', MONITOR], { stdio: ['ignore', 'pipe', 'inherit'] });
    monitor.stdout!.on('data', (c: Buffer) => (seen += c.toString()));
    await until(() => seen.includes('ready'), 10_000, 'the broadcast monitor');
  }, 60_000);

  afterAll(async () => {
    monitor?.kill('SIGKILL');
    await d?.stop();
    rules?.cleanup();
  });

  it('renames an ifb interface with NAME= (ip link shows it), then it is deleted', async () => {
    const name = 'dmifb7';
    const newName = 'dmren7';
    d.exec(['ip', 'link', 'add', name, 'type', 'ifb'], false);
    await until(() => broadcasts().some((e) => e.INTERFACE_OLD === name && e.ACTION === 'add'), 15_000, 'ifb add broadcast');
    const b = broadcasts().find((e) => e.INTERFACE_OLD === name && e.ACTION === 'add')!;
    const ifindex = Number(b.IFINDEX);
    expect(b.INTERFACE).toBe(newName);
    expect(b.DEVPATH).toBe(`/devices/virtual/net/${newName}`);
    const settled = (await controlRequest(d.run, { command: 'settle', timeout: 10_000 })) as { settled: boolean };
    expect(settled.settled).toBe(true);
    expect(d.links().get(newName)?.ifindex).toBe(ifindex);
    expect(d.links().has(name)).toBe(false);
    expect(d.exec(['ls', '/sys/class/net'])).not.toMatch(new RegExp(`^${name}$`, 'm'));
    expect(existsSync(join(d.run, 'data', `n${ifindex}`))).toBe(true);
    d.exec(['ip', 'link', 'del', newName], false);
    await until(() => !existsSync(join(d.run, 'data', `n${ifindex}`)), 10_000, 'database removal');
    expect(d.links().has(newName)).toBe(false);
  });

  it('NAME= with an invalid or taken name leaves the interface alone and logs a clear error', async () => {
    const long = 'dmlong7';
    const taken = 'dmtaken7';
    d.exec(['ip', 'link', 'add', long, 'type', 'ifb'], false);
    d.exec(['ip', 'link', 'add', taken, 'type', 'ifb'], false);
    await until(() => d.ns.output().includes(`cannot rename ${long} to 'dmthisnameistoolong': 'dmthisnameistoolong' is longer than 15 bytes`), 15_000, `rename error for ${long} in the log`);
    await until(() => d.ns.output().includes(`cannot rename ${taken} to lo: the name is taken by another interface`), 15_000, `rename error for ${taken} in the log`);
    expect(d.links().has(long)).toBe(true);
    expect(d.links().has(taken)).toBe(true);
    d.exec(['ip', 'link', 'del', long], false);
    d.exec(['ip', 'link', 'del', taken], false);
  });
});

describe('devmaster start-up and exit', () => {
  it('refuses a second daemon on the same run root; exits 0 on "control --exit" and removes its socket', async () => {
    const r = tempRoots('dm-int2-');
    try {
      const dm = await startDevmaster(r);
      const second = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/devmaster.ts', '--dev', r.dev, '--run', r.run, '--rules-dir', r.rules, '--config', join(r.base, 'config.toml')], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
      });
      expect(second.status).toBe(1);
      expect(second.stderr).toMatch(/another daemon is listening on .*\/devmaster\.control/);
      expect(await controlRequest(r.run, { command: 'exit' }, 5000)).toEqual({ exiting: true });
      const code = await dm.stop();
      expect(code).toBe(0);
      expect(readdirSync(r.run)).not.toContain('devmaster.control');
      expect(readdirSync(r.run)).not.toContain('control');
    } finally {
      r.cleanup();
    }
  });

  it('--help and --version; a bad flag is named', () => {
    const run = (...a: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/devmaster.ts', ...a], { cwd: REPO_ROOT, encoding: 'utf8' });
    const h = run('--help');
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/--(\[no-\])?coldplug/);
    expect(h.stdout).toMatch(/--(\[no-\])?mknod/);
    const v = run('--version');
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const bad = run('--frobnicate');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("'--frobnicate'");
    const badVal = run('--max-workers', 'many', '--run', '/nonexistent-dm-run');
    expect(badVal.status).toBe(1);
    expect(badVal.stderr).toContain('--max-workers');
  });
});
