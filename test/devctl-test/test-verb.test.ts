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

  it('names a bad device or action', () => {
    expect(devctl([...args(), 'block/nosuch']).stderr).toMatch(/no device block\/nosuch/);
    const bad = devctl([...args(), '--action', 'explode', 'block/sda']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe("Invalid action 'explode'\n"); // udevadm 257's words
  });
});
