// Which naming scheme is in force: NET_NAMING_SCHEME (":" prefix yields to the kernel command line),
// net.naming_scheme= on the kernel command line, devMaster's naming_scheme key, else v257 — each combination
// against udevadm 257 (SYSTEMD_PROC_CMDLINE stands in for its kernel command line; devMaster reads a file).
import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { referenceUdev257 } from '../helpers/reference.js';
import { resolveNamingScheme } from '../../src/net/naming-scheme.js';
import { cmdlineValue } from '../../src/util/cmdline.js';
import { namingScheme } from '../../src/builtins/net_id.js';
import { testConditions, versionCompare, type SystemInfo } from '../../src/net/condition.js';

const dir = mkdtempSync(join(tmpdir(), 'dm-scheme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function udevadmScheme(env: string | undefined, cmdline: string): string | undefined {
  const e: NodeJS.ProcessEnv = { ...process.env, SYSTEMD_LOG_LEVEL: 'err', SYSTEMD_PROC_CMDLINE: cmdline };
  delete e.NET_NAMING_SCHEME;
  if (env !== undefined) e.NET_NAMING_SCHEME = env;
  const out = execFileSync(referenceUdev257().udevadm, ['test-builtin', 'net_id', '/sys/class/net/eth0'], { encoding: 'utf8', env: e });
  return /^ID_NET_NAMING_SCHEME=(.*)$/m.exec(out)?.[1];
}

describe('naming scheme selection', () => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'quiet'],
    [undefined, 'quiet net.naming_scheme=v250'],
    [undefined, 'net.naming_scheme=v999'],
    [undefined, 'net.naming_scheme=latest'],
    ['v241', 'net.naming_scheme=v250'],
    [':v241', 'net.naming_scheme=v250'],
    [':v241', 'quiet'],
    ['bogus', 'quiet'],
    [undefined, 'net.naming-scheme=v245'],
    [undefined, 'net.naming_scheme=v238 net.naming_scheme=v247'],
  ];
  it.each(cases)('NET_NAMING_SCHEME=%s, command line "%s": as udevadm 257', (env, cmdline) => {
    const file = join(dir, 'cmdline');
    writeFileSync(file, cmdline + '\n');
    const saved = process.env.NET_NAMING_SCHEME;
    if (env === undefined) delete process.env.NET_NAMING_SCHEME;
    else process.env.NET_NAMING_SCHEME = env;
    try {
      expect(namingScheme({ cmdlinePath: file }).name).toBe(udevadmScheme(env, cmdline));
    } finally {
      if (saved === undefined) delete process.env.NET_NAMING_SCHEME;
      else process.env.NET_NAMING_SCHEME = saved;
    }
  });

  it('the config key stands where udev has its compiled-in default; an unknown name is reported', () => {
    expect(resolveNamingScheme({ cmdline: '', configured: 'v252' }).scheme.name).toBe('v252');
    expect(resolveNamingScheme({ cmdline: 'net.naming_scheme=v249', configured: 'v252' }).scheme.name).toBe('v249');
    const r = resolveNamingScheme({ cmdline: 'net.naming_scheme=v1', configured: 'v252' });
    expect([r.scheme.name, r.unknown, r.source]).toEqual(['v252', 'v1', 'config']);
    expect(cmdlineValue('a "net.ifnames=0" b', 'net.ifnames')).toBe('0');
  });
});

describe('[Match] system conditions', () => {
  const info: SystemInfo = {
    hostname: 'Build-Host7',
    machineId: '0123456789abcdef0123456789abcdef',
    cmdline: 'root=/dev/vda quiet net.ifnames=0 rw',
    kernelRelease: '6.18.0-1-amd64',
    architecture: 'x86-64',
    virtualization: 'docker',
    virtualizationKind: 'container',
    sysfs: dir,
    credentialDirs: [dir],
  };
  const t = (type: string, value: string) => testConditions([{ type: type as 'Host', value: value.replace(/^!/, ''), negate: value.startsWith('!') }], info);
  it('Host=, KernelCommandLine=, KernelVersion=, Virtualization=, Architecture=, Credential=', () => {
    writeFileSync(join(dir, 'mycred'), 'x');
    expect([t('Host', 'build-host*'), t('Host', '0123456789abcdef0123456789abcdef'), t('Host', '!other')]).toEqual([true, true, true]);
    expect([t('KernelCommandLine', 'quiet'), t('KernelCommandLine', 'net.ifnames'), t('KernelCommandLine', 'net.ifnames=1'), t('KernelCommandLine', 'root=/dev/vda')]).toEqual([true, true, false, true]);
    expect([t('KernelVersion', '>=6.1'), t('KernelVersion', '<6.18.1'), t('KernelVersion', '6.18*'), t('KernelVersion', '>= 7')]).toEqual([true, true, true, false]);
    expect([t('Virtualization', 'container'), t('Virtualization', 'vm'), t('Virtualization', 'yes'), t('Virtualization', 'docker'), t('Virtualization', '!kvm')]).toEqual([true, false, true, true, true]);
    expect([t('Architecture', 'x86-64'), t('Architecture', 'arm64'), t('Credential', 'mycred'), t('Credential', 'nope')]).toEqual([true, false, true, false]);
    expect(versionCompare('6.9', '6.10')).toBeLessThan(0);
  });
});
