// devctl trigger on a writable copy of the fixture tree (writing a uevent file there is a plain file write):
// what gets written, --uuid, and --settle's timeout and success paths (a fake responder multicasts libudev
// messages carrying the SYNTH_UUIDs, as the daemon would).
import { describe, it, expect } from 'vitest';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { devctl, fixtureCopy } from '../enumerate/helpers.js';
import { REPO } from '../helpers/reference.js';
import { scratchDir } from '../helpers/scratch.js';
import { UeventNetlink, GROUP_UDEV } from '../../src/netlink/socket.js';
import { encode } from '../../src/netlink/libudev-format.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BLOCK = ['sda', 'sda/sda1', 'sda/sda2'].map((s) => `/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host0/target0:0:0/0:0:0:0/block/${s}`);

describe('devctl trigger writes uevent files', () => {
  it('writes the action, and with --uuid a UUID it prints', () => {
    const sys = fixtureCopy();
    const r = devctl(['trigger', '--sysfs', sys, '-s', 'block', '-c', 'add', '--uuid', '-v']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe(6);
    for (let i = 0; i < 3; i++) {
      expect(lines[2 * i]).toBe(sys + BLOCK[i]);
      expect(lines[2 * i + 1]).toMatch(UUID_RE);
      expect(readFileSync(join(sys + BLOCK[i]!, 'uevent'), 'utf8')).toBe(`add ${lines[2 * i + 1]}`);
    }
    // other devices untouched
    expect(readFileSync(join(sys, 'devices/pci0000:00/0000:00:03.0/net/eth0/uevent'), 'utf8')).toContain('INTERFACE=eth0');
  });
  it('--dry-run writes nothing; -c help lists the actions', () => {
    const sys = fixtureCopy();
    const before = readFileSync(join(sys + BLOCK[0]!, 'uevent'), 'utf8');
    expect(devctl(['trigger', '--sysfs', sys, '-n', '-s', 'block']).status).toBe(0);
    expect(readFileSync(join(sys + BLOCK[0]!, 'uevent'), 'utf8')).toBe(before);
    expect(devctl(['trigger', '-c', 'help']).stdout.split('\n')).toContain('bind');
  });
});

describe('devctl trigger --settle', () => {
  it('times out cleanly when nobody answers, naming the devices', () => {
    const sys = fixtureCopy();
    const t0 = Date.now();
    const r = devctl(['trigger', '--sysfs', sys, '--settle', '--timeout', '1', '-s', 'net']);
    expect(r.status).toBe(1);
    expect(Date.now() - t0).toBeLessThan(20_000);
    expect(r.stderr).toContain('timed out after 1 s');
    expect(r.stderr).toContain(`${sys}/devices/pci0000:00/0000:00:03.0/net/eth0`);
    expect(readFileSync(join(sys, 'devices/pci0000:00/0000:00:03.0/net/eth0/uevent'), 'utf8')).toMatch(/^change [0-9a-f-]{36}$/);
  });

  it('returns once every triggered event was broadcast with its SYNTH_UUID', async () => {
    const sys = fixtureCopy();
    const child = spawn(join(REPO, 'node_modules', '.bin', 'tsx'), [join(REPO, 'src/cli/devctl.ts'), 'trigger', '--sysfs', sys, '--settle', '--timeout', '30', '-v', '-s', 'block'], {
      env: { ...process.env, DEVMASTER_CONFIG: '/nonexistent/devmaster.toml' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
    const nl = await UeventNetlink.open();
    const start = Date.now();
    try {
      // wait until the three uevent files carry "change UUID"
      const uuids: string[] = [];
      while (uuids.length < 3 && Date.now() - start < 30_000) {
        uuids.length = 0;
        for (const p of BLOCK) {
          const m = /^change ([0-9a-f-]{36})$/.exec(readFileSync(join(sys + p, 'uevent'), 'utf8'));
          if (m) uuids.push(m[1]!);
        }
        if (uuids.length < 3) await new Promise((r) => setTimeout(r, 50));
      }
      expect(uuids.length).toBe(3);
      let seq = 900_000;
      const send = (devpath: string, uuid: string) =>
        nl.send(encode(new Map([['ACTION', 'change'], ['DEVPATH', devpath], ['SUBSYSTEM', 'block'], ['SYNTH_UUID', uuid], ['SEQNUM', String(++seq)]])), GROUP_UDEV);
      // answers that must not count: a wrong UUID, and another device
      await send(BLOCK[0]!, '00000000-0000-0000-0000-000000000000');
      await send('/devices/virtual/net/lo', uuids[0]!);
      await send(BLOCK[0]!, uuids[0]!);
      await send(BLOCK[1]!, uuids[1]!);
      await new Promise((r) => setTimeout(r, 300));
      expect(child.exitCode).toBeNull(); // still waiting for the third
      await send(BLOCK[2]!, uuids[2]!);
      const code = await Promise.race([exited, new Promise<number>((r) => setTimeout(() => r(-2), 20_000))]);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toContain(`settle ${sys}${BLOCK[2]}`);
    } finally {
      nl.close();
      if (child.exitCode === null) child.kill();
    }
  }, 60_000);
});

// udevadm 257's answers to trigger's arguments (--dry-run: nothing is written): a property match without a value,
// the last of --initialized-match/--initialized-nomatch winning, devices that cannot be opened, a bad
// --wait-daemon time and no daemon to ping, unknown actions and types
describe('devctl trigger arguments = udevadm trigger 257', () => {
  it('answers the same, with the same exit status', async () => {
    const { udevadm257 } = await import('../helpers/udevadm257.js');
    const run = scratchDir('dm-trigger-run-');
    for (const args of [
      ['-n', '-v', '-p', 'SUBSYSTEM', '-s', 'mem'],
      ['-n', '-v', '-p', 'SUBSYSTEM=m*=x', '-s', 'mem'],
      ['-n', '-v', '--initialized-match', '--initialized-nomatch', '-s', 'mem'],
      ['-n', '-v', '--initialized-nomatch', '--initialized-match', '-s', 'mem'],
      ['-n', '-b', '/sys/nonexistent'],
      ['-n', '--name-match=nonexistent'],
      ['-n', '/sys/nonexistent'],
      ['-n', 'nonexistent.device'],
      ['-n', '--wait-daemon=soon'],
      ['-n', '--wait-daemon'],
      ['-n', '-c', 'explode'],
      ['-n', '-t', 'everything'],
    ]) {
      const u = udevadm257(['trigger', ...args], { run });
      const d = devctl(['trigger', '--run', run, ...args]);
      expect(d.stderr, args.join(' ')).toBe(u.stderr);
      expect(d.stdout, args.join(' ')).toBe(u.stdout);
      expect(d.status, args.join(' ')).toBe(u.status);
    }
  });
});
