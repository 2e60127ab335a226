import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, mkdirSync, writeFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devctl } from '../helpers/cli.js';
import { SUITE_DIR } from '../conformance/runner.js';

describe('devctl test', () => {
  let base: string;
  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'dm-devctl-test-'));
    execFileSync('tar', ['-xJf', join(SUITE_DIR, 'sys.tar.xz'), '-C', base]);
    for (const d of ['dev', 'run', 'rules']) mkdirSync(join(base, d));
    writeFileSync(
      join(base, 'rules', '10-test.rules'),
      [
        'SUBSYSTEMS=="scsi", ATTRS{vendor}=="ATA", SYMLINK+="disk/by-vendor/%s{vendor}-%k", TAG+="seen"',
        'KERNEL=="sda", GROUP="disk", MODE="0640", ENV{MY_PROP}="hello"',
        'KERNEL=="sda", RUN+="/bin/true %k", ATTR{queue/nr_requests}="4"',
        '',
      ].join('\n'),
    );
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const args = () => ['test', '--sysfs', join(base, 'sys'), '--dev', join(base, 'dev'), '--run', join(base, 'run'), '--rules-dir', join(base, 'rules')];

  it('prints what each rule line did and the result, with no side effects', () => {
    const r = devctl([...args(), '/sys/devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block/sda']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/10-test\.rules:1\s+SYMLINK\+="\/dev\/disk\/by-vendor\/ATA-sda"/);
    expect(r.stdout).toMatch(/10-test\.rules:2\s+ENV\{MY_PROP\}="hello"/);
    expect(r.stdout).toMatch(/MY_PROP=hello/);
    expect(r.stdout).toMatch(/Symlinks: \/dev\/disk\/by-vendor\/ATA-sda/);
    expect(r.stdout).toMatch(/Node:\s+owner 0, group \d+, mode 0640/);
    expect(r.stdout).toMatch(/Tags:\s+seen/);
    expect(r.stdout).toMatch(/\/bin\/true sda\s+\(.*10-test\.rules:3\)/);
    expect(r.stdout).toMatch(/queue\/nr_requests ← 4/);
    // nothing was written
    expect(readdirSync(join(base, 'dev'))).toEqual([]);
    expect(readdirSync(join(base, 'run'))).toEqual([]);
    expect(existsSync(join(base, 'sys/devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block/sda/queue/nr_requests'))).toBe(true);
  });

  it('gives JSON with --json, accepts SUBSYSTEM/SYSNAME and --action', () => {
    const r = devctl([...args(), '--json', '--action', 'change', 'block/sda']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { action: string; properties: Record<string, string>; symlinks: string[] };
    expect(j.action).toBe('change');
    expect(j.properties.ACTION).toBe('change');
    expect(j.symlinks).toEqual(['/dev/disk/by-vendor/ATA-sda']);
  });

  it('runs the builtins a rule calls (each loaded on its first run), as test-builtin does', () => {
    const rules = join(base, 'rules-builtin');
    mkdirSync(rules, { recursive: true });
    writeFileSync(join(rules, '10-builtin.rules'), 'KERNEL=="sda", IMPORT{builtin}="path_id"\nKERNEL=="sda", IMPORT{builtin}="nosuch"\n');
    const roots = ['--sysfs', join(base, 'sys'), '--dev', join(base, 'dev'), '--run', join(base, 'run')];
    const sda = '/sys/devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block/sda';
    const r = devctl(['test', ...roots, '--rules-dir', rules, '--json', sda]);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { properties: Record<string, string>; trace: { where: string; what: string }[] };
    const alone = devctl(['test-builtin', ...roots, 'path_id', sda]);
    expect(alone.status, alone.stderr).toBe(0);
    expect(alone.stdout).toMatch(/^ID_PATH=pci-0000:00:1f\.2-/m);
    expect(`ID_PATH=${j.properties.ID_PATH}`).toBe(alone.stdout.split('\n').find((l) => l.startsWith('ID_PATH=')));
    expect(j.trace.map((t) => t.what)).toContain(`IMPORT{builtin} "path_id" succeeded`);
  });

  it('looks OWNER and GROUP names up when their line runs: the ids as at load, and no user database where no such line runs', () => {
    const rules = join(base, 'rules-names');
    mkdirSync(rules, { recursive: true });
    writeFileSync(join(rules, '10-names.rules'), ['KERNEL=="sda", GROUP="disk"', 'KERNEL=="sda", OWNER="daemon"', 'KERNEL=="sda", OWNER="dm-no-such-user"', 'KERNEL=="sdb", GROUP="dm-no-such-group"', ''].join('\n'));
    // a devMaster's run directory: devctl test adds the file it compiled to the rules cache there
    const run = join(base, 'run-names');
    mkdirSync(join(run, 'devmaster'), { recursive: true });
    const roots = ['--sysfs', join(base, 'sys'), '--dev', join(base, 'dev'), '--run', run];
    const sda = '/sys/devices/pci0000:00/0000:00:1f.2/host0/target0:0:0/0:0:0:0/block/sda';
    const gid = Number(execFileSync('getent', ['group', 'disk'], { encoding: 'utf8' }).split(':')[2]);
    const uid = Number(execFileSync('id', ['-u', 'daemon'], { encoding: 'utf8' }));
    // says at exit whether the process loaded koffi (libc's getpwnam/getgrnam: the system's user database)
    const probe = join(base, 'exit-probe.cjs');
    writeFileSync(probe, "process.on('exit', () => { if (Object.keys(require.cache).some((k) => k.includes('koffi'))) process.stderr.write('koffi loaded\\n'); });\n");
    const test = (dev: string) => {
      const r = devctl(['test', ...roots, '--rules-dir', rules, '--json', dev], { env: { NODE_OPTIONS: `--require ${probe}` } });
      expect(r.status, r.stderr).toBe(0);
      return { ...(JSON.parse(r.stdout) as { rulesFromCache: number; owner?: number; group?: number; trace: { what: string }[] }), stderr: r.stderr };
    };
    for (const fromCache of [0, 1]) {
      const j = test(sda);
      expect(j.rulesFromCache).toBe(fromCache); // the second run takes the file from the cache, names and all
      // an unknown name leaves the id unset, as udev's load-time lookup does
      expect(j.trace.map((t) => t.what)).toEqual([`GROUP=${gid}`, `OWNER=${uid}`, 'OWNER=(unset)']);
      expect([j.owner, j.group]).toEqual([0, gid]);
      expect(j.stderr).toContain('koffi loaded');
    }
    const sda1 = test(`${sda}/sda1`);
    expect(sda1.trace).toEqual([]);
    expect(sda1.stderr).not.toContain('koffi loaded');
  });

  it('names a bad device or action', () => {
    expect(devctl([...args(), 'block/nosuch']).stderr).toMatch(/no device block\/nosuch/);
    const bad = devctl([...args(), '--action', 'explode', 'block/sda']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe("Invalid action 'explode'\n"); // udevadm 257's words
  });
});
